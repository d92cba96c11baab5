"""Rate limits and failed-authentication lockouts (issue 11, "Abuse controls").

The two findings of the attack corpus are the first two tests, as it ran them: 600 verifies in
a burst from one address, and 200 wrong API keys; before the limits, every one of them was
answered (200 and 401), with no 429, no lockout and nothing in the audit log.
"""

from __future__ import annotations

import logging
import os
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from gateway.core import Gateway
from gateway.models import AuditRow
from tests.conftest import Agency
from tests.gateway.helpers import auth, client_for, count_credentials
from tests.gateway.holders import fresh_body

REDIS_ENV = "ECERT_TEST_REDIS_URL"
CHINESE = ("\u4e00", "\u9fff")


def _has_chinese(text: str) -> bool:
    return any(CHINESE[0] <= ch <= CHINESE[1] for ch in text)


@contextmanager
def limited(gw: Gateway, **settings: Any) -> Iterator[TestClient]:
    """A client of ``gw``'s app built with ``settings`` (e.g. ``rate_limit_verify``) instead
    of the defaults."""
    original = gw.settings
    gw.settings = type(original).model_validate({**original.model_dump(), **settings})
    try:
        with client_for(gw) as client:
            yield client
    finally:
        gw.settings = original


def assert_429(answer: Any, *, federation: bool = False) -> int:
    """A 429 in the documented shape, zh-CN and English; its ``Retry-After``."""
    assert answer.status_code == 429, answer.text
    wait = int(answer.headers["Retry-After"])
    assert wait >= 1
    if federation:  # OpenID Federation 1.0 §8.9 form
        body = answer.json()
        assert body["error"] == "temporarily_unavailable"
        assert _has_chinese(body["error_description"])
        return wait
    detail = answer.json()["detail"]
    assert detail["code"] == "too_many_requests"
    assert _has_chinese(detail["message"])
    assert f"{wait}" in detail["message"]
    assert "limit is" in detail["message_en"]
    assert f"retry in {wait} s" in detail["message_en"]
    return wait


def audit_rows(gw: Gateway, action: str) -> list[AuditRow]:
    with gw.sessions() as session:
        return list(session.scalars(select(AuditRow).where(AuditRow.action == action)))


# --- the two findings ----------------------------------------------------------------------------


def test_600_verifies_in_a_burst_from_one_address_meet_429(gw: Gateway, amr: Agency) -> None:
    with client_for(gw) as client:
        issued = client.post("/api/v1/credentials", json=fresh_body(), headers=auth(amr.api_key))
        qr = issued.json()["qr_text"]
        start = time.monotonic()
        answers = [client.post("/api/v1/verify", json={"qr": qr}) for _ in range(600)]
        elapsed = time.monotonic() - start
    codes = [a.status_code for a in answers]
    assert set(codes) <= {200, 429}
    admitted = codes.count(200)
    # the default budget: 50 a second (sliding window) and 1,200 a minute per address
    assert 50 <= admitted <= 50 * (int(elapsed) + 2), (admitted, elapsed)
    assert codes[:50] == [200] * 50
    assert_429(answers[codes.index(429)])
    print(f"\n600 verifies in {elapsed:.2f} s: {admitted} admitted, {600 - admitted} got 429")


def test_200_wrong_api_keys_meet_a_lockout_and_one_audit_event(gw: Gateway, amr: Agency) -> None:
    key_id = amr.api_key.split("_")[1]
    with client_for(gw) as client:
        start = time.monotonic()
        answers = [
            client.post(
                "/api/v1/credentials",
                json=fresh_body(),
                headers=auth(f"ek_{key_id}_{secrets.token_urlsafe(32)}"),
            )
            for _ in range(200)
        ]
        elapsed = time.monotonic() - start
        codes = [a.status_code for a in answers]
        # 10 failures in 5 minutes lock the key id out
        assert codes == [401] * 10 + [429] * 190, codes
        wait = assert_429(answers[10])
        assert 1 <= wait <= 300
        assert "该密钥的身份验证失败过于频繁" in answers[10].json()["detail"]["message"]
        # even the right secret now waits: a lockout, not a guessing budget
        assert_429(
            client.post(
                "/api/v1/credentials",
                json=fresh_body(),
                headers=auth(amr.api_key),
            )
        )
    assert count_credentials(gw) == 0
    events = audit_rows(gw, "auth.failures")
    assert [(e.subject, e.detail["kind"], e.detail["key_id"]) for e in events] == [
        (f"apikey:{key_id}", "apikey", key_id)
    ]
    assert amr.api_key.split("_", 2)[2] not in str(events[0].detail)
    print(f"\n200 wrong API keys in {elapsed:.2f} s: 10 answered 401, 190 answered 429")


