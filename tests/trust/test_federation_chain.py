"""Trust chains (§4, §10): validation, cross-region agreements, every refusal with its reason.

The federation is the demo's: two regions, 长三角 (anchor 9100; 杭州 9101, 苏州 9102) and 京津冀
(anchor 9103; 北京 9104, 天津 9105), each region certifying the other with a scoped acceptance.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.trust.federation_simulator import FederationSimulator
from trust.errors import DataError
from trust.federation import (
    MAX_STATEMENT_LENGTH,
    Acceptance,
    ChainError,
    Constraints,
    ConstraintViolation,
    NamingConstraints,
    PolicyError,
    ResolvedChain,
    StatementExpired,
    UnknownAnchor,
    UntrustedStatement,
    UrlPrefixes,
    validate_chain,
)
from trust.federation.statements import unverified_payload
from trust.jws import UnknownKey, UnsupportedToken, sign_compact
from trust.keys import PublicKey, SigningKey

NOW = 1_790_000_000
YRD, HZ, SZ = "http://127.0.0.1:9100", "http://127.0.0.1:9101", "http://127.0.0.1:9102"
JJJ, BJ, TJ = "http://127.0.0.1:9103", "http://127.0.0.1:9104", "http://127.0.0.1:9105"
GBA, GZ = "http://127.0.0.1:9106", "http://127.0.0.1:9107"
HZ_AMR, HZ_PSB = f"{HZ}/agencies/amr", f"{HZ}/agencies/psb"
BJ_AMR, BJ_PSB = f"{BJ}/agencies/amr", f"{BJ}/agencies/psb"
GZ_AMR = f"{GZ}/agencies/amr"
SZ_COUNTER = f"{SZ}/verifiers/counter-1"
BL, FOOD, EID, PERMIT = (
    "business-licence",
    "food-business-permit",
    "resident-eid",
    "industrial-production-permit",
)
YRD_ACCEPTS = Acceptance("yrd-accepts-jjj-2026", frozenset({BL, PERMIT}))
JJJ_ACCEPTS = Acceptance("jjj-accepts-yrd-2026", frozenset({BL, FOOD}))


def grant(*types: str) -> dict[str, Any]:
    return {"ecert_issuer": {"credential_types": {"subset_of": list(types)}}}


def issuer(*types: str, name: str = "") -> dict[str, Any]:
    return {"credential_types": list(types), **({"organization_name": name} if name else {})}


def add_region(
    sim: FederationSimulator, anchor: str, cities: dict[str, list[str]], name: str
) -> None:
    """An anchor vouching for its cities: types granted, each city's own namespace, one
    intermediate (the city) between the region and any leaf, issuers and verifiers only."""
    sim.anchor(anchor, federation_entity={"organization_name": name})
    for city, types in cities.items():
        sim.intermediate(city, superiors=[anchor])
        sim.vouch(
            anchor,
            city,
            metadata_policy=grant(*types),
            constraints=Constraints(
                max_path_length=1,
                naming_constraints=NamingConstraints.host_of(city),  # None: an IP literal
                url_prefixes=UrlPrefixes(permitted=(city,)),
                allowed_entity_types=frozenset({"ecert_issuer", "ecert_verifier"}),
            ),
        )


def add_agency(sim: FederationSimulator, agency: str, city: str, *types: str) -> None:
    sim.leaf(agency, superiors=[city], ecert_issuer=issuer(*types))
    sim.vouch(city, agency, metadata_policy=grant(*types))


def federation() -> FederationSimulator:
    sim = FederationSimulator(now=NOW)
    add_region(sim, YRD, {HZ: [BL, FOOD, EID], SZ: [BL, FOOD]}, "长三角")
    add_region(sim, JJJ, {BJ: [BL, PERMIT, EID], TJ: [BL]}, "京津冀")
    add_agency(sim, HZ_AMR, HZ, BL, FOOD)
    add_agency(sim, HZ_PSB, HZ, EID)
    add_agency(sim, BJ_AMR, BJ, BL, PERMIT)
    add_agency(sim, BJ_PSB, BJ, EID)
    sim.leaf(SZ_COUNTER, superiors=[SZ], ecert_verifier={"organization_name": "苏州市政务服务中心"})
    sim.cross_certify(YRD, JJJ, acceptance=YRD_ACCEPTS)
    sim.cross_certify(JJJ, YRD, acceptance=JJJ_ACCEPTS)
    return sim


def add_third_region(sim: FederationSimulator, *, acceptance: Acceptance | None) -> None:
    """粤港澳 (anchor 9106, 广州 9107), vouched for by 京津冀 only."""
    add_region(sim, GBA, {GZ: [BL]}, "粤港澳")
    add_agency(sim, GZ_AMR, GZ, BL)
    if acceptance is None:
        sim.entities[GBA].superiors.append(JJJ)
        sim.vouch(JJJ, GBA, constraints=Constraints(max_path_length=2))
    else:
        sim.cross_certify(JJJ, GBA, acceptance=acceptance)


def validate(sim: FederationSimulator, *path: str, anchor: str = YRD) -> ResolvedChain:
    return validate_chain(sim.chain(*path), trust_anchors=sim.trust_anchors(anchor), now=NOW)


# --- Valid chains -----------------------------------------------------------------------------


def test_three_level_chain_validates_and_yields_merged_metadata() -> None:
    sim = federation()
    sim.vouch(HZ, HZ_AMR, metadata={"ecert_issuer": {"organization_name": "杭州市市场监督管理局"}})
    tokens = sim.chain(HZ_AMR, HZ, YRD)

    resolved = validate_chain(tokens, trust_anchors=sim.trust_anchors(YRD), now=NOW)

    assert resolved.leaf_id == HZ_AMR
    assert resolved.anchor_id == YRD
    assert resolved.path == (HZ_AMR, HZ, YRD)
    assert resolved.metadata == {
        "ecert_issuer": {
            "credential_types": [BL, FOOD],
            "organization_name": "杭州市市场监督管理局",  # from the city's statement (§3.1)
        }
    }
    assert resolved.credential_types == resolved.accepted_types == {BL, FOOD}
    assert resolved.acceptance is None
    assert resolved.keys == tuple(k.public for k in sim.entities[HZ_AMR].keys)
    assert resolved.exp == NOW + 3600
    assert resolved.is_fresh(NOW)
    assert not resolved.is_fresh(NOW + 3600)
    assert resolved.chain.tokens == tuple(tokens)
    assert resolved.chain.path == resolved.path


def test_chain_expires_with_its_earliest_statement() -> None:
    sim = federation()
    sim.vouch(YRD, HZ, exp=NOW + 600)
    assert validate(sim, HZ_AMR, HZ, YRD).exp == NOW + 600


def test_verifier_leaf_validates_without_credential_types() -> None:
    resolved = validate(federation(), SZ_COUNTER, SZ, YRD)
    assert resolved.entity_types == {"ecert_verifier"}
    assert resolved.credential_types == frozenset()


def test_cross_region_chain_carries_the_acceptance() -> None:
    sim = federation()
    licence = validate(sim, BJ_AMR, BJ, JJJ, YRD)
    assert licence.path == (BJ_AMR, BJ, JJJ, YRD)
    assert licence.acceptance == YRD_ACCEPTS
    assert licence.credential_types == licence.accepted_types == {BL, PERMIT}

    e_id = validate(sim, BJ_PSB, BJ, JJJ, YRD)
    assert e_id.credential_types == {EID}
    assert e_id.accepted_types == frozenset()  # the verifier answers NOT_ACCEPTED_BY_POLICY
    assert e_id.acceptance is not None
    assert e_id.acceptance.policy == "yrd-accepts-jjj-2026"


def test_cross_region_the_other_way() -> None:
    resolved = validate(federation(), HZ_AMR, HZ, YRD, JJJ, anchor=JJJ)
    assert resolved.acceptance == JJJ_ACCEPTS
    assert resolved.accepted_types == {BL, FOOD}


# --- subset_of narrows, it does not fail the chain (§6.1.3.1.5, §6.1.4.1) ----------------------

SZ_PSB = f"{SZ}/agencies/psb"


def test_a_type_the_city_grants_but_its_region_did_not_is_narrowed_away_not_the_chain() -> None:
    sim = federation()  # 长三角 granted 苏州 BL and FOOD only
    sim.leaf(SZ_PSB, superiors=[SZ], ecert_issuer=issuer(BL, EID))
    sim.vouch(SZ, SZ_PSB, metadata_policy=grant(BL, EID))

    resolved = validate(sim, SZ_PSB, SZ, YRD)

    assert resolved.metadata["ecert_issuer"]["credential_types"] == [BL]
    assert resolved.credential_types == resolved.accepted_types == {BL}
    assert resolved.not_granted() == {EID: (YRD,)}
    across = validate(sim, SZ_PSB, SZ, YRD, JJJ, anchor=JJJ)  # and in the other region
    assert across.accepted_types == {BL}


def test_a_leaf_claiming_beyond_its_own_grant_keeps_the_granted_types() -> None:
    sim = federation()
    sim.entities[HZ_AMR].metadata.update(ecert_issuer=issuer(BL, FOOD, EID))
    resolved = validate(sim, HZ_AMR, HZ, YRD)
    assert resolved.credential_types == {BL, FOOD}
    assert resolved.not_granted() == {EID: (HZ,)}


def test_disjoint_grants_leave_no_type_but_a_valid_chain() -> None:
    sim = federation()
    sim.leaf(SZ_PSB, superiors=[SZ], ecert_issuer=issuer(EID))
    sim.vouch(SZ, SZ_PSB, metadata_policy=grant(EID))
    resolved = validate(sim, SZ_PSB, SZ, YRD)
    assert resolved.metadata["ecert_issuer"]["credential_types"] == []  # §6.1.3.1.5: may be []
    assert resolved.credential_types == frozenset()
    assert resolved.not_granted() == {EID: (YRD,)}


def test_no_grant_anywhere_authorises_nothing_though_the_metadata_resolves() -> None:
    sim = federation()
    sim.vouch(YRD, HZ, metadata_policy=None)
    sim.vouch(HZ, HZ_AMR, metadata_policy=None)
    resolved = validate(sim, HZ_AMR, HZ, YRD)
    assert resolved.metadata["ecert_issuer"]["credential_types"] == [BL, FOOD]  # §6.1.4.2
    assert not resolved.granted
    assert resolved.credential_types == frozenset()  # our rule: fail closed
    assert resolved.not_granted() == {BL: (HZ, YRD), FOOD: (HZ, YRD)}


# --- Every refusal, with its reason -----------------------------------------------------------

Case = Callable[[FederationSimulator], tuple[list[str], dict[str, list[PublicKey]]]]


def _chain(*path: str, anchor: str = YRD) -> Case:
    return lambda sim: (sim.chain(*path), sim.trust_anchors(anchor))


def _after(change: Callable[[FederationSimulator], object], *path: str) -> Case:
    def case(sim: FederationSimulator) -> tuple[list[str], dict[str, list[PublicKey]]]:
        change(sim)
        return _chain(*path or (HZ_AMR, HZ, YRD))(sim)

    return case


def _replace(index: int, make: Callable[[FederationSimulator], str]) -> Case:
    def case(sim: FederationSimulator) -> tuple[list[str], dict[str, list[PublicKey]]]:
        tokens = sim.chain(HZ_AMR, HZ, YRD)
        tokens[index] = make(sim)
        return tokens, sim.trust_anchors(YRD)

    return case


def _retyped(sim: FederationSimulator) -> str:
    payload = unverified_payload(sim.statement(HZ, HZ_AMR))
    return sign_compact(payload, sim.entities[HZ].keys[0], typ="JWT")


def _outsider(sim: FederationSimulator) -> None:
    fake = f"{SZ}/agencies/fake"
    sim.leaf(fake, superiors=[HZ], ecert_issuer=issuer(BL))
    sim.vouch(HZ, fake, metadata_policy=grant(BL))


def _legacy_outsider(sim: FederationSimulator) -> None:
    """As above, under the URL prefix our gateways used to put in naming_constraints."""
    _outsider(sim)
    legacy = Constraints(naming_constraints=NamingConstraints(permitted=(HZ,)))
    sim.vouch(YRD, HZ, metadata_policy=grant(BL, FOOD, EID), constraints=legacy)


def _district(sim: FederationSimulator) -> None:
    sim.intermediate(f"{HZ}/districts/xihu", superiors=[HZ])
    add_agency(sim, f"{HZ}/districts/xihu/agencies/amr", f"{HZ}/districts/xihu", BL)
    sim.vouch(HZ, f"{HZ}/districts/xihu", metadata_policy=grant(BL))


def _looping(sim: FederationSimulator) -> tuple[list[str], dict[str, list[PublicKey]]]:
    sim.vouch(HZ, YRD)
    tokens = [
        sim.configuration(HZ_AMR),
        sim.statement(HZ, HZ_AMR),
        sim.statement(YRD, HZ),
        sim.statement(HZ, YRD),
        sim.statement(YRD, HZ),
        sim.configuration(YRD),
    ]
    return tokens, sim.trust_anchors(YRD)


def _set_exp(entity: str, exp: int) -> Callable[[FederationSimulator], None]:
    def change(sim: FederationSimulator) -> None:
        sim.entities[entity].exp = exp

    return change


REFUSED: dict[str, tuple[Case, type[DataError], str]] = {
    "forged subordinate statement (signed by a key nobody lists)": (
        _after(lambda sim: sim.vouch(HZ, HZ_AMR, signer=SigningKey.generate())),
        UntrustedStatement,
        f"statement 1 of the chain is not signed by a key of {HZ} as {YRD} vouches for them",
    ),
    "forged city statement": (
        _after(lambda sim: sim.vouch(YRD, HZ, signer=SigningKey.generate())),
        UntrustedStatement,
        f"statement 2 of the chain is not signed by a key of {YRD} as {YRD} vouches for them",
    ),
    "leaf signs with a key its city does not vouch for": (
        _after(lambda sim: sim.vouch(HZ, HZ_AMR, jwks=[SigningKey.generate().public])),
        UntrustedStatement,
        f"statement 0 of the chain is not signed by a key of {HZ_AMR} as {HZ} vouches",
    ),
    "expired subordinate statement": (
        _after(lambda sim: sim.vouch(YRD, HZ, exp=NOW - 1)),
        StatementExpired,
        f"statement by {YRD} about {HZ} expired at {NOW - 1}, now is {NOW}",
    ),
    "expired leaf configuration": (
        _after(_set_exp(HZ_AMR, NOW - 1)),
        StatementExpired,
        f"statement by {HZ_AMR} about {HZ_AMR} expired",
    ),
    "expired anchor configuration": (
        _after(_set_exp(YRD, NOW)),
        StatementExpired,
        f"statement by {YRD} about {YRD} expired",
    ),
    "city vouches for an agency outside its URL prefix": (
        _after(_outsider, f"{SZ}/agencies/fake", HZ, YRD),
        ConstraintViolation,
        f"ecert_url_prefixes set by {YRD}: {SZ}/agencies/fake is outside the permitted "
        f"subtrees ['{HZ}']",
    ),
    "the same, under a statement of ours from before ecert_url_prefixes": (
        _after(_legacy_outsider, f"{SZ}/agencies/fake", HZ, YRD),
        ConstraintViolation,
        f"naming_constraints set by {YRD}: {SZ}/agencies/fake is outside the permitted "
        f"subtrees ['{HZ}']",
    ),
    "region and city set conflicting values (§6.1.4.1)": (
        _after(
            lambda sim: (
                sim.vouch(YRD, HZ, metadata_policy={"ecert_issuer": {"uscc": {"value": "A"}}}),
                sim.vouch(HZ, HZ_AMR, metadata_policy={"ecert_issuer": {"uscc": {"value": "B"}}}),
            )
        ),
        PolicyError,
        f"metadata_policy.ecert_issuer.uscc (from {HZ}): value must equal the superior's 'A'",
    ),
    "leaf has an entity type the region does not allow": (
        _after(lambda sim: sim.entities[HZ_AMR].metadata.update(oauth_client={})),
        ConstraintViolation,
        f"allowed_entity_types set by {YRD}: {HZ_AMR} has entity type(s) ['oauth_client']",
    ),
    "path longer than max_path_length": (
        _after(_district, f"{HZ}/districts/xihu/agencies/amr", f"{HZ}/districts/xihu", HZ, YRD),
        ConstraintViolation,
        f"max_path_length 1 set by {YRD}: expected at most 1 intermediate(s)",
    ),
    "cross-region path longer than agreed": (
        _after(lambda sim: add_third_region(sim, acceptance=None), GZ_AMR, GZ, GBA, JJJ, YRD),
        ConstraintViolation,
        f"max_path_length 2 set by {YRD}: expected at most 2 intermediate(s) between it and "
        f"{GZ_AMR}, found 3",
    ),
    "transitive cross-region trust": (
        _after(
            lambda sim: add_third_region(sim, acceptance=JJJ_ACCEPTS), GZ_AMR, GZ, GBA, JJJ, YRD
        ),
        ChainError,
        f"cross-region statement by {JJJ} about {GBA} is honoured only from the trust anchor "
        f"({YRD}) itself: no transitive trust",
    ),
    "loop in the chain": (
        _looping,
        ChainError,
        f"loop in the trust chain: ['{YRD}', '{HZ}'] appear twice",
    ),
    "unknown anchor": (
        _chain(HZ_AMR, HZ, YRD, anchor=JJJ),
        UnknownAnchor,
        f"chain ends at {YRD}, expected one of the configured trust anchors ['{JJJ}']",
    ),
    "anchor key not pinned": (
        lambda sim: (sim.chain(HZ_AMR, HZ, YRD), {YRD: [SigningKey.generate().public]}),
        UntrustedStatement,
        f"trust anchor {YRD}'s entity configuration does not verify with its 1 pinned key(s)",
    ),
    "wrong typ": (
        _replace(1, _retyped),
        UnsupportedToken,
        "token typ must be entity-statement+jwt, found 'JWT'",
    ),
    "oversized token": (
        _replace(0, lambda sim: "a" * (MAX_STATEMENT_LENGTH + 1)),
        ChainError,
        f"compact JWS of at most {MAX_STATEMENT_LENGTH} characters",
    ),
    "leaf does not name its city as a superior": (
        _after(lambda sim: setattr(sim.entities[HZ_AMR], "superiors", [SZ])),
        ChainError,
        f"{HZ} vouches for {HZ_AMR}, but {HZ_AMR} names only ['{SZ}'] as its superiors",
    ),
    "statement about another agency in place": (
        _replace(1, lambda sim: sim.statement(HZ, HZ_PSB)),
        UntrustedStatement,
        f"statement 0 of the chain is not signed by a key of {HZ_PSB}",
    ),
    "configuration in place of a subordinate statement": (
        _replace(1, lambda sim: sim.configuration(HZ)),
        ChainError,
        f"statement 1 must be a subordinate statement by {HZ}, found its entity configuration",
    ),
    "chain ends with a subordinate statement": (
        lambda sim: (sim.chain(HZ_AMR, HZ, YRD)[:-1], sim.trust_anchors(YRD)),
        ChainError,
        "expected the last statement to be a trust anchor's entity configuration",
    ),
    "too short": (
        lambda sim: ([sim.configuration(HZ_AMR), sim.configuration(YRD)], sim.trust_anchors(YRD)),
        ChainError,
        "expected at least 3 statements",
    ),
}


@pytest.mark.parametrize("case", REFUSED, ids=list(REFUSED))
def test_refused_chain(case: str) -> None:
    make, error, fragment = REFUSED[case]
    tokens, anchors = make(federation())
    with pytest.raises(error) as info:
        validate_chain(tokens, trust_anchors=anchors, now=NOW)
    assert fragment in str(info.value)


def test_forged_statement_keeps_the_signature_error_as_cause() -> None:
    sim = federation()
    sim.vouch(HZ, HZ_AMR, signer=SigningKey.generate())
    with pytest.raises(UntrustedStatement) as info:
        validate(sim, HZ_AMR, HZ, YRD)
    assert isinstance(info.value.__cause__, UnknownKey)


@pytest.mark.parametrize(
    ("max_depth", "fragment"),
    [
        (1, "chain has 2 subordinate statements, at most 1 allowed"),
        (0, "max_depth must be from 1 to 8, found 0"),
        (9, "max_depth must be from 1 to 8, found 9"),
    ],
)
def test_max_depth(max_depth: int, fragment: str) -> None:
    sim = federation()
    with pytest.raises(ChainError) as info:
        validate_chain(
            sim.chain(HZ_AMR, HZ, YRD),
            trust_anchors=sim.trust_anchors(YRD),
            now=NOW,
            max_depth=max_depth,
        )
    assert fragment in str(info.value)


def test_a_single_token_string_is_not_a_chain() -> None:
    sim = federation()
    with pytest.raises(ChainError, match="expected a sequence of compact JWS strings"):
        validate_chain(sim.configuration(HZ), trust_anchors=sim.trust_anchors(YRD), now=NOW)


# --- Only our errors on any input -------------------------------------------------------------

_SIM = federation()
_POOL = [_SIM.configuration(e) for e in (HZ_AMR, HZ, YRD, JJJ, BJ_AMR)] + [
    _SIM.statement(sup, sub) for sup, sub in ((HZ, HZ_AMR), (YRD, HZ), (JJJ, YRD), (YRD, JJJ))
]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(_POOL), st.text(max_size=40)), max_size=7))
def test_validate_chain_raises_only_our_errors(tokens: list[str]) -> None:
    with contextlib.suppress(DataError):
        validate_chain(tokens, trust_anchors=_SIM.trust_anchors(YRD, JJJ), now=NOW)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(_POOL), min_size=3, max_size=6))
def test_only_well_linked_chains_validate(tokens: list[str]) -> None:
    try:
        resolved = validate_chain(tokens, trust_anchors=_SIM.trust_anchors(YRD, JJJ), now=NOW)
    except DataError:
        return
    assert resolved.chain.tokens == tuple(tokens)
    assert len(set(resolved.path)) == len(resolved.path)
