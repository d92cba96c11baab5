"""Trust chain resolution (§10.1) through the in-memory fetcher: paths, loops, bounds, faults."""

from __future__ import annotations

import pytest

from tests.trust.federation_simulator import FederationSimulator, MemoryFetcher
from tests.trust.test_federation_chain import (
    BJ,
    BJ_AMR,
    BJ_PSB,
    BL,
    EID,
    FOOD,
    HZ,
    HZ_AMR,
    JJJ,
    JJJ_ACCEPTS,
    NOW,
    PERMIT,
    SZ,
    YRD,
    YRD_ACCEPTS,
    add_agency,
    federation,
    grant,
)
from trust.errors import FetchError
from trust.federation import (
    Acceptance,
    ChainError,
    MalformedStatement,
    ResolvedChain,
    StatementExpired,
    UnknownAnchor,
    entity_configuration_url,
    fetch_url,
    resolve_chain,
    sign_entity_statement,
)
from trust.jws import MalformedToken, UnknownKey
from trust.keys import SigningKey


def resolve(sim: FederationSimulator, leaf: str, *anchors: str, **kwargs: int) -> ResolvedChain:
    return resolve_chain(
        leaf, fetcher=sim.fetcher(), trust_anchors=sim.trust_anchors(*anchors), now=NOW, **kwargs
    )


def _fails(
    sim: FederationSimulator, leaf: str, *anchors: str, fetcher: MemoryFetcher | None = None,
    **kwargs: int,
) -> ChainError:  # fmt: skip
    with pytest.raises(ChainError) as info:
        resolve_chain(
            leaf,
            fetcher=fetcher or sim.fetcher(),
            trust_anchors=sim.trust_anchors(*anchors),
            now=NOW,
            **kwargs,
        )
    return info.value


def test_resolves_a_three_level_chain_fetching_each_document_once() -> None:
    sim = federation()
    fetcher = sim.fetcher()

    resolved = resolve_chain(HZ_AMR, fetcher=fetcher, trust_anchors=sim.trust_anchors(YRD), now=NOW)

    assert resolved.path == (HZ_AMR, HZ, YRD)
    assert resolved.credential_types == {BL, FOOD}
    assert resolved.acceptance is None
    assert dict(fetcher.calls) == {
        entity_configuration_url(HZ_AMR): 1,
        entity_configuration_url(HZ): 1,
        fetch_url(f"{HZ}/fetch", HZ_AMR): 1,
        entity_configuration_url(YRD): 1,
        fetch_url(f"{YRD}/fetch", HZ): 1,
    }


def test_resolves_across_regions_from_the_accepting_side() -> None:
    sim = federation()
    licence = resolve_chain(
        BJ_AMR, fetcher=sim.fetcher(), trust_anchors=sim.trust_anchors(YRD), now=NOW
    )
    assert licence.path == (BJ_AMR, BJ, JJJ, YRD)
    assert licence.acceptance == YRD_ACCEPTS
    assert licence.accepted_types == {BL, PERMIT}

    e_id = resolve_chain(
        BJ_PSB, fetcher=sim.fetcher(), trust_anchors=sim.trust_anchors(YRD), now=NOW
    )
    assert e_id.credential_types == {EID}
    assert e_id.accepted_types == frozenset()


def test_resolves_across_regions_the_other_way() -> None:
    sim = federation()
    resolved = resolve_chain(
        HZ_AMR, fetcher=sim.fetcher(), trust_anchors=sim.trust_anchors(JJJ), now=NOW
    )
    assert resolved.path == (HZ_AMR, HZ, YRD, JJJ)
    assert resolved.acceptance == JJJ_ACCEPTS


def test_own_region_is_preferred_when_both_anchors_are_trusted() -> None:
    sim = federation()
    resolved = resolve_chain(
        HZ_AMR, fetcher=sim.fetcher(), trust_anchors=sim.trust_anchors(YRD, JJJ), now=NOW
    )
    assert resolved.path == (HZ_AMR, HZ, YRD)