def test_made_up_keys_lock_out_their_address_with_one_audit_event(gw: Gateway, amr: Agency) -> None:
    with client_for(gw) as client:
        codes = [
            client.get(
                "/api/v1/credentials/none",
                headers=auth(f"ek_{secrets.token_hex(6)}_{secrets.token_urlsafe(32)}"),
            ).status_code
            for _ in range(40)
        ]
        assert codes == [401] * 30 + [429] * 10  # 30 failures in 5 minutes per address
        right = client.post("/api/v1/credentials", json=fresh_body(), headers=auth(amr.api_key))
        assert "来自该地址的身份验证失败过于频繁" in right.json()["detail"]["message"]
        assert_429(right)
    events = audit_rows(gw, "auth.failures")
    assert len(events) == 1
    assert events[0].subject.startswith("address:")
    assert "testclient" not in events[0].subject
    assert events[0].detail["key_id"] is None


def test_a_lockout_ends_when_its_window_has_passed(gw: Gateway, amr: Agency) -> None:
    key_id = amr.api_key.split("_")[1]
    with limited(gw, rate_limit_auth_failures="3/2seconds") as client:
        wrong = auth(f"ek_{key_id}_{'x' * 43}")
        assert [client.get("/api/v1/credentials/x", headers=wrong).status_code
                for _ in range(4)] == [401, 401, 401, 429]  # fmt: skip
        deadline = time.monotonic() + 10
        while True:  # the moving window: open again once the oldest failure is 2 s old
            answer = client.get("/api/v1/credentials/x", headers=auth(amr.api_key))
            if answer.status_code != 429:
                break
            assert time.monotonic() < deadline, answer.text
            time.sleep(min(0.2, int(answer.headers["Retry-After"])))
        assert answer.status_code == 404  # authenticated: the credential does not exist


# --- budgets per API key, address, counter and peer ----------------------------------------------


def test_issuance_is_limited_per_api_key_and_a_refused_request_writes_nothing(
    gw: Gateway, amr: Agency
) -> None:
    with limited(gw, rate_limit_issue="3/minute") as client:
        codes = [
            client.post(
                "/api/v1/credentials",
                json=fresh_body(),
                headers=auth(amr.api_key),
            )
            for _ in range(4)
        ]
        assert [c.status_code for c in codes[:3]] == [201, 201, 201]
        assert_429(codes[3])
        assert "签发" in codes[3].json()["detail"]["message"]
        # reading is another budget of the same key
        cid = codes[0].json()["id"]
        assert client.get(f"/api/v1/credentials/{cid}", headers=auth(amr.api_key)).is_success
    assert count_credentials(gw) == 3


def test_every_agency_call_spends_the_keys_budget(gw: Gateway, amr: Agency) -> None:
    with limited(gw, rate_limit_api_key="2/minute") as client:
        codes = [
            client.get("/api/v1/credentials/none", headers=auth(amr.api_key)) for _ in range(3)
        ]
    assert [c.status_code for c in codes[:2]] == [404, 404]
    assert_429(codes[2])


def test_issuance_is_limited_per_address(gw: Gateway, amr: Agency) -> None:
    with limited(gw, rate_limit_issue_address="2/minute") as client:
        codes = [
            client.post(
                "/api/v1/credentials",
                json=fresh_body(),
                headers=auth(amr.api_key),
            )
            for _ in range(3)
        ]
    assert [c.status_code for c in codes[:2]] == [201, 201]
    assert_429(codes[2])
    assert count_credentials(gw) == 2


