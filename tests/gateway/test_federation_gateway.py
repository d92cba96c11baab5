"""Gateways serving the federation: configurations, statements, joins, chains across them."""

from __future__ import annotations

from pathlib import Path

import pytest
from stdnum.cn import uscc

from gateway import agencies, federation, statements
from gateway.core import Gateway
from tests.conftest import FakeClock
from tests.gateway.federation_helpers import Federation, federation_of
from trust.federation import (
    resolve_chain,
    verify_entity_configuration,
    verify_entity_statement,
    verify_resolve_response,
)
from trust.federation.statements import unverified_payload
from trust.keys import PublicKey

YRD, HZ, SZ = "http://127.0.0.1:9100", "http://127.0.0.1:9101", "http://127.0.0.1:9102"
PERMITS = ["business-licence", "food-business-permit", "industrial-production-permit"]


def _uscc(first17: str) -> str:
    return first17 + uscc.calc_check_digit(first17)


def _anchor_keys(fed: Federation, url: str) -> dict[str, list[PublicKey]]:
    ec = verify_entity_configuration(
        fed.client(url).get("/.well-known/openid-federation").text, now=fed.clock.now
    )
    return {url: list(ec.jwks)}


def _amr(gw: Gateway, types: list[str]) -> str:
    row, _ = agencies.add_agency(
        gw, name="杭州市市场监督管理局", uscc=_uscc("11330100MB1958123"), types=types, actor="t"
    )
    return f"{HZ}/agencies/{row.id}"


def test_an_agency_resolves_through_its_city_to_the_region_anchor(
    tmp_path: Path, clock: FakeClock
) -> None:
    with federation_of(tmp_path, clock) as fed:
        fed.anchor(YRD, region_id="yrd", region_name="长三角", code="310000", name="上海市")
        hz = fed.city(
            HZ, anchor=YRD, code="330100", name="杭州市", types=[*PERMITS, "resident-eid"]
        )
        leaf = _amr(hz, PERMITS)
        hz_ec = verify_entity_configuration(
            fed.client(HZ).get("/.well-known/openid-federation").text, now=clock.now
        )
        assert hz_ec.authority_hints == (YRD,)
        assert fed.client(YRD).get("/federation/list").json() == [HZ]
        assert fed.client(HZ).get("/federation/list").json() == [leaf]
        about_hz = verify_entity_statement(
            fed.client(YRD).get("/federation/fetch", params={"sub": HZ}).text,
            keys=_anchor_keys(fed, YRD)[YRD],
            now=clock.now,
            expected_iss=YRD,
            expected_sub=HZ,
        )
        assert about_hz.constraints is not None
        assert about_hz.constraints.max_path_length == 1
        # §6.2.2 host names only: a loopback city's host is an IP literal, no domain name, so
        # the spec's form says nothing; our own ecert_url_prefixes keeps it to its URL.
        assert about_hz.constraints.naming_constraints is None
        assert about_hz.constraints.url_prefixes is not None
        assert about_hz.constraints.url_prefixes.permitted == (HZ,)
        assert unverified_payload(about_hz.token)["constraints"]["ecert_url_prefixes"] == {
            "permitted": [HZ]
        }
        assert about_hz.constraints.allowed_entity_types == {
            "ecert_issuer",
            "ecert_verifier",
            "ecert_gateway",
            "openid_relying_party",  # counters (issue 9)
        }

        resolved = resolve_chain(
            leaf, fetcher=fed.fetcher(), trust_anchors=_anchor_keys(fed, YRD), now=clock.now
        )
        assert resolved.path == (leaf, HZ, YRD)
        assert resolved.credential_types == frozenset(PERMITS)
        issuer = resolved.metadata["ecert_issuer"]
        assert issuer["organization_name"] == "杭州市市场监督管理局"
        # the agency's credential key travels in metadata, under its full and its short kid
        full, alias = issuer["jwks"]["keys"]
        assert alias == {**full, "kid": full["kid"][:12]}

        answer = fed.client(HZ).get(
            "/federation/resolve", params={"sub": leaf, "trust_anchor": YRD}
        )
        assert answer.status_code == 200, answer.text
        response = verify_resolve_response(
            answer.text, keys=list(hz_ec.jwks), now=clock.now, expected_iss=HZ
        )
        assert response.sub == leaf