def _looped(*, with_way_out: bool) -> FederationSimulator:
    """city 1 names city 2 (and, with a way out, the region); city 2 names city 1."""
    sim = FederationSimulator(now=NOW)
    sim.anchor(YRD)
    c1, c2, leaf = HZ, SZ, f"{HZ}/verifiers/kiosk"
    sim.intermediate(c1, superiors=[c2, YRD] if with_way_out else [c2])
    sim.intermediate(c2, superiors=[c1])
    sim.leaf(leaf, superiors=[c1], ecert_verifier={})
    return sim


def test_loop_in_authority_hints_is_dropped_and_the_other_path_found() -> None:
    sim = _looped(with_way_out=True)
    resolved = resolve_chain(
        f"{HZ}/verifiers/kiosk",
        fetcher=sim.fetcher(),
        trust_anchors=sim.trust_anchors(YRD),
        now=NOW,
    )
    assert resolved.path == (f"{HZ}/verifiers/kiosk", HZ, YRD)


def test_loop_with_no_way_out_fails_naming_the_loop() -> None:
    error = _fails(_looped(with_way_out=False), f"{HZ}/verifiers/kiosk", YRD)
    assert [f.path for f in error.failures] == [(f"{HZ}/verifiers/kiosk", HZ, SZ, HZ)]
    assert f"loop: {HZ} is already on this path" in str(error)
    assert not error.unavailable


def test_unknown_anchor() -> None:
    sim = federation()
    sim.entities[YRD].superiors.clear()  # no cross-certification: 长三角 names no superiors
    error = _fails(sim, HZ_AMR, BJ)  # a verifier configured with a city as its only anchor
    assert isinstance(error.failures[-1].error, UnknownAnchor)
    assert f"{YRD} names no superiors and is not a configured trust anchor" in str(error)


def test_no_implicit_transitive_trust() -> None:
    """粤港澳 accepts 长三角, which accepts 京津冀: 粤港澳's verifiers still refuse 京津冀."""
    sim = federation()
    third = "http://127.0.0.1:9106"
    sim.anchor(third)
    sim.cross_certify(third, YRD, acceptance=Acceptance("gba-accepts-yrd", frozenset({BL})))
    assert resolve(sim, HZ_AMR, third).path == (HZ_AMR, HZ, YRD, third)

    error = _fails(sim, BJ_AMR, third)
    assert f"cross-region statement by {YRD} about {JJJ} is honoured only from the trust " in (
        str(error)
    )


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"max_depth": 1}, "path needs more than max_depth 1 statements"),
        ({"max_fetches": 3}, "fetch budget of 3 requests used up"),
        ({"max_depth": 0}, "expected max_depth from 1 to 8"),
        ({"max_fetches": 1000}, "max_fetches from 1 to 256"),
    ],
    ids=["depth", "fetch budget", "depth out of range", "budget out of range"],
)
def test_bounds(kwargs: dict[str, int], fragment: str) -> None:
    sim = federation()
    fetcher = sim.fetcher()
    error = _fails(sim, BJ_AMR, YRD, fetcher=fetcher, **kwargs)
    assert fragment in str(error)
    assert fetcher.total_calls <= kwargs.get("max_fetches", 256)


def test_peer_down_is_reported_as_unavailable() -> None:
    sim = federation()
    fetcher = sim.fetcher()
    fetcher.documents[entity_configuration_url(HZ)] = FetchError("connection refused")
    error = _fails(sim, HZ_AMR, YRD, fetcher=fetcher)
    assert error.unavailable
    assert f"{HZ_AMR} -> {HZ}: FetchError: connection refused" in str(error)


