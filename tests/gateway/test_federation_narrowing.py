"""A type a city grants beyond its region's grant is narrowed away (OpenID Federation 1.0
§6.1.3.1.5), not the agency: end to end through in-process gateways and their counters."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from stdnum.cn import uscc

from gateway import agencies, federation, issuance, trustsync
from gateway.core import Gateway
from gateway.deps import SERVICES
from tests.conftest import FakeClock
from tests.gateway.federation_helpers import Federation, federation_of
from tests.issuers.samples import SAMPLE_SUBJECTS
from trust.federation import verify_entity_configuration

YRD, HZ, SZ = "http://127.0.0.1:9100", "http://127.0.0.1:9101", "http://127.0.0.1:9102"
JJJ, BJ = "http://127.0.0.1:9103", "http://127.0.0.1:9104"
LICENCES = ["business-licence", "food-business-permit", "industrial-production-permit"]
EID = "resident-eid"


def _pins(fed: Federation, url: str) -> list[dict[str, str]]:
    ec = verify_entity_configuration(
        fed.client(url).get("/.well-known/openid-federation").text, now=fed.clock.now
    )
    return [dict(k.jwk) for k in ec.jwks]


def _issue(gw: Gateway, agency_id: str, ctype: str) -> str:
    row, _ = issuance.issue(
        gw, agency_id=agency_id, request=issuance.IssueRequest(ctype, SAMPLE_SUBJECTS[ctype])
    )
    return row.token


def _after_first_background_sync(fed: Federation, city: str) -> None:
    """Each gateway's own sync loop runs once about 2 s after it starts, then not for minutes:
    wait for that run so that the test's sync never races it (bounded)."""
    health = getattr(fed.client(city).app.state, SERVICES).sync_health
    deadline = time.monotonic() + 30
    while health.last_sync_at is None:
        assert time.monotonic() < deadline, f"{city}'s first background sync did not run"
        time.sleep(0.1)


def _verify(fed: Federation, city: str, token: str) -> dict[str, Any]:
    answer = fed.client(city).post("/api/v1/verify", json={"qr": token})
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def test_an_agency_granted_a_type_its_region_did_not_keeps_its_other_types_everywhere(
    tmp_path: Path, clock: FakeClock
) -> None:
    with federation_of(tmp_path, clock) as fed:
        fed.anchor(YRD, region_id="yrd", region_name="长三角", code="310000", name="上海市")
        hz = fed.city(HZ, anchor=YRD, code="330100", name="杭州市", types=LICENCES)  # no e-ID
        sz = fed.city(SZ, anchor=YRD, code="320500", name="苏州市", types=LICENCES)
        jjj = fed.anchor(JJJ, region_id="jjj", region_name="京津冀", code="110000", name="北京市")
        bj = fed.city(BJ, anchor=JJJ, code="110100", name="北京市", types=LICENCES)
        for here, there, name in ((jjj, YRD, "长三角"), (fed.gateways[YRD], JJJ, "京津冀")):
            federation.trust_region(
                here, anchor_id=there, jwks=_pins(fed, there), name=name,
                policy=f"accepts-{there.rsplit(':', 1)[1]}", accepted_types=[*LICENCES, EID],
                actor="t",
            )  # fmt: skip
        # 杭州 authorises its agency for the e-ID too, which 长三角 never granted 杭州.
        first17 = "11330100MB1958123"
        row, _ = agencies.add_agency(
            hz, name="杭州市市场监督管理局", uscc=first17 + uscc.calc_check_digit(first17),
            types=["business-licence", EID], actor="t",
        )  # fmt: skip
        leaf = f"{HZ}/agencies/{row.id}"
        licence, eid = _issue(hz, row.id, "business-licence"), _issue(hz, row.id, EID)

        for city, gw in ((SZ, sz), (BJ, bj)):
            _after_first_background_sync(fed, city)
            report = trustsync.sync_once(gw, fed.fetcher(), lifetime=3600, refresh=60)
            trustsync.refresh_status_lists(gw, fed.fetcher())
            assert leaf in report.leaves, report.failures  # the chain holds: no failure
            assert leaf not in report.failures

            valid = _verify(fed, city, licence)
            assert valid["reason"] == "VALID", valid["detail"]

            refused = _verify(fed, city, eid)
            assert refused["reason"] == "ISSUER_NOT_AUTHORISED", refused["detail"]
            assert refused["detail"] == (
                f"杭州市市场监督管理局 is authorised for ['business-licence'], not '{EID}': "
                "the metadata policy subset_of on ecert_issuer.credential_types of its trust "
                f"chain ({' → '.join(['杭州市', '长三角', *(['京津冀'] if city == BJ else [])])}) "
                "does not grant it"
            )
