"""The issuance fast path (:mod:`gateway.fast_issue`) answers exactly as the FastAPI route does.

Each case posts a request to two apps of one gateway, one with the fast path in front and one
without, and compares status, the headers that matter and the body: byte for byte for every
refusal (bad subjects, unknown types, keys that do not authenticate or lack the scope, a
holder who holds one already, a reused idempotency key, bodies ``IssueBody`` refuses, other
content types, 429s), and for an issuance the same fields in the same order, equal but for what
each credential has of its own (its id, serial, token and QR text). Budgets are spent once,
answers counted and logged under the route's template.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from stdnum.cn import uscc

from gateway import api_keys, fast_issue, issue_groups
from gateway.app import JSON_BODY_LIMIT, create_app
from gateway.core import Gateway
from tests.conftest import Agency
from tests.gateway.test_fast_verify import _counted, settings_of
from tests.gateway.test_issue_groups import held_first
from tests.issuers.samples import SAMPLE_SUBJECTS

URL = "/api/v1/credentials"
JSON = {"Content-Type": "application/json"}
COMPARED = ("content-type", "x-content-type-options", "retry-after", "idempotent-replayed",
            "www-authenticate")  # fmt: skip
OWN = ("id", "identifier", "token", "qr_text", "qr_png", "qr_svg")  # each credential's own


@contextmanager
def both(gw: Gateway, **settings: Any) -> Iterator[tuple[TestClient, TestClient]]:
    with (
        settings_of(gw, **{"rate_limits": False, **settings}),
        TestClient(create_app(gw), base_url="http://127.0.0.1") as fast,
        TestClient(create_app(gw, issue_fast_path=False), base_url="http://127.0.0.1") as slow,
    ):
        yield fast, slow


def licence(n: int, **changes: Any) -> dict[str, Any]:
    first17 = f"9133010{n:010d}"
    return {
        **SAMPLE_SUBJECTS["business-licence"],
        "name": f"杭州快速签发{n:06d}有限公司",
        "uscc": first17 + uscc.calc_check_digit(first17),
        **changes,
    }


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def pairs(content: bytes) -> list[tuple[str, Any]]:
    return list(json.loads(content, object_pairs_hook=lambda p: p))


def same_refusal(fast: TestClient, slow: TestClient, **request: Any) -> Any:
    """Post ``request`` to both apps: the same status, headers and body bytes; the fast one's."""
    a = fast.post(URL, **request)
    b = slow.post(URL, **request)
    assert a.status_code == b.status_code, (request, a.text, b.text)
    for name in COMPARED:
        assert a.headers.get(name) == b.headers.get(name), (name, a.headers, b.headers)
    assert a.headers["x-request-id"]
    assert a.content == b.content, (request, a.text, b.text)
    return a


def same_issuance(
    fast: TestClient, slow: TestClient, bodies: tuple[Any, Any], **request: Any
) -> tuple[Any, Any]:
    """Issue ``bodies`` (one to each app): same status and headers, the same fields in the same
    order, equal but for each credential's own."""
    a = fast.post(URL, json=bodies[0], **request)
    b = slow.post(URL, json=bodies[1], **request)
    assert (a.status_code, b.status_code) in ((201, 201), (200, 200)), (a.text, b.text)
    for name in COMPARED:
        assert a.headers.get(name) == b.headers.get(name), (name, a.headers, b.headers)
    ours, theirs = pairs(a.content), pairs(b.content)
    assert [k for k, _ in ours] == [k for k, _ in theirs]
    assert [(k, v) for k, v in ours if k not in OWN] == [(k, v) for k, v in theirs if k not in OWN]
    assert a.json()["qr_png"] == f"{URL}/{a.json()['id']}/qr.png"
    return a, b