@pytest.mark.parametrize(
    ("body", "error_type", "fragment"),
    [
        (b"\xff\xfe", MalformedStatement, "is not a compact JWS"),
        (b"x" * 70_000, MalformedStatement, "expected at most 65536 bytes"),
        (b"not.a.jws", MalformedToken, "JWS header is not base64url JSON"),
    ],
    ids=["not ASCII", "oversized", "garbage"],
)
def test_garbage_from_a_peer(body: bytes, error_type: type[Exception], fragment: str) -> None:
    sim = federation()
    fetcher = sim.fetcher()
    fetcher.documents[fetch_url(f"{HZ}/fetch", HZ_AMR)] = body
    error = _fails(sim, HZ_AMR, YRD, fetcher=fetcher)
    assert not error.unavailable
    (failure,) = error.failures
    assert isinstance(failure.error, error_type)
    assert fragment in str(failure.error)


def test_forged_statement_at_a_fetch_endpoint() -> None:
    sim = federation()
    fetcher = sim.fetcher()
    forged = sign_entity_statement(
        iss=HZ,
        sub=HZ_AMR,
        iat=NOW,
        exp=NOW + 60,
        jwks=[k.public for k in sim.entities[HZ_AMR].keys],
        key=SigningKey.generate(),
        metadata_policy=grant(BL, FOOD, EID),
    )
    fetcher.documents[fetch_url(f"{HZ}/fetch", HZ_AMR)] = forged.encode()
    error = _fails(sim, HZ_AMR, YRD, fetcher=fetcher)
    assert isinstance(error.failures[0].error, UnknownKey)


def test_expired_statement_is_named() -> None:
    sim = federation()
    sim.vouch(YRD, HZ, exp=NOW - 1)
    error = _fails(sim, HZ_AMR, YRD)
    assert isinstance(error.failures[0].error, StatementExpired)


def test_fetch_endpoint_on_a_foreign_origin_is_refused() -> None:
    sim = federation()
    sim.entities[HZ].metadata["federation_entity"]["federation_fetch_endpoint"] = (
        "http://127.0.0.1:9999/fetch"
    )
    error = _fails(sim, HZ_AMR, YRD)
    assert f"{HZ}'s fetch endpoint must be on its own origin" in str(error)


def test_a_dead_superior_is_skipped_for_a_working_one() -> None:
    sim = federation()
    kiosk = f"{HZ}/verifiers/kiosk"
    sim.leaf(kiosk, superiors=[SZ, HZ], ecert_verifier={})  # 苏州 has no statement about it
    fetcher = sim.fetcher()
    del fetcher.documents[fetch_url(f"{SZ}/fetch", kiosk)]
    resolved = resolve_chain(kiosk, fetcher=fetcher, trust_anchors=sim.trust_anchors(YRD), now=NOW)
    assert resolved.path == (kiosk, HZ, YRD)
    # The region's configuration is fetched once although both paths lead to it.
    assert fetcher.calls[entity_configuration_url(YRD)] == 1


def test_a_valid_but_refused_chain_lists_its_reason() -> None:
    sim = federation()
    add_agency(sim, f"{HZ}/agencies/extra", HZ, BL)
    sim.entities[f"{HZ}/agencies/extra"].metadata["oauth_client"] = {}
    error = _fails(sim, f"{HZ}/agencies/extra", YRD)
    assert f"allowed_entity_types set by {YRD}: {HZ}/agencies/extra has entity type(s)" in str(
        error
    )


@pytest.mark.parametrize("leaf", ["not a url", "http://example.com", f"{HZ}/"])
def test_leaf_id_is_checked(leaf: str) -> None:
    with pytest.raises(ChainError, match="leaf_id must be an https URL"):
        resolve_chain(leaf, fetcher=MemoryFetcher(), trust_anchors={}, now=NOW)


def test_leaf_without_superiors() -> None:
    sim = FederationSimulator(now=NOW)
    sim.anchor(YRD)
    error = _fails(sim, YRD)
    assert f"{YRD} names no superiors (authority_hints)" in str(error)
