"""A presentation across cities and regions (issue 9): a 杭州 resident e-ID presented
at a 苏州 counter (same region, the trust list names 杭州's issuer) is valid with holder binding
and its status from 杭州's list; at a 北京 counter, whose region accepts only 长三角's licences,
it answers NOT_ACCEPTED_BY_POLICY; after 杭州 revokes, 苏州 answers REVOKED."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gateway import federation, status, trustsync, verifiers
from gateway.core import Gateway
from tests.conftest import FakeClock, make_agency
from tests.gateway.federation_helpers import Federation, federation_of
from tests.gateway.test_federation_sync import _pins
from tests.gateway.test_presentation_answers import Desk, _receive
from trust.keys import SigningKey

YRD, HZ, SZ = "http://127.0.0.1:9100", "http://127.0.0.1:9101", "http://127.0.0.1:9102"
JJJ, BJ = "http://127.0.0.1:9103", "http://127.0.0.1:9104"
LICENCES = ["business-licence", "food-business-permit"]


def _sync(fed: Federation, gw: Gateway) -> None:
    """One trust sync and status refresh now. The gateway's own background sync may have
    done it first (``changed`` is then false): what matters is that nothing failed."""
    report = trustsync.sync_once(gw, fed.fetcher(), lifetime=3600, refresh=60)
    assert not report.failures, report.failures
    trustsync.refresh_status_lists(gw, fed.fetcher())


def two_regions(fed: Federation, **settings: Any) -> tuple[Gateway, Gateway, Gateway]:
    """长三角 (杭州 for resident e-IDs, 苏州 for licences) and 京津冀 (北京 for licences), each
    region accepting only the other's licences: ``(杭州, 苏州, 北京)``; ``settings`` of the three
    cities' gateways."""
    fed.anchor(YRD, region_id="yrd", region_name="长三角", code="310000", name="上海市")
    hz = fed.city(HZ, anchor=YRD, code="330100", name="杭州市", types=["resident-eid"], **settings)
    sz = fed.city(SZ, anchor=YRD, code="320500", name="苏州市", types=LICENCES, **settings)
    jjj = fed.anchor(JJJ, region_id="jjj", region_name="京津冀", code="110000", name="北京市")
    bj = fed.city(BJ, anchor=JJJ, code="110100", name="北京市", types=LICENCES, **settings)
    for here, there, name, policy in (
        (jjj, YRD, "长三角", "jjj-accepts-yrd-licences"),
        (fed.gateways[YRD], JJJ, "京津冀", "yrd-accepts-jjj-licences"),
    ):
        federation.trust_region(
            here, anchor_id=there, jwks=_pins(fed, there), name=name, policy=policy,
            accepted_types=LICENCES, actor="t",
        )  # fmt: skip
    return hz, sz, bj


def test_a_hangzhou_eid_at_suzhou_and_beijing_counters(tmp_path: Path, clock: FakeClock) -> None:
    with federation_of(tmp_path, clock) as fed:
        hz, sz, bj = two_regions(fed)
        psb = make_agency(
            hz, name="杭州市公安局", uscc="11330100002490365L", types=["resident-eid"]
        )
        holder_key = SigningKey.generate()
        credential_id, sd_jwt = _receive(fed.client(HZ), clock, psb, holder_key)
        _sync(fed, sz)
        _sync(fed, bj)

        def desk_at(url: str, gw: Gateway) -> Desk:
            _row, key = verifiers.add_verifier(gw, name="宾馆前台", role="hotel-desk", actor="t")
            return Desk(fed, fed.client(url), key, psb, credential_id, sd_jwt, holder_key)

        suzhou, beijing = desk_at(SZ, sz), desk_at(BJ, bj)
        request = suzhou.ask()
        assert suzhou.post(request, suzhou.present(request)).status_code == 200
        result = suzhou.result(request["id"]).json()["result"]
        assert result["reason"] == "VALID", result["detail"]
        assert result["holder_binding"] is True
        assert result["issuer"]["id"] == f"{HZ}/agencies/{psb.id}"
        assert [f["name"] for f in result["fields"]] == ["name", "sex"]

        request = beijing.ask()
        refused = beijing.post(request, beijing.present(request))
        assert refused.status_code == 400
        result = beijing.result(request["id"]).json()["result"]
        assert result["reason"] == "NOT_ACCEPTED_BY_POLICY"
        assert "jjj-accepts-yrd-licences" in result["detail"]
        assert result["fields"] == []

        status.change(
            hz, credential_id=credential_id, action="revoke", reason="证件挂失", actor="t",
            agency_id=None,
        )  # fmt: skip
        clock.advance(301)  # 苏州 holds 杭州's status list for its ttl, then fetches it again
        trustsync.refresh_status_lists(sz, fed.fetcher())
        request = suzhou.ask()
        assert suzhou.post(request, suzhou.present(request)).status_code == 400
        assert suzhou.result(request["id"]).json()["result"]["reason"] == "REVOKED"
