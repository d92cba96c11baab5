"""Endpoint responses (§8): subordinate listings, resolve responses, historical keys."""

from __future__ import annotations

import contextlib
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.trust.test_federation_chain import BJ_AMR, HZ, HZ_AMR, HZ_PSB, NOW, YRD, federation
from trust.errors import DataError
from trust.federation import (
    ChainError,
    HistoricalKey,
    MalformedStatement,
    StatementExpired,
    parse_subordinate_listing,
    resolve_chain,
    sign_historical_keys,
    sign_resolve_response,
    subordinate_listing,
    validate_chain,
    verify_historical_keys,
    verify_resolve_response,
)
from trust.federation.statements import unverified_payload
from trust.jws import UnknownKey, UnsupportedToken, sign_compact
from trust.keys import SigningKey

RESOLVER = YRD
RESOLVER_KEY = SigningKey.generate()
OLD_KEY, COMPROMISED_KEY = SigningKey.generate(), SigningKey.generate()

# --- §8.2 listing ------------------------------------------------------------------------------


def test_listing_round_trip() -> None:
    body = subordinate_listing([HZ_AMR, HZ_PSB])
    assert orjson.loads(body) == [HZ_AMR, HZ_PSB]
    assert parse_subordinate_listing(body) == (HZ_AMR, HZ_PSB)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"{", "listing is not JSON"),
        (b'{"a": 1}', "listing must be a JSON array"),
        (b'["http://example.com"]', "http only on loopback"),
        (orjson.dumps([HZ_AMR, HZ_AMR]), "must not repeat"),
        (orjson.dumps([HZ_AMR] * 3), "at most 2 ids"),
    ],
    ids=["not JSON", "not an array", "bad id", "repeated id", "too many"],
)
def test_malformed_listings(body: bytes, fragment: str) -> None:
    with pytest.raises(MalformedStatement) as info:
        parse_subordinate_listing(body, max_entries=2)
    assert fragment in str(info.value)


# --- §8.3 resolve response ----------------------------------------------------------------------


def _resolved() -> tuple[Any, Any]:
    sim = federation()
    resolved = resolve_chain(
        BJ_AMR, fetcher=sim.fetcher(), trust_anchors=sim.trust_anchors(YRD), now=NOW
    )
    return sim, resolved


def test_resolve_response_round_trip_and_revalidation() -> None:
    sim, resolved = _resolved()
    token = sign_resolve_response(iss=RESOLVER, resolved=resolved, iat=NOW, key=RESOLVER_KEY)

    plain = verify_resolve_response(
        token, keys=[RESOLVER_KEY.public], now=NOW, expected_iss=RESOLVER, expected_sub=BJ_AMR
    )
    assert (plain.iss, plain.sub, plain.iat, plain.exp) == (RESOLVER, BJ_AMR, NOW, resolved.exp)
    assert plain.metadata == resolved.metadata
    assert plain.trust_chain == resolved.chain.tokens
    assert plain.resolved is None

    checked = verify_resolve_response(
        token,
        keys=[RESOLVER_KEY.public],
        now=NOW,
        expected_iss=RESOLVER,
        trust_anchors=sim.trust_anchors(YRD),
    )
    assert checked.resolved is not None
    assert checked.resolved.acceptance == resolved.acceptance


def test_resolver_lying_about_metadata_is_caught_by_revalidation() -> None:
    sim, resolved = _resolved()
    payload = unverified_payload(
        sign_resolve_response(iss=RESOLVER, resolved=resolved, iat=NOW, key=RESOLVER_KEY),
        max_length=1 << 20,
    )
    payload["metadata"]["ecert_issuer"]["credential_types"].append("resident-eid")
    lying = sign_compact(payload, RESOLVER_KEY, typ="resolve-response+jwt")

    trusting = verify_resolve_response(
        lying, keys=[RESOLVER_KEY.public], now=NOW, expected_iss=RESOLVER
    )
    assert "resident-eid" in trusting.metadata["ecert_issuer"]["credential_types"]
    with pytest.raises(ChainError, match="does not match what its trust chain proves"):
        verify_resolve_response(
            lying,
            keys=[RESOLVER_KEY.public],
            now=NOW,
            expected_iss=RESOLVER,
            trust_anchors=sim.trust_anchors(YRD),
        )


def _resolve_payload(**changes: Any) -> dict[str, Any]:
    sim = federation()
    resolved = validate_chain(
        sim.chain(HZ_AMR, HZ, YRD), trust_anchors=sim.trust_anchors(YRD), now=NOW
    )
    token = sign_resolve_response(iss=RESOLVER, resolved=resolved, iat=NOW, key=RESOLVER_KEY)
    return {**unverified_payload(token, max_length=1 << 20), **changes}


