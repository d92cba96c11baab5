"""Counters as verifiers: registered under their city with a role and their own federation key,
published as leaves a wallet resolves to the region's trust anchor (issue 9)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway import federation, verifiers
from gateway.errors import Conflict, Unauthorised
from tests.conftest import FakeClock
from tests.gateway.federation_helpers import federation_of
from trust.errors import FieldError
from trust.federation import (
    ECERT_VERIFIER,
    OPENID_RELYING_PARTY,
    ChainError,
    resolve_chain,
    verify_entity_configuration,
)

YRD, HZ = "http://127.0.0.1:9100", "http://127.0.0.1:9101"


def test_a_counter_resolves_through_its_city_to_the_anchor_with_its_role(
    tmp_path: Path, clock: FakeClock
) -> None:
    with federation_of(tmp_path, clock) as fed:
        fed.anchor(YRD, region_id="yrd", region_name="长三角", code="310000", name="上海市")
        hz = fed.city(HZ, anchor=YRD, code="330100", name="杭州市", types=["resident-eid"])
        row, key = verifiers.add_verifier(hz, name="西湖宾馆前台", role="hotel-desk", actor="t")
        leaf = f"{HZ}/verifiers/{row.id}"
        assert key.startswith(f"vk_{row.id}_")
        assert leaf in fed.client(HZ).get("/federation/list").json()
        anchor_ec = verify_entity_configuration(
            fed.client(YRD).get("/.well-known/openid-federation").text, now=clock.now
        )
        resolved = resolve_chain(
            leaf, fetcher=fed.fetcher(), trust_anchors={YRD: list(anchor_ec.jwks)}, now=clock.now
        )
        assert resolved.path == (leaf, HZ, YRD)
        meta = resolved.metadata[ECERT_VERIFIER]
        assert meta["role"] == "hotel-desk"
        assert meta["city_name"] == "杭州市"
        assert meta["may_request"] == {"resident-eid": ["id_number_masked", "name", "sex"]}
        rp = resolved.metadata[OPENID_RELYING_PARTY]
        assert rp["client_name"] == "西湖宾馆前台"
        with hz.sessions() as session:
            _, keys = federation.signing_key(hz, session, row.id)
        assert [k["kid"] for k in rp["jwks"]["keys"]] == [k.kid for k in keys]
        assert {k.kid for k in resolved.keys} == {k.kid for k in keys}
        # the city fixes the role: its Subordinate Statement says value hotel-desk
        assert resolved.policy.types[ECERT_VERIFIER]["role"] == {"value": "hotel-desk"}
        with hz.sessions() as session:
            assert verifiers.authenticate(session, key).id == row.id
            with pytest.raises(Unauthorised):
                verifiers.authenticate(session, key[:-2] + "xx")


def test_a_counter_of_an_unknown_city_member_does_not_resolve(
    tmp_path: Path, clock: FakeClock
) -> None:
    with federation_of(tmp_path, clock) as fed:
        fed.anchor(YRD, region_id="yrd", region_name="长三角", code="310000", name="上海市")
        fed.city(HZ, anchor=YRD, code="330100", name="杭州市", types=["resident-eid"])
        anchor_ec = verify_entity_configuration(
            fed.client(YRD).get("/.well-known/openid-federation").text, now=clock.now
        )
        missing = fed.client(HZ).get("/verifiers/vf-0000000000/.well-known/openid-federation")
        assert missing.status_code == 404
        with pytest.raises(ChainError):
            resolve_chain(
                f"{HZ}/verifiers/vf-0000000000",
                fetcher=fed.fetcher(),
                trust_anchors={YRD: list(anchor_ec.jwks)},
                now=clock.now,
            )


def test_an_unknown_role_a_blank_name_or_an_anchor_is_refused(
    tmp_path: Path, clock: FakeClock
) -> None:
    with federation_of(tmp_path, clock) as fed:
        yrd = fed.anchor(YRD, region_id="yrd", region_name="长三角", code="310000", name="上海市")
        hz = fed.city(HZ, anchor=YRD, code="330100", name="杭州市", types=["resident-eid"])
        with pytest.raises(FieldError) as unknown:
            verifiers.add_verifier(hz, name="前台", role="bartender", actor="t")
        assert unknown.value.errors[0]["code"] == "unknown_role"
        with pytest.raises(FieldError):
            verifiers.add_verifier(hz, name="  ", role="hotel-desk", actor="t")
        with pytest.raises(Conflict):
            verifiers.add_verifier(yrd, name="前台", role="hotel-desk", actor="t")
        assert verifiers.list_verifiers(hz) == []
