"""Entity Statements (§3): round trips, entity ids, claim placement, bounds, refused tokens."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trust.encoding import b64url_encode
from trust.errors import DataError
from trust.federation import (
    ACCEPTANCE_CLAIM,
    MAX_STATEMENT_LENGTH,
    Acceptance,
    ChainError,
    Constraints,
    MalformedStatement,
    PolicyError,
    StatementExpired,
    UntrustedStatement,
    check_entity_id,
    entity_configuration_url,
    fetch_url,
    sign_entity_statement,
    verify_entity_configuration,
    verify_entity_statement,
)
from trust.jws import MalformedToken, UnknownKey, UnsupportedToken, sign_compact
from trust.keys import EDDSA, SigningKey

NOW = 1_790_000_000
REGION = "http://127.0.0.1:9100"
CITY = "http://127.0.0.1:9101"
AGENCY = "http://127.0.0.1:9101/agencies/ag-1234"
REGION_KEY = SigningKey.generate()
CITY_KEY = SigningKey.generate()
CITY_KEY_2 = SigningKey.generate(EDDSA)
OTHER_KEY = SigningKey.generate()
FETCH = {"federation_entity": {"federation_fetch_endpoint": f"{CITY}/fetch"}}


def _claims(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "iss": CITY,
        "sub": CITY,
        "iat": NOW - 60,
        "exp": NOW + 3600,
        "jwks": [CITY_KEY.public, CITY_KEY_2.public],
        "key": CITY_KEY,
        "metadata": FETCH,
        "authority_hints": [REGION],
    }
    return {**base, **overrides}


def _forge(
    payload: dict[str, Any], key: SigningKey = CITY_KEY, typ: str = "entity-statement+jwt"
) -> str:
    return sign_compact(payload, key, typ=typ)


def _configuration_payload(**overrides: Any) -> dict[str, Any]:
    payload = {
        "iss": CITY,
        "sub": CITY,
        "iat": NOW - 60,
        "exp": NOW + 3600,
        "jwks": {"keys": [CITY_KEY.public.jwk]},
        "authority_hints": [REGION],
    }
    payload.update(overrides)
    return {k: v for k, v in payload.items() if v is not None}


# --- Round trips ------------------------------------------------------------------------------


def test_entity_configuration_round_trip() -> None:
    token = sign_entity_statement(**_claims())
    statement = verify_entity_statement(
        token, keys=[CITY_KEY.public], now=NOW, expected_iss=CITY, expected_sub=CITY
    )
    assert statement.is_configuration
    assert statement.jwks == (CITY_KEY.public, CITY_KEY_2.public)
    assert statement.authority_hints == (REGION,)
    assert statement.fetch_endpoint == f"{CITY}/fetch"
    assert statement.signed_with == CITY_KEY.public
    assert statement.token == token
    assert verify_entity_configuration(token, now=NOW, expected_sub=CITY) == statement


def test_subordinate_statement_round_trip_with_every_claim() -> None:
    token = sign_entity_statement(
        iss=REGION,
        sub=CITY,
        iat=NOW - 60,
        exp=NOW + 3600,
        jwks=[CITY_KEY.public],
        key=REGION_KEY,
        metadata={"ecert_issuer": {"organization_name": "杭州市"}},
        metadata_policy={"ecert_issuer": {"credential_types": {"subset_of": ["business-licence"]}}},
        constraints=Constraints(max_path_length=1),
        acceptance=Acceptance("yrd-jjj", frozenset({"business-licence"})),
        source_endpoint=f"{REGION}/fetch",
    )
    statement = verify_entity_statement(token, keys=[REGION_KEY.public], now=NOW)
    assert not statement.is_configuration
    assert statement.metadata == {"ecert_issuer": {"organization_name": "杭州市"}}
    assert statement.metadata_policy is not None
    assert statement.metadata_policy.to_claim() == {
        "ecert_issuer": {"credential_types": {"subset_of": ["business-licence"]}}
    }
    assert statement.constraints == Constraints(max_path_length=1)
    assert statement.acceptance == Acceptance("yrd-jjj", frozenset({"business-licence"}))
    assert statement.source_endpoint == f"{REGION}/fetch"
    assert statement.authority_hints == ()


def test_an_eddsa_federation_key_verifies_too() -> None:
    token = sign_entity_statement(**_claims(key=CITY_KEY_2))
    assert verify_entity_configuration(token, now=NOW).signed_with == CITY_KEY_2.public


def test_endpoint_urls() -> None:
    assert entity_configuration_url(CITY) == f"{CITY}/.well-known/openid-federation"
    assert fetch_url(f"{CITY}/fetch", AGENCY) == (
        f"{CITY}/fetch?sub=http%3A%2F%2F127.0.0.1%3A9101%2Fagencies%2Fag-1234"
    )


# --- Entity identifiers -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "entity_id",
    [
        "https://ecert.hangzhou.gov.cn",
        "https://ecert.hangzhou.gov.cn/agencies/ag-1",
        "https://ecert.example:8443",
        "http://127.0.0.1:9101",
        "http://localhost:9101/agencies/a_b.c~d",
        "http://[::1]:9101",
        "https://10.0.0.1",
    ],
)
def test_valid_entity_ids(entity_id: str) -> None:
    assert check_entity_id(entity_id) == entity_id


@pytest.mark.parametrize(
    ("entity_id", "why"),
    [
        ("http://ecert.hangzhou.gov.cn", "http off loopback"),
        ("ftp://ecert.example", "other scheme"),
        ("https://ECERT.example", "upper-case host"),
        ("HTTPS://ecert.example", "upper-case scheme"),
        ("https://ecert.example/", "trailing slash"),
        ("https://ecert.example/a/", "trailing slash on a path"),
        ("https://ecert.example/a/../b", "dot segment"),
        ("https://ecert.example/%2e%2e/b", "percent escape"),
        ("https://ecert.example/a?x=1", "query"),
        ("https://ecert.example/a#f", "fragment"),
        ("https://user@ecert.example", "user info"),
        ("https://ecert.example:", "empty port"),
        ("https://ecert.example:0", "port zero"),
        ("https://ecert.example:99999", "port out of range"),
        ("https://ecert..example", "empty label"),
        ("https://-ecert.example", "label starting with a hyphen"),
        ("https://127.1", "numeric last label"),
        ("https://[::1", "broken IPv6 literal"),
        ("https://[0:0::1]", "IPv6 not compressed"),
        ("https://杭州.example", "non-ASCII"),
        ("https://ecert.example/a b", "space"),
        ("https:///a", "no host"),
        ("https://" + "a" * 600 + ".example", "too long"),
        ("", "empty"),
    ],
)
def test_invalid_entity_ids(entity_id: str, why: str) -> None:
    with pytest.raises(MalformedStatement, match="entity identifier must be an https URL"):
        check_entity_id(entity_id)


def test_non_string_entity_id() -> None:
    with pytest.raises(MalformedStatement, match="found 42"):
        check_entity_id(42)


# --- Refused statements: one case per rule ----------------------------------------------------

REFUSED: dict[str, tuple[Callable[[], str], type[Exception], str]] = {
    "expired": (
        lambda: sign_entity_statement(**_claims(iat=NOW - 7200, exp=NOW - 1)),
        StatementExpired,
        f"statement by {CITY} about {CITY} expired at {NOW - 1}, now is {NOW}",
    ),
    "expires exactly now": (
        lambda: sign_entity_statement(**_claims(exp=NOW)),
        StatementExpired,
        "expired at",
    ),
    "issued in the future": (
        lambda: sign_entity_statement(**_claims(iat=NOW + 61, exp=NOW + 3600)),
        MalformedStatement,
        "in the future",
    ),
    "wrong typ": (
        lambda: _forge(_configuration_payload(), typ="JWT"),
        UnsupportedToken,
        "token typ must be entity-statement+jwt, found 'JWT'",
    ),
    "statuslist typ": (
        lambda: _forge(_configuration_payload(), typ="statuslist+jwt"),
        UnsupportedToken,
        "found 'statuslist+jwt'",
    ),
    "oversized token": (
        lambda: _forge(_configuration_payload(pad="x" * MAX_STATEMENT_LENGTH)),
        MalformedToken,
        f"at most {MAX_STATEMENT_LENGTH} allowed",
    ),
    "signed by an unlisted key": (
        lambda: _forge(_configuration_payload(), key=OTHER_KEY),
        UnknownKey,
        "no trusted ES256 key has kid",
    ),
    "short kid": (
        lambda: sign_compact(
            _configuration_payload(),
            CITY_KEY,
            typ="entity-statement+jwt",
            kid=CITY_KEY.public.short_kid,
        ),
        UnknownKey,
        "no trusted ES256 key",
    ),
    "alg none": (
        lambda: ".".join(
            [
                b64url_encode(b'{"alg":"none","kid":"k","typ":"entity-statement+jwt"}'),
                b64url_encode(json.dumps(_configuration_payload()).encode()),
                "",
            ]
        ),
        UnsupportedToken,
        "algorithm must be one of",
    ),
    "missing jwks": (
        lambda: _forge(_configuration_payload(jwks=None)),
        MalformedStatement,
        "jwks must be a JWK Set with 1 to 16 keys, found None",
    ),
    "17 keys": (
        lambda: _forge(
            _configuration_payload(
                jwks={"keys": [CITY_KEY.public.jwk] + [SigningKey.generate().public.jwk] * 16}
            )
        ),
        MalformedStatement,
        "1 to 16 keys",
    ),
    "repeated kid": (
        lambda: _forge(_configuration_payload(jwks={"keys": [CITY_KEY.public.jwk] * 2})),
        MalformedStatement,
        "must not repeat a kid",
    ),
    "kid not the thumbprint": (
        lambda: _forge(
            _configuration_payload(jwks={"keys": [{**CITY_KEY.public.jwk, "kid": "mine"}]})
        ),
        MalformedStatement,
        "is not its RFC 7638 thumbprint",
    ),
    "jwks key not an object": (
        lambda: _forge(_configuration_payload(jwks={"keys": ["x"]})),
        MalformedStatement,
        "each jwks key must be a JSON object",
    ),
    "configuration signed with a key outside its jwks": (
        lambda: _forge(
            _configuration_payload(jwks={"keys": [CITY_KEY_2.public.jwk]}), key=CITY_KEY
        ),
        UntrustedStatement,
        "expected a key in its own jwks",
    ),
    "nine authority hints": (
        lambda: _forge(
            _configuration_payload(authority_hints=[f"https://r{i}.example" for i in range(9)])
        ),
        MalformedStatement,
        "1 to 8 entity identifiers",
    ),
    "empty authority hints": (
        lambda: _forge(_configuration_payload(authority_hints=[])),
        MalformedStatement,
        "1 to 8",
    ),
    "authority hint to itself": (
        lambda: _forge(_configuration_payload(authority_hints=[CITY])),
        MalformedStatement,
        "distinct superiors other than",
    ),
    "metadata policy in a configuration": (
        lambda: _forge(_configuration_payload(metadata_policy={})),
        MalformedStatement,
        "must not carry ['metadata_policy']",
    ),
    "constraints in a configuration": (
        lambda: _forge(_configuration_payload(constraints={})),
        MalformedStatement,
        "must not carry ['constraints']",
    ),
    "authority hints in a subordinate statement": (
        lambda: _forge(_configuration_payload(sub=AGENCY)),
        MalformedStatement,
        "must not carry authority_hints",
    ),
    "null metadata parameter": (
        lambda: _forge(_configuration_payload(metadata={"ecert_issuer": {"logo_uri": None}})),
        MalformedStatement,
        "must not be null",
    ),
    "fetch endpoint with a query": (
        lambda: _forge(
            _configuration_payload(
                metadata={"federation_entity": {"federation_fetch_endpoint": f"{CITY}/f?x=1"}}
            )
        ),
        MalformedStatement,
        "federation_fetch_endpoint must be an https URL",
    ),
    "credential types not names": (
        lambda: _forge(
            _configuration_payload(metadata={"ecert_issuer": {"credential_types": [1]}})
        ),
        MalformedStatement,
        "credential_types must be a printable ASCII name",
    ),
    "iat as a float": (
        lambda: _forge(_configuration_payload(iat=float(NOW))),
        MalformedStatement,
        "iat and exp must be integers from 0 to 2**53 - 1",
    ),
    "exp as a boolean": (
        lambda: _forge(_configuration_payload(exp=True)),
        MalformedStatement,
        "iat and exp must be integers from 0 to 2**53 - 1",
    ),
    "unknown critical claim": (
        lambda: _forge(_configuration_payload(crit=["jti"], jti="1")),
        MalformedStatement,
        "crit must list claims this gateway understands",
    ),
    "spec claim marked critical": (
        lambda: _forge(_configuration_payload(crit=["iss"])),
        MalformedStatement,
        "crit must list",
    ),
    "acceptance not marked critical": (
        lambda: _forge(
            {
                **_configuration_payload(sub=AGENCY, authority_hints=None),
                ACCEPTANCE_CLAIM: {"policy": "p", "credential_types": []},
            }
        ),
        MalformedStatement,
        f"{ACCEPTANCE_CLAIM} must be listed in crit",
    ),
    "critical policy operator": (
        lambda: _forge(
            {
                **_configuration_payload(sub=AGENCY, authority_hints=None),
                "metadata_policy_crit": ["regexp"],
            }
        ),
        PolicyError,
        "does not implement: ['regexp']",
    ),
    "payload not an object": (
        lambda: sign_compact([1, 2], CITY_KEY, typ="entity-statement+jwt"),  # type: ignore[arg-type]
        MalformedToken,
        "payload must be a JSON object",
    ),
}


@pytest.mark.parametrize("case", REFUSED, ids=list(REFUSED))
def test_refused_statement(case: str) -> None:
    make, error, fragment = REFUSED[case]
    token = make()
    with pytest.raises(error) as info:
        verify_entity_statement(token, keys=[CITY_KEY.public, CITY_KEY_2.public], now=NOW)
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("iss", "sub", "fragment"),
    [
        (REGION, None, f"expected a statement by {REGION} about any subject"),
        (None, AGENCY, f"found one by {CITY} about {CITY}"),
    ],
    ids=["other issuer", "other subject"],
)
def test_statement_from_or_about_someone_else(
    iss: str | None, sub: str | None, fragment: str
) -> None:
    token = sign_entity_statement(**_claims())
    with pytest.raises(ChainError) as info:
        verify_entity_statement(
            token, keys=[CITY_KEY.public], now=NOW, expected_iss=iss, expected_sub=sub
        )
    assert fragment in str(info.value)


def test_a_subordinate_statement_is_not_a_configuration() -> None:
    token = sign_entity_statement(
        iss=CITY, sub=AGENCY, iat=NOW, exp=NOW + 60, jwks=[CITY_KEY.public], key=CITY_KEY
    )
    with pytest.raises(ChainError, match="expected an entity configuration"):
        verify_entity_configuration(token, now=NOW)


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"key": OTHER_KEY}, "must be signed with a key in its own jwks"),
        ({"exp": NOW - 120}, "with exp after iat"),
        ({"authority_hints": ["http://example.com"]}, "authority_hints must be an https URL"),
        ({"metadata": {"t": {"p": None}}}, "must not be null"),
    ],
    ids=["configuration with a foreign key", "exp before iat", "http hint", "null metadata"],
)
def test_signing_refuses_what_verification_would(overrides: dict[str, Any], fragment: str) -> None:
    with pytest.raises(MalformedStatement) as info:
        sign_entity_statement(**_claims(**overrides))
    assert fragment in str(info.value)


def test_signing_refuses_an_oversized_statement() -> None:
    big = {"ecert_issuer": {f"p{i}": "x" * 1000 for i in range(100)}}
    with pytest.raises(MalformedStatement, match="verifiers accept at most 65536"):
        sign_entity_statement(**_claims(metadata=big))


def test_acceptance_checks_itself() -> None:
    with pytest.raises(MalformedStatement, match="policy must be a printable ASCII name"):
        Acceptance("two words", frozenset())


# --- Only our errors on any input -------------------------------------------------------------

_json = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1), st.text(max_size=8)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=10,
)
_claim_names = st.sampled_from(
    [
        "iss", "sub", "iat", "exp", "jwks", "metadata", "metadata_policy", "constraints",
        "authority_hints", "crit", ACCEPTANCE_CLAIM, "source_endpoint", "metadata_policy_crit",
    ]
)  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_text_raises_only_our_errors(token: str) -> None:
    with contextlib.suppress(DataError):
        verify_entity_statement(token, keys=[CITY_KEY.public], now=NOW)
    with contextlib.suppress(DataError):
        verify_entity_configuration(token, now=NOW)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(_claim_names, _json, max_size=6))
def test_arbitrary_signed_claims_raise_only_our_errors(changes: dict[str, Any]) -> None:
    payload = {**_configuration_payload(), **changes}
    token = _forge(payload)
    with contextlib.suppress(DataError):
        verify_entity_statement(token, keys=[CITY_KEY.public], now=NOW)