@pytest.mark.parametrize(
    ("make", "error", "fragment"),
    [
        (
            lambda: sign_compact(_resolve_payload(), RESOLVER_KEY, typ="entity-statement+jwt"),
            UnsupportedToken,
            "token typ must be resolve-response+jwt",
        ),
        (
            lambda: sign_compact(
                _resolve_payload(), SigningKey.generate(), typ="resolve-response+jwt"
            ),
            UnknownKey,
            "no trusted ES256 key",
        ),
        (
            lambda: sign_compact(
                _resolve_payload(iss=HZ), RESOLVER_KEY, typ="resolve-response+jwt"
            ),
            ChainError,
            f"expected a resolve response by {RESOLVER}",
        ),
        (
            lambda: sign_compact(
                _resolve_payload(exp=NOW - 1, iat=NOW - 10),
                RESOLVER_KEY,
                typ="resolve-response+jwt",
            ),
            StatementExpired,
            "expired at",
        ),
        (
            lambda: sign_compact(
                _resolve_payload(trust_chain=["a"]), RESOLVER_KEY, typ="resolve-response+jwt"
            ),
            MalformedStatement,
            "trust_chain must be an array of 3 to 10",
        ),
        (
            lambda: sign_compact(
                _resolve_payload(metadata=None), RESOLVER_KEY, typ="resolve-response+jwt"
            ),
            MalformedStatement,
            "metadata must be an object",
        ),
    ],
    ids=["wrong typ", "unknown signer", "other resolver", "expired", "short chain", "no metadata"],
)
def test_refused_resolve_responses(make: Any, error: type[Exception], fragment: str) -> None:
    with pytest.raises(error) as info:
        verify_resolve_response(make(), keys=[RESOLVER_KEY.public], now=NOW, expected_iss=RESOLVER)
    assert fragment in str(info.value)


# --- §8.7 historical keys -----------------------------------------------------------------------

HISTORY = [
    HistoricalKey(key=OLD_KEY.public, iat=NOW - 2000, exp=NOW - 1000, reason=None),
    HistoricalKey(
        key=COMPROMISED_KEY.public,
        iat=NOW - 3000,
        exp=NOW + 5000,
        revoked_at=NOW - 500,
        reason="compromised",
    ),
]


def test_historical_keys_round_trip() -> None:
    token = sign_historical_keys(iss=HZ, iat=NOW, keys=HISTORY, key=RESOLVER_KEY)
    history = verify_historical_keys(token, keys=[RESOLVER_KEY.public], now=NOW, expected_iss=HZ)
    assert history.iss == HZ
    assert history.keys == tuple(HISTORY)
    payload = unverified_payload(token)
    assert payload["keys"][1]["revoked"] == {"revoked_at": NOW - 500, "reason": "compromised"}
    assert payload["keys"][1]["kid"] == COMPROMISED_KEY.kid


@pytest.mark.parametrize(
    ("kid", "at", "valid"),
    [
        ("old", NOW - 1500, True),
        ("old", NOW - 1000, False),  # expired keys sign nothing from exp on
        ("old", NOW - 2001, False),  # nor before they were issued
        ("compromised", NOW - 501, True),  # what it signed before the compromise stands
        ("compromised", NOW - 500, False),
        ("compromised", NOW, False),
    ],
)
def test_historical_key_validity(kid: str, at: int, valid: bool) -> None:
    key = HISTORY[0] if kid == "old" else HISTORY[1]
    assert key.valid_at(at) is valid


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"exp": NOW, "iat": NOW}, "must be after its start"),
        ({"exp": NOW, "reason": "compromised"}, "a reason needs revoked_at"),
        ({"exp": NOW, "revoked_at": NOW, "reason": "lost"}, "is one of"),
        ({"exp": -1}, "times must be integers"),
        ({"exp": NOW, "nbf": 1.5}, "times must be integers"),
    ],
    ids=["exp before start", "reason without revoked_at", "unknown reason", "negative", "float"],
)
def test_malformed_historical_keys(kwargs: dict[str, Any], fragment: str) -> None:
    with pytest.raises(MalformedStatement) as info:
        HistoricalKey(key=OLD_KEY.public, **kwargs)
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("payload", "error", "fragment"),
    [
        ({"iss": YRD, "iat": NOW, "keys": []}, ChainError, f"expected historical keys of {HZ}"),
        ({"iss": HZ, "iat": NOW, "keys": []}, MalformedStatement, "must list 1 to 64 keys"),
        ({"iss": HZ, "iat": NOW + 3600, "keys": []}, MalformedStatement, "in the future"),
        (
            {"iss": HZ, "iat": NOW, "keys": [OLD_KEY.public.jwk]},
            MalformedStatement,
            "exp must be an integer",
        ),
        (
            {"iss": HZ, "iat": NOW, "keys": [{**OLD_KEY.public.jwk, "exp": NOW, "revoked": 1}]},
            MalformedStatement,
            "revoked must be an object",
        ),
        (
            {"iss": HZ, "iat": NOW, "keys": [HISTORY[0].to_jwk(), HISTORY[0].to_jwk()]},
            MalformedStatement,
            "must not repeat a kid",
        ),
    ],
    ids=["other issuer", "no keys", "future", "no exp", "revoked not an object", "repeated kid"],
)
def test_refused_historical_keys(
    payload: dict[str, Any], error: type[Exception], fragment: str
) -> None:
    token = sign_compact(payload, RESOLVER_KEY, typ="jwk-set+jwt")
    with pytest.raises(error) as info:
        verify_historical_keys(token, keys=[RESOLVER_KEY.public], now=NOW, expected_iss=HZ)
    assert fragment in str(info.value)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=200))
def test_endpoint_parsers_raise_only_our_errors(text: str) -> None:
    with contextlib.suppress(DataError):
        verify_historical_keys(text, keys=[RESOLVER_KEY.public], now=NOW, expected_iss=HZ)
    with contextlib.suppress(DataError):
        verify_resolve_response(text, keys=[RESOLVER_KEY.public], now=NOW, expected_iss=HZ)
    with contextlib.suppress(DataError):
        parse_subordinate_listing(text.encode())