def test_a_city_with_a_host_name_gets_a_spec_naming_constraint_beside_its_url_prefix(
    tmp_path: Path, clock: FakeClock
) -> None:
    named = "http://localhost:9111"
    with federation_of(tmp_path, clock) as fed:
        fed.anchor(YRD, region_id="yrd", region_name="长三角", code="310000", name="上海市")
        city = fed.city(named, anchor=YRD, code="330100", name="杭州市", types=PERMITS)
        row, _ = agencies.add_agency(
            city, name="杭州市市场监督管理局", uscc=_uscc("11330100MB1958123"), types=PERMITS,
            actor="t",
        )  # fmt: skip
        about = fed.client(YRD).get("/federation/fetch", params={"sub": named}).text
        claim = unverified_payload(about)["constraints"]
        assert claim["naming_constraints"] == {"permitted": ["localhost"]}  # §6.2.2: a host
        assert claim["ecert_url_prefixes"] == {"permitted": [named]}
        resolved = resolve_chain(
            f"{named}/agencies/{row.id}", fetcher=fed.fetcher(),
            trust_anchors=_anchor_keys(fed, YRD), now=clock.now,
        )  # fmt: skip
        assert resolved.credential_types == frozenset(PERMITS)


def test_a_type_a_city_authorises_beyond_its_regions_grant_is_narrowed_away(
    tmp_path: Path, clock: FakeClock
) -> None:
    with federation_of(tmp_path, clock) as fed:
        fed.anchor(YRD, region_id="yrd", region_name="长三角", code="310000", name="上海市")
        hz = fed.city(HZ, anchor=YRD, code="330100", name="杭州市", types=["business-licence"])
        leaf = _amr(hz, ["business-licence", "resident-eid"])
        resolved = resolve_chain(  # §6.1.3.1.5: the intersection, not a failed chain
            leaf, fetcher=fed.fetcher(), trust_anchors=_anchor_keys(fed, YRD), now=clock.now
        )
        assert resolved.credential_types == {"business-licence"}
        assert resolved.not_granted() == {"resident-eid": (YRD,)}


def test_an_unapproved_city_is_not_vouched_for(tmp_path: Path, clock: FakeClock) -> None:
    with federation_of(tmp_path, clock) as fed:
        anchor = fed.anchor(
            YRD, region_id="yrd", region_name="长三角", code="310000", name="上海市"
        )
        sz = fed.gateway(SZ, code="320500", name="苏州市")
        with anchor.sessions() as session:
            _, keys = federation.signing_key(anchor, session, federation.SELF)
        pinned = [dict(k.jwk) for k in keys]
        federation.init(
            sz, role=federation.CITY, region_id="yrd", region_name="长三角",
            superior_id=YRD, superior_jwks=pinned, actor="t",
        )  # fmt: skip
        joined = fed.client(YRD).post(
            "/federation/join",
            content=statements.entity_configuration(sz),
            headers={"Content-Type": "application/entity-statement+jwt"},
        )
        assert joined.json() == {"entity_id": SZ, "status": "pending"}
        assert fed.client(YRD).get("/federation/list").json() == []
        assert fed.client(YRD).get("/federation/fetch", params={"sub": SZ}).status_code == 404


def test_forged_join_request_is_refused(tmp_path: Path, clock: FakeClock) -> None:
    with federation_of(tmp_path, clock) as fed:
        fed.anchor(YRD, region_id="yrd", region_name="长三角", code="310000", name="上海市")
        answer = fed.client(YRD).post(
            "/federation/join",
            content="eyJhbGciOiJub25lIn0.e30.",
            headers={"Content-Type": "application/entity-statement+jwt"},
        )
        assert answer.status_code == 400
        assert answer.json()["error"] == "invalid_request"  # §8.9
        assert answer.json()["error_description"].startswith("请求无效：")