@pytest.mark.parametrize("path", ["/api/v1/verify/image", "/wallet/api/qr/image"])
def test_image_uploads_are_limited_per_address_before_the_image_is_read(
    gw: Gateway, path: str
) -> None:
    with limited(gw, rate_limit_image="2/minute") as client:
        answers = [
            client.post(path, files={"file": ("a.png", b"not an image", "image/png")})
            for _ in range(3)
        ]
    assert [a.status_code for a in answers[:2]] == [400, 400]  # read: not an image
    assert_429(answers[2])


def test_wrong_counter_keys_lock_out_the_counter_and_its_calls_are_limited(
    tmp_path: Any, clock: Any
) -> None:
    from tests.gateway.trustmark_helpers import hotel_desk

    with hotel_desk(
        tmp_path, clock, rate_limit_verifier="4/minute", rate_limit_auth_failures="3/minute"
    ) as desk:
        wrong = desk.key[: -len(desk.key.split("_", 2)[2])] + "x" * 43
        codes = [
            desk.city.get("/api/v1/counter", headers=auth(wrong)).status_code for _ in range(4)
        ]
        assert codes == [401, 401, 401, 429]
        assert_429(desk.city.get("/api/v1/counter", headers=auth(desk.key)))
        events = audit_rows(desk.fed.gateways["http://127.0.0.1:9101"], "auth.failures")
        assert [e.subject for e in events] == [f"counter:{desk.id}"]

    with hotel_desk(tmp_path / "again", clock, rate_limit_verifier="4/minute") as desk:
        answers = [desk.city.get("/api/v1/counter", headers=auth(desk.key)) for _ in range(5)]
        assert [a.status_code for a in answers[:4]] == [200] * 4
        assert "该核验点" in answers[4].json()["detail"]["message"]
        assert_429(answers[4])


@pytest.mark.parametrize("path", ["/federation/use_report", "/federation/reference_resolve"])
def test_federation_posts_are_limited_per_peer_in_the_federation_error_form(
    gw: Gateway, path: str
) -> None:
    import orjson

    from trust.encoding import b64url_encode

    def claims(iss: str) -> str:
        return f"e30.{b64url_encode(orjson.dumps({'iss': iss}))}.c2ln"

    media = "application/" + path.rsplit("/", 1)[1]
    with limited(gw, rate_limit_peer="2/minute") as client:

        def post(iss: str) -> Any:
            return client.post(path, content=claims(iss), headers={"Content-Type": media})

        answers = [post("https://suzhou.example") for _ in range(3)]
        assert [a.status_code for a in answers[:2]] != [429, 429]
        assert_429(answers[2], federation=True)
        assert answers[2].headers["Access-Control-Allow-Origin"] == "*"
        assert post("https://nanjing.example").status_code != 429  # another peer's budget


def test_the_per_address_federation_budget_answers_in_the_federation_form(gw: Gateway) -> None:
    with limited(gw, rate_limit_peer_address="1/minute") as client:
        first = client.post("/federation/use_report", content="x")
        second = client.post("/federation/use_report", content="x")
    assert first.status_code != 429
    assert_429(second, federation=True)


def test_join_requests_and_cosignatures_are_limited_per_address_before_any_fetch(
    gw: Gateway,
) -> None:
    """Each join request may make the anchor fetch the requester's entity configuration, and
    each cosignature the witness's trust chain: an address's budget runs out first."""
    with limited(gw, rate_limit_peer_address="1/minute") as client:
        join = [client.post("/federation/join", content="x") for _ in range(2)]
    with limited(gw, rate_limit_peer_address="1/minute") as client:
        headers = {"Content-Type": "application/jwt"}
        cosign = [client.post("/audit/cosignature", content="x", headers=headers) for _ in "ab"]
    assert join[0].status_code != 429
    assert_429(join[1], federation=True)
    assert cosign[0].status_code != 429
    assert_429(cosign[1], federation=False)


# --- storage: in process, Redis, and Redis gone -------------------------------------------------