@pytest.fixture
def taken(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The subjects' names the fast path issued (or refused) itself, not handing them on."""
    names: list[str] = []
    real = fast_issue.FastIssue._issue

    def noting(self: fast_issue.FastIssue, presented: str, body: Any, key: str | None) -> Any:
        names.append(str(body.subject.get("name")))
        return real(self, presented, body, key)

    monkeypatch.setattr(fast_issue.FastIssue, "_issue", noting)
    return names


def test_an_issuance_answers_as_the_route_does(gw: Gateway, amr: Agency, taken: list[str]) -> None:
    with both(gw) as (fast, slow):
        a, _ = same_issuance(
            fast, slow,
            ({"type": "business-licence", "subject": licence(1)},
             {"type": "business-licence", "subject": licence(2)}),
            headers=auth(amr.api_key),
        )  # fmt: skip
        shown = fast.get(f"{URL}/{a.json()['id']}", headers=auth(amr.api_key))
        assert shown.json()["token"] == a.json()["token"]
        dated = {"valid_from": "2026-01-01", "valid_until": "2030-12-31"}
        same_issuance(
            fast, slow,
            ({"type": "business-licence", "subject": licence(3), **dated},
             {"type": "business-licence", "subject": licence(4), **dated}),
            headers=auth(amr.api_key),
        )  # fmt: skip
    assert taken == [licence(1)["name"], licence(3)["name"]]  # the app issued 2 and 4


def test_an_idempotency_key_replays_and_refuses_as_the_route_does(gw: Gateway, amr: Agency) -> None:
    with both(gw) as (fast, slow):
        for client, n, key in ((fast, 10, "fast-key"), (slow, 11, "slow-key")):
            body = {"type": "business-licence", "subject": licence(n)}
            first = client.post(
                URL, json=body, headers={**auth(amr.api_key), "Idempotency-Key": key}
            )
            again = client.post(
                URL, json=body, headers={**auth(amr.api_key), "Idempotency-Key": key}
            )
            assert (first.status_code, again.status_code) == (201, 200)
            assert again.headers["idempotent-replayed"] == "true"
            assert again.json() == first.json()
        for key in ("fast-key", "slow-key"):  # another body under a used key: 409, both ways
            same_refusal(
                fast, slow, json={"type": "business-licence", "subject": licence(12)},
                headers={**auth(amr.api_key), "Idempotency-Key": key},
            )  # fmt: skip
        same_refusal(
            fast, slow, json={"type": "business-licence", "subject": licence(13)},
            headers={**auth(amr.api_key), "Idempotency-Key": "k" * 201},
        )  # fmt: skip


BODIES: dict[str, Any] = {
    "bad check digit": {
        "type": "business-licence", "subject": licence(20, uscc="91330100MA2B3C4D5Z")
    },
    "unknown field": {"type": "business-licence", "subject": {**licence(21), "colour": "red"}},
    "missing field": {"type": "business-licence", "subject": {"name": "只有名称有限公司"}},
    "unknown type": {"type": "no-such-type", "subject": licence(22)},
    "not authorised": {"type": "resident-eid", "subject": SAMPLE_SUBJECTS["resident-eid"]},
    "empty subject": {"type": "business-licence", "subject": {}},
    "extra member": {"type": "business-licence", "subject": licence(23), "x": 1},
    "type too long": {"type": "b" * 65, "subject": licence(24)},
    "subject a list": {"type": "business-licence", "subject": [1, 2]},
    "body a list": [{"type": "business-licence"}],
    "bad date": {"type": "business-licence", "subject": licence(25), "valid_from": "0001-01-01"},
    "nested value": {"type": "business-licence", "subject": {**licence(26), "name": {"a": [1]}}},
    "deep": {"type": "business-licence", "subject": {"name": json.loads("[" * 70 + "]" * 70)}},
}  # fmt: skip


@pytest.mark.parametrize("name", list(BODIES))
def test_a_refused_body_answers_as_the_route_does(gw: Gateway, amr: Agency, name: str) -> None:
    with both(gw) as (fast, slow):
        answer = same_refusal(fast, slow, json=BODIES[name], headers=auth(amr.api_key))
    assert answer.status_code in (400, 403, 422), answer.text


@pytest.mark.parametrize(
    ("content", "headers"),
    [
        (b"{", {"Content-Type": "application/json"}),
        (b'{"type": NaN}', {"Content-Type": "application/json"}),
        (b'{"type": "business-licence", "subject": {"name": "\\ud800"}}', JSON),
        (b"[" * 5000 + b"]" * 5000, {"Content-Type": "application/json"}),
        (b'{"type": "business-licence"}', {"Content-Type": "text/plain"}),
        (b"x" * (JSON_BODY_LIMIT + 1), {"Content-Type": "application/json"}),
    ],
    ids=["truncated", "nan", "lone-surrogate", "deep", "text-plain", "over-the-bound"],
)  # fmt: skip
def test_odd_bodies_and_content_types_answer_as_the_route_does(
    gw: Gateway, amr: Agency, content: bytes, headers: dict[str, str]
) -> None:
    with both(gw) as (fast, slow):
        same_refusal(fast, slow, content=content, headers={**auth(amr.api_key), **headers})


def test_keys_that_do_not_authenticate_or_lack_the_scope_answer_as_the_route_does(
    gw: Gateway, amr: Agency
) -> None:
    body = {"type": "business-licence", "subject": licence(30)}
    with gw.transaction() as session:
        reader = api_keys.new_api_key(
            session, agency_id=amr.id, scopes=["read"], now=gw.clock(), expires_at=None, label="r"
        )
        revoked = api_keys.new_api_key(
            session, agency_id=amr.id, scopes=["issue"], now=gw.clock(), expires_at=None, label="x"
        )
    api_keys.revoke_key(gw, key_id=revoked.split("_", 2)[1], actor="test")
    wrong = amr.api_key[:-2] + ("xx" if not amr.api_key.endswith("xx") else "yy")
    with both(gw) as (fast, slow):
        for headers in (
            {},
            {"Authorization": "Basic abc"},
            auth("not-a-key"),
            auth(wrong),
            auth(revoked),
            auth(reader),
        ):
            answer = same_refusal(fast, slow, json=body, headers=headers)
            assert answer.status_code in (401, 403), answer.text


def test_a_known_key_revoked_or_mistyped_answers_as_the_route_does(
    gw: Gateway, amr: Agency, taken: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A key that authenticated once is recognised by its secret's hash and checked again in
    # the issuing transaction (one statement for a group), not in one of its own: revoked
    # since, its next request is refused as the route refuses it, and nothing is issued.
    with gw.transaction() as session:
        key = api_keys.new_api_key(
            session, agency_id=amr.id, scopes=["issue"], now=gw.clock(), expires_at=None, label="k"
        )
    full_checks = []
    real = api_keys.authenticate

    def counted(*args: Any, **kwargs: Any) -> Any:
        full_checks.append(args[1])
        return real(*args, **kwargs)

    monkeypatch.setattr(api_keys, "authenticate", counted)
    with both(gw) as (fast, slow):
        for n in (40, 41):
            body = {"type": "business-licence", "subject": licence(n)}
            assert fast.post(URL, json=body, headers=auth(key)).status_code == 201
        assert full_checks == [key]  # the second was recognised
        wrong = key[:-2] + ("xx" if not key.endswith("xx") else "yy")
        body = {"type": "business-licence", "subject": licence(42)}
        same_refusal(fast, slow, json=body, headers=auth(wrong))  # never taken on a known id
        api_keys.revoke_key(gw, key_id=key.split("_", 2)[1], actor="test")
        before = len(fast.get(URL, headers=auth(amr.api_key)).json()["items"])
        for _ in range(2):
            answer = same_refusal(fast, slow, json=body, headers=auth(key))
            assert answer.status_code == 401
            assert "revoked" in answer.text
        assert len(fast.get(URL, headers=auth(amr.api_key)).json()["items"]) == before
    assert taken.count(licence(42)["name"]) == 3  # taken, refused in the transaction, handed


def test_eight_clients_issuing_at_once_wait_in_one_group(gw: Gateway, amr: Agency) -> None:
    # Issue 13's profile: with 8 clients, every group held 6, as the fast path's worker threads
    # came from asyncio's default executor (6 threads on 2 cores): 2 requests could not even
    # wait to be grouped. The first issuance is held in its transaction until 8 more wait.
    groups = issue_groups.groups_of(gw)
    with both(gw) as (fast, _), held_first(gw, 8) as submit:

        def post(n: int) -> int:
            body = {"type": "business-licence", "subject": licence(50 + n)}
            return fast.post(URL, json=body, headers=auth(amr.api_key)).status_code

        futures = [submit(post, n) for n in range(9)]
    assert [f.result(60) for f in futures] == [201] * 9
    assert groups.largest == 8, (groups.groups, groups.largest)


def test_a_request_from_a_browser_origin_is_the_apps(
    gw: Gateway, amr: Agency, taken: list[str]
) -> None:
    # The app's answers to a browser say which origins may read them (CORS): it answers these.
    with both(gw) as (fast, slow):
        same_issuance(
            fast, slow,
            ({"type": "business-licence", "subject": licence(31)},
             {"type": "business-licence", "subject": licence(32)}),
            headers={**auth(amr.api_key), "Origin": "https://elsewhere.example"},
        )  # fmt: skip
    assert taken == []  # both issued by the FastAPI route


def test_a_holder_with_a_live_licence_is_refused_as_the_route_does(
    gw: Gateway, amr: Agency, taken: list[str]
) -> None:
    with both(gw) as (fast, slow):
        assert fast.post(URL, json={"type": "business-licence", "subject": licence(40)},
                         headers=auth(amr.api_key)).status_code == 201  # fmt: skip
        answer = same_refusal(
            fast, slow, json={"type": "business-licence", "subject": licence(40)},
            headers=auth(amr.api_key),
        )  # fmt: skip
    assert answer.json()["detail"]["errors"][0]["code"] == "holder_has_live"
    assert taken == [licence(40)["name"]] * 2  # issued, then refused, by the fast path


def test_budgets_are_spent_once_and_429_answers_as_the_route_does(gw: Gateway, amr: Agency) -> None:
    with both(gw, rate_limits=True, rate_limit_issue_address="3/minute") as (fast, slow):
        for client, first in ((fast, 50), (slow, 60)):
            codes = [
                client.post(URL, json={"type": "business-licence", "subject": licence(first + n)},
                            headers=auth(amr.api_key)).status_code
                for n in range(2)
            ]  # fmt: skip
            # a refused body is handed to the app, which must not spend the address again
            codes.append(client.post(URL, json={"x": 1}, headers=auth(amr.api_key)).status_code)
            codes.append(
                client.post(URL, json={"type": "business-licence", "subject": licence(first + 5)},
                            headers=auth(amr.api_key)).status_code
            )  # fmt: skip
            assert codes == [201, 201, 422, 429], client
        same_refusal(
            fast, slow, json={"type": "business-licence", "subject": licence(70)},
            headers=auth(amr.api_key),
        )  # fmt: skip
    with both(gw, rate_limits=True, rate_limit_issue="1/minute") as (fast, slow):
        for client, n in ((fast, 80), (slow, 81)):
            ok = client.post(URL, json={"type": "business-licence", "subject": licence(n)},
                             headers=auth(amr.api_key))  # fmt: skip
            assert ok.status_code == 201
        answer = same_refusal(
            fast, slow, json={"type": "business-licence", "subject": licence(82)},
            headers=auth(amr.api_key),
        )  # fmt: skip
    assert answer.status_code == 429
    assert "API key" in answer.json()["detail"]["message_en"]


def test_fast_issuances_are_counted_and_logged_as_the_app_counts_them(
    gw: Gateway, amr: Agency, tmp_path: Path
) -> None:
    log_file = tmp_path / "access.log"
    with both(gw, access_log="json", access_log_file=log_file) as (fast, slow):
        for client, n in ((fast, 90), (slow, 91)):
            client.post(URL, json={"type": "business-licence", "subject": licence(n)},
                        headers={**auth(amr.api_key), "X-Request-ID": "req-000002"})  # fmt: skip
            client.post(URL, json={"type": "business-licence", "subject": {}},
                        headers=auth(amr.api_key))  # fmt: skip
        counts = [
            (
                _counted(c, 'ecert_http_requests_total{method="POST",route="/api/v1/credentials",'
                            'status="201"}'),
                _counted(c, 'ecert_http_requests_total{method="POST",route="/api/v1/credentials",'
                            'status="422"}'),
            )
            for c in (fast, slow)
        ]  # fmt: skip
    assert counts[0] == counts[1] == (1.0, 1.0)
    lines = [json.loads(line) for line in log_file.read_text().splitlines()]
    issued = [line for line in lines if line["route"] == URL]
    assert len(issued) == 4
    strip = ("time", "duration_ms", "request_id", "client")
    assert [{k: v for k, v in x.items() if k not in strip} for x in issued[:2]] == [
        {k: v for k, v in x.items() if k not in strip} for x in issued[2:]
    ]
    assert issued[0]["request_id"] == issued[2]["request_id"] == "req-000002"
    assert "杭州快速签发" not in log_file.read_text()  # nothing of the body