def test_agreements_and_approvals_are_checked_before_anything_is_stored(
    tmp_path: Path, clock: FakeClock
) -> None:
    from gateway.errors import Conflict
    from trust.errors import DataError

    with federation_of(tmp_path, clock) as fed:
        yrd = fed.anchor(YRD, region_id="yrd", region_name="长三角", code="310000", name="上海市")
        hz = fed.city(HZ, anchor=YRD, code="330100", name="杭州市", types=PERMITS)
        pins = [dict(k.jwk) for k in _anchor_keys(fed, YRD)[YRD]]
        with pytest.raises(Conflict, match="only a region trust anchor approves"):
            federation.approve(hz, entity_id=SZ, credential_types=PERMITS, actor="t")
        with pytest.raises(DataError, match="policy"):
            federation.trust_region(
                yrd,
                anchor_id="http://127.0.0.1:9103",
                jwks=pins,
                name="京津冀",
                policy="has spaces",
                accepted_types=PERMITS,
                actor="t",
            )
        with pytest.raises(Conflict, match="itself"):
            federation.trust_region(
                yrd,
                anchor_id=YRD,
                jwks=pins,
                name="x",
                policy="p",
                accepted_types=PERMITS,
                actor="t",
            )
        with pytest.raises(Conflict, match="cities"):
            federation.trust_region(
                yrd,
                anchor_id=HZ,
                jwks=pins,
                name="x",
                policy="p",
                accepted_types=PERMITS,
                actor="t",
            )
        with pytest.raises(Conflict, match="accept some of"):
            federation.trust_region(
                yrd,
                anchor_id="http://127.0.0.1:9103",
                jwks=pins,
                name="x",
                policy="p",
                accepted_types=["no-such-type"],
                actor="t",
            )
        assert fed.client(YRD).get("/federation/list").json() == [HZ]


def test_a_strangers_join_in_a_citys_name_is_caught_by_the_kids_the_operator_gives(
    tmp_path: Path, clock: FakeClock
) -> None:
    from gateway.errors import Conflict
    from trust.federation import sign_entity_statement, verify_entity_statement
    from trust.keys import SigningKey

    ct = {"Content-Type": "application/entity-statement+jwt"}
    with federation_of(tmp_path, clock) as fed:
        yrd = fed.anchor(YRD, region_id="yrd", region_name="长三角", code="310000", name="上海市")
        hz = fed.gateway(HZ, code="330100", name="杭州市")
        with yrd.sessions() as session:
            _, anchor_keys = federation.signing_key(yrd, session, federation.SELF)
        federation.init(hz, role=federation.CITY, region_id="yrd", region_name="长三角",
                        superior_id=YRD, superior_jwks=[dict(k.jwk) for k in anchor_keys],
                        actor="t")  # fmt: skip
        with hz.sessions() as session:
            _, hz_keys = federation.signing_key(hz, session, federation.SELF)
        hz_kids = [k.kid for k in hz_keys]  # what 杭州's operator tells 长三角's, out of band
        own = statements.entity_configuration(hz)
        assert fed.client(YRD).post("/federation/join", content=own, headers=ct).status_code == 200
        thief = SigningKey.generate()  # anyone on the network, in 杭州's name
        forged = sign_entity_statement(
            iss=HZ, sub=HZ, iat=clock.now, exp=clock.now + 3600, jwks=[thief.public], key=thief,
            metadata={"federation_entity": {"organization_name": "杭州市"}}, authority_hints=[YRD],
        )  # fmt: skip
        # refused: 杭州 serves a configuration with other keys (gateway.join_requests)
        assert (
            fed.client(YRD).post("/federation/join", content=forged, headers=ct).status_code == 400
        )

        with pytest.raises(Conflict, match="may not be the city's own"):
            federation.approve(yrd, entity_id=HZ, credential_types=PERMITS, actor="op",
                               kids=[thief.kid])  # fmt: skip
        federation.approve(yrd, entity_id=HZ, credential_types=PERMITS, actor="op", kids=hz_kids)
        statement = fed.client(YRD).get("/federation/fetch", params={"sub": HZ}).text
        vouched = verify_entity_statement(statement, keys=anchor_keys, now=clock.now)
        assert {k.kid for k in vouched.jwks} == set(hz_kids)


def test_an_entity_id_longer_than_its_column_is_refused_before_the_database(
    tmp_path: Path, clock: FakeClock
) -> None:
    from trust.federation import sign_entity_statement
    from trust.keys import SigningKey

    with federation_of(tmp_path, clock) as fed:
        fed.anchor(YRD, region_id="yrd", region_name="长三角", code="310000", name="上海市")
        key = SigningKey.generate()
        long_id = "https://city.example/" + "p" * 245  # a valid entity id, 266 characters
        configuration = sign_entity_statement(
            iss=long_id, sub=long_id, iat=clock.now, exp=clock.now + 600, jwks=[key.public],
            key=key, authority_hints=[YRD],
        )  # fmt: skip
        answer = fed.client(YRD).post(
            "/federation/join",
            content=configuration,
            headers={"Content-Type": "application/entity-statement+jwt"},
        )
        assert answer.status_code == 400, answer.text  # §8.9 invalid_request, not a 500
        assert answer.json()["error"] == "invalid_request"
        assert "at most 256 characters, found 266" in answer.json()["error_description"]
