"""Bounded staleness at a gateway (issue 11): the verify API answers how old its status data
was and the bound that applied; ``ECERT_STATUS_MAX_AGE`` tightens every bound; a quiet poll of
the shared database confirms the gateway's own lists as current; REVOKED stays REVOKED."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from gateway import agencies
from gateway.core import Gateway
from gateway.freshness import next_status_fetch, verifier_bound
from gateway.settings import Settings
from tests.conftest import PASSPHRASE, START, Agency, FakeClock, make_agency, truncate_all
from tests.gateway.helpers import auth, client_for, licence_body
from trust import statuslist

BOUND = 60  # ECERT_STATUS_MAX_AGE in these tests, seconds
DAY = 86_400


@contextmanager
def _gateway(db_url: str, data: Path, clock: FakeClock, **settings: Any) -> Iterator[Gateway]:
    """A gateway polling the shared database only when a test says so (the background poll
    would otherwise confirm the lists at a moment of its own)."""
    gateway = Gateway.open(
        Settings(data_dir=data, database_url=db_url, key_passphrase=PASSPHRASE, public_url=None,
                 status_list_size=4096, refresh_interval=3600, **settings),
        clock=clock,
    )  # fmt: skip
    truncate_all(gateway)
    agencies.init_city(gateway, code="330100", name="杭州市",
                       public_url="https://ecert.hangzhou.gov.cn", actor="test")  # fmt: skip
    try:
        yield gateway
    finally:
        truncate_all(gateway)
        gateway.close()


@pytest.fixture
def quiet_gw(db_url: str, tmp_path: Path, clock: FakeClock) -> Iterator[Gateway]:
    with _gateway(db_url, tmp_path / "quiet", clock) as gateway:
        yield gateway


@pytest.fixture
def strict_gw(db_url: str, tmp_path: Path, clock: FakeClock) -> Iterator[Gateway]:
    """Its own bound is a minute (ECERT_STATUS_MAX_AGE)."""
    with _gateway(db_url, tmp_path / "strict", clock, status_max_age=BOUND) as gateway:
        yield gateway


def _amr(gw: Gateway) -> Agency:
    from stdnum.cn import uscc

    code = "11330100MB1958123"
    return make_agency(gw, name="杭州市市场监督管理局", types=["business-licence"],
                       uscc=code + uscc.calc_check_digit(code))  # fmt: skip


def _issue(client: TestClient, agency: Agency) -> dict[str, Any]:
    issued = client.post("/api/v1/credentials", json=licence_body(), headers=auth(agency.api_key))
    assert issued.status_code == 201, issued.text
    body: dict[str, Any] = issued.json()
    return body


def _verify(client: TestClient, qr: str) -> dict[str, Any]:
    answer = client.post("/api/v1/verify", json={"qr": qr})
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def test_the_verify_api_says_how_old_its_status_data_was_and_what_bound_applied(
    quiet_gw: Gateway, clock: FakeClock
) -> None:
    with client_for(quiet_gw) as client:
        issued = _issue(client, _amr(quiet_gw))
        clock.now += 7
        answer = _verify(client, issued["qr_text"])
    assert answer["reason"] == "VALID"
    fresh = answer["freshness"]
    assert fresh["status_max_age_seconds"] == DAY  # a business licence's own bound
    assert fresh["status_age_seconds"] == 7  # issued 7 s ago, nothing polled since
    assert fresh["status"] == "2026-09-21T22:13:20+08:00"


def test_past_the_gateways_bound_a_valid_becomes_unavailable_until_a_poll_confirms_the_lists(
    strict_gw: Gateway, clock: FakeClock
) -> None:
    with client_for(strict_gw) as client:
        issued = _issue(client, _amr(strict_gw))
        clock.now += BOUND
        assert _verify(client, issued["qr_text"])["reason"] == "VALID"  # at the bound: still
        clock.now += 1
        stale = _verify(client, issued["qr_text"])
        assert (stale["valid"], stale["reason"]) == (False, "STATUS_UNAVAILABLE")
        assert stale["freshness"]["status_age_seconds"] == BOUND + 1
        assert stale["freshness"]["status_max_age_seconds"] == BOUND
        assert f"{BOUND + 1} s old" in stale["detail"]
        assert strict_gw.live.refresh_if_changed() is False  # nothing moved: confirmed now
        again = _verify(client, issued["qr_text"])
        assert (again["reason"], again["freshness"]["status_age_seconds"]) == ("VALID", 0)


def test_an_old_list_that_says_revoked_still_says_revoked(
    strict_gw: Gateway, clock: FakeClock
) -> None:
    with client_for(strict_gw) as client:
        revoker = _amr(strict_gw)
        issued = _issue(client, revoker)
        revoked = client.post(
            f"/api/v1/credentials/{issued['id']}/revoke", json={"reason": "注销"},
            headers=auth(revoker.api_key),
        )  # fmt: skip
        assert revoked.status_code == 200, revoked.text
        clock.now += 10 * BOUND
        answer = _verify(client, issued["qr_text"])
        assert answer["reason"] == "REVOKED"
        assert answer["freshness"]["status_age_seconds"] == 10 * BOUND


def test_a_counters_bound_is_its_roles_and_the_gateways_the_stricter(
    gw: Gateway, strict_gw: Gateway
) -> None:
    assert verifier_bound(gw) is None  # no setting, no role: the type's bound alone
    assert verifier_bound(gw, "police-counter") == 600
    assert verifier_bound(gw, "bank-counter") == 3600
    assert verifier_bound(gw, "a-role-of-another-city") is None
    assert verifier_bound(strict_gw, "bank-counter") == BOUND
    assert verifier_bound(strict_gw) == BOUND


@pytest.mark.parametrize("value", ["0", "-5", str(31 * DAY + 1), "ten minutes"])
def test_an_unusable_gateway_bound_is_refused_at_start(
    value: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ECERT_STATUS_MAX_AGE", value)
    with pytest.raises(ValidationError, match="status_max_age"):
        Settings(data_dir=tmp_path)


@pytest.mark.parametrize(
    ("iat", "ttl", "exp", "due"),
    [
        (START - 250, 300, START + DAY, START + 50),  # fetched late: due when its ttl runs out
        (START, 300, START + DAY, START + 300),
        (START - 600, 300, START + DAY, START + 30),  # an old copy (a cache): not every tick
        (START, 3600, START + 600, START + 600),  # never after the list's exp
        (START - 10, 2, START + 60, START + 1),
    ],
    ids=["late", "fresh", "stale-copy", "exp-first", "short-ttl"],
)
def test_another_citys_list_is_fetched_again_a_ttl_after_it_was_issued(
    iat: int, ttl: int, exp: int, due: int
) -> None:
    snap = statuslist.StatusListSnapshot(uri="https://sz.example.cn/statuslists/1", iat=iat,
                                         exp=exp, ttl=ttl, status_list=statuslist.StatusList(
                                             bits=2, size=8))  # fmt: skip
    assert next_status_fetch(snap, now=START, ttl=300) == due
