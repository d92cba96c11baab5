"""One member city's bad agency metadata costs that agency its place in the trust list, not the
whole region's list: a key copied from another issuer, a key without ``iat``, a configuration
that expires within the minute, a status list claimed from another issuer."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gateway import federation, trustsync
from gateway.core import Gateway
from tests.conftest import FakeClock
from tests.gateway.federation_helpers import Federation, federation_of
from tests.gateway.test_federation_sync import HZ, SZ, YRD, _agency, _issue
from trust.federation import ECERT_ISSUER, sign_entity_statement, verify_entity_configuration

LICENCE = ["business-licence"]
Change = Callable[[dict[str, Any], dict[str, Any], int], int]  # (rogue's, honest's, now) → exp


class Tampering:
    """The network, except that the rogue agency's configuration is what ``make`` writes."""

    def __init__(self, real: Any, url: str, make: Callable[[Change], str]) -> None:
        self.real, self.url, self.make = real, url, make
        self.change: Change = _nothing

    def fetch(self, url: str) -> bytes:
        return self.make(self.change).encode() if url == self.url else self.real.fetch(url)


def _metadata(fed: Federation, entity_path: str, city: str, now: int) -> dict[str, Any]:
    text = fed.client(city).get(f"{entity_path}/.well-known/openid-federation").text
    return {t: dict(m) for t, m in verify_entity_configuration(text, now=now).metadata.items()}


def _region_with_a_rogue(fed: Federation, clock: FakeClock) -> tuple[Gateway, str, str, Tampering]:
    yrd = fed.anchor(YRD, region_id="yrd", region_name="长三角", code="310000", name="上海市")
    hz = fed.city(HZ, anchor=YRD, code="330100", name="杭州市", types=LICENCE)
    sz = fed.city(SZ, anchor=YRD, code="320500", name="苏州市", types=LICENCE)
    honest = _agency(hz, "11330100MB1958123", "杭州市市场监督管理局", LICENCE)
    _issue(hz, honest, "business-licence")  # its status list now exists
    rogue = _agency(sz, "11320500MB1234567", "苏州某局", LICENCE)
    honest_meta = _metadata(fed, f"/agencies/{honest}", HZ, clock.now)[ECERT_ISSUER]
    rogue_id = f"{SZ}/agencies/{rogue}"

    def make(change: Change) -> str:  # 苏州's operator serves its agency's configuration
        meta = _metadata(fed, f"/agencies/{rogue}", SZ, clock.now)
        exp = change(meta[ECERT_ISSUER], dict(honest_meta), clock.now)
        with sz.transaction() as session:
            key, public = federation.signing_key(sz, session, rogue)
        return sign_entity_statement(iss=rogue_id, sub=rogue_id, iat=clock.now, exp=exp,
                                     jwks=public, key=key, metadata=meta,
                                     authority_hints=[SZ])  # fmt: skip

    network = Tampering(fed.fetcher(), f"{rogue_id}/.well-known/openid-federation", make)
    return yrd, f"{HZ}/agencies/{honest}", rogue_id, network


def _copy_a_key(mine: dict[str, Any], theirs: dict[str, Any], now: int) -> int:
    mine["jwks"] = {"keys": [*mine["jwks"]["keys"], theirs["jwks"]["keys"][0]]}
    return now + 3600


def _drop_iat(mine: dict[str, Any], theirs: dict[str, Any], now: int) -> int:
    mine["jwks"] = {
        "keys": [{k: v for k, v in j.items() if k != "iat"} for j in mine["jwks"]["keys"]]
    }
    return now + 3600


def _expire_at_once(mine: dict[str, Any], theirs: dict[str, Any], now: int) -> int:
    return now + 30


def _claim_a_status_list(mine: dict[str, Any], theirs: dict[str, Any], now: int) -> int:
    mine["status_lists"] = sorted({*mine["status_lists"], *theirs["status_lists"]})
    return now + 3600


def _nothing(mine: dict[str, Any], theirs: dict[str, Any], now: int) -> int:
    return now + 3600


@pytest.mark.parametrize("change", [_copy_a_key, _drop_iat, _expire_at_once, _claim_a_status_list])
def test_a_rogue_agency_is_left_out_and_the_list_is_still_signed(
    tmp_path: Path, clock: FakeClock, change: Change
) -> None:
    with federation_of(tmp_path, clock) as fed:
        yrd, honest, rogue, network = _region_with_a_rogue(fed, clock)
        first = trustsync.sync_once(yrd, network, lifetime=3600, refresh=60)
        assert {honest, rogue} <= set(first.leaves), first.failures
        network.change = change
        clock.advance(120)
        report = trustsync.sync_once(yrd, network, lifetime=3600, refresh=60)
        assert report.version is not None  # a list is signed: the sync did not fail as a whole
        assert honest in report.leaves
        assert rogue in report.failures, report.failures
        latest = trustsync.latest(yrd)
        assert latest is not None
        entries = trustsync.stored_trust_list(latest.token).entries
        theirs = [e for e in entries if e.issuer == honest]
        assert theirs
        for e in entries:  # at most the rogue's last good entries are kept, nothing of 杭州's
            if e.issuer == rogue:
                assert e.kid not in {h.kid for h in theirs}
                assert not set(e.status_lists) & set(theirs[0].status_lists)