def test_healthz_says_where_the_budgets_are_kept(gw: Gateway) -> None:
    with client_for(gw) as client:
        shown = client.get("/healthz").json()["rate_limits"]
    assert shown == {"enabled": True, "storage": "memory", "shared": False}


def test_redis_down_falls_back_to_limits_in_this_process_within_bounded_time(
    gw: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    from tests.cli.helpers import free_port

    dead = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    caplog.set_level(logging.WARNING, logger="ecert.ratelimit")
    with limited(gw, redis_url=dead, rate_limit_verify="3/minute") as client:
        start = time.monotonic()
        before = client.get("/healthz").json()["rate_limits"]  # asks Redis: it is down
        assert before["redis"] == "unavailable"
        assert before["redis_last_error"] == "PING failed"
        codes = [client.post("/api/v1/verify", json={"qr": "x"}).status_code for _ in range(4)]
        elapsed = time.monotonic() - start
        health = client.get("/healthz").json()["rate_limits"]
    assert codes == [200, 200, 200, 429]  # still limited: neither open nor closed
    assert elapsed < 2.0
    assert health["storage"] == "memory"
    assert health["redis"] == "unavailable"
    assert health["redis_failures"] >= 1
    assert health["redis_last_error"]
    assert any("限流存储 Redis 不可用" in r.getMessage() for r in caplog.records)


@pytest.fixture
def redis_url() -> str:
    url = os.environ.get(REDIS_ENV)
    if not url:
        pytest.skip(f"Redis tests need {REDIS_ENV}, e.g. {REDIS_ENV}=redis://127.0.0.1:6379/3")
    return url


def test_two_apps_on_one_redis_spend_one_budget_and_share_a_lockout(
    gw: Gateway, amr: Agency, redis_url: str
) -> None:
    import redis

    prefix = f"ecert-test-{secrets.token_hex(4)}"
    shared = {"redis_url": redis_url, "redis_prefix": prefix, "rate_limit_verify": "7/day"}
    wrong = auth(f"ek_{amr.api_key.split('_')[1]}_{'x' * 43}")
    try:
        with limited(gw, **shared) as a, limited(gw, **shared) as b:
            codes = [
                (a if n % 2 else b).post("/api/v1/verify", json={"qr": "x"}).status_code
                for n in range(12)
            ]
            assert a.get("/healthz").json()["rate_limits"]["storage"] == "redis"
            failures = [
                (a if n % 2 else b).get("/api/v1/credentials/x", headers=wrong).status_code
                for n in range(12)
            ]
        assert codes.count(200) == 7
        assert codes.count(429) == 5
        assert failures == [401] * 10 + [429] * 2  # 10 failures between them lock the key out
    finally:
        client = redis.Redis.from_url(redis_url, socket_timeout=2)
        for key in client.scan_iter(match=f"{prefix}*"):
            client.delete(key)
        client.close()


def test_limits_can_be_switched_off_and_bad_limits_are_refused(gw: Gateway) -> None:
    from gateway.settings import SettingsError, load_settings

    with limited(gw, rate_limits=False, rate_limit_verify="1/minute") as client:
        assert {client.post("/api/v1/verify", json={"qr": "x"}).status_code
                for _ in range(3)} == {200}  # fmt: skip
        assert client.get("/healthz").json()["rate_limits"]["enabled"] is False
    with pytest.raises(SettingsError, match="ECERT_RATE_LIMIT_VERIFY: expected rate limits"):
        load_settings(rate_limit_verify="as many as you like")
    with pytest.raises(SettingsError, match="ECERT_RATE_LIMIT_VERIFY_BATCH: expected rate limits"):
        load_settings(rate_limit_verify_batch="0/second")
    with pytest.raises(SettingsError, match="ECERT_REDIS_URL: expected a redis://"):
        load_settings(redis_url="http://127.0.0.1:6379")


def test_the_in_process_limiter_starts_no_thread_a_hit(monkeypatch: pytest.MonkeyPatch) -> None:
    """``limits``' memory storage started a thread every 10 ms while hits came in; ours sweeps
    at most once a second (gateway.ratelimit._Memory), and keys still expire."""
    import threading

    from limits.storage import MemoryStorage

    from gateway import ratelimit

    # the library's private hooks _Memory replaces: a new `limits` without them fails here
    assert hasattr(MemoryStorage, "_MemoryStorage__schedule_expiry")
    assert hasattr(MemoryStorage, "_MemoryStorage__expire_events")
    started: list[threading.Thread] = []
    real_start = threading.Thread.start

    def counted(self: threading.Thread) -> None:
        started.append(self)
        real_start(self)

    monkeypatch.setattr(threading.Thread, "start", counted)
    rule = ratelimit.Rule("verify", ratelimit.parse_limits("1000000/second"), "核验", "verify")
    limiter = ratelimit.Limiter([rule])
    start = time.monotonic()
    for _ in range(5000):
        limiter.hit("verify", "127.0.0.1")
    assert len(started) <= time.monotonic() - start + 2
    storage = limiter.memory.storage
    assert isinstance(storage, ratelimit._Memory)
    storage.timer.join(timeout=5)  # the sweep a second after the last hit ran, and ended
    assert not storage._sweeping
    deadline = time.monotonic() + 10
    while storage.storage:  # the window's counters go once expired (2 s for a 1 s window)
        assert time.monotonic() < deadline, storage.storage
        time.sleep(0.2)
        storage._sweep()


class _Clock:
    """``time`` for ``limits``' memory storage and the limiter: only ``time()`` is moved."""

    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return time.monotonic()


@pytest.mark.parametrize("offset", [0.0, 0.3, 17.9, 42.5, 59.99])
def test_a_refused_batch_retry_after_is_when_its_whole_cost_fits(
    monkeypatch: pytest.MonkeyPatch, offset: float
) -> None:
    """``limits`` says when *one* more fits; a batch of 8 told that would be refused again."""
    import limits.storage.memory

    from gateway import ratelimit

    clock = _Clock(1_800_000_000.0 + offset)  # a multiple of 60 plus the offset into a window
    monkeypatch.setattr(limits.storage.memory, "time", clock)
    monkeypatch.setattr(ratelimit, "time", clock)
    rule = ratelimit.Rule("batch", ratelimit.parse_limits("20/minute"), "批量", "batches")
    limiter = ratelimit.Limiter([rule])
    assert limiter.most("batch") == 20
    waits = []
    for _ in range(12):  # batches of 8, each retried when told: every retry is admitted
        while limiter.wait("batch", "127.0.0.1") is None and _fits(limiter, 8):
            limiter.hit("batch", "127.0.0.1", cost=8)
            clock.now += 0.5
        with pytest.raises(ratelimit.TooManyRequests) as refused:
            limiter.hit("batch", "127.0.0.1", cost=8)
        wait = refused.value.retry_after
        waits.append(wait)
        assert 1 <= wait <= 120, wait
        clock.now += wait
        limiter.hit("batch", "127.0.0.1", cost=8)  # raises if Retry-After lied
    assert len(waits) == 12
    # and it is no longer than needed by more than the rounding: a second less is refused
    limiter2 = ratelimit.Limiter([rule])
    limiter2.hit("batch", "10.0.0.1", cost=16)
    with pytest.raises(ratelimit.TooManyRequests) as refused:
        limiter2.hit("batch", "10.0.0.1", cost=8)
    wait = refused.value.retry_after
    if wait > 1:
        clock.now += wait - 1.001
        with pytest.raises(ratelimit.TooManyRequests):
            limiter2.hit("batch", "10.0.0.1", cost=8)


def _fits(limiter: Any, cost: int) -> bool:
    """Whether ``cost`` more of the test's ``batch`` budget would be admitted now (spends none)."""
    rule = limiter.rules["batch"]
    strategy = limiter.memory.strategy(rule)
    return all(strategy.test(item, "batch", "127.0.0.1", cost=cost) for item in rule.items)


def test_with_limits_off_no_batch_is_bounded_by_them() -> None:
    from gateway import ratelimit

    rule = ratelimit.Rule("batch", ratelimit.parse_limits("20/minute"), "批量", "batches")
    assert ratelimit.Limiter([rule], enabled=False).most("batch") is None
