"""Trust Marks (OpenID Federation 1.0 §7, §7.3, §8.4): one test per validation rule, each
naming the error class a caller acts on; the verifier-role marks of our region anchors."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trust.encoding import b64url_decode, b64url_encode
from trust.federation import (
    ROLE_CLAIM,
    TRUST_MARK_TYP,
    DelegationUnsupported,
    IssuerNotListed,
    MalformedStatement,
    MalformedTrustMark,
    RoleGrant,
    TrustMarkError,
    TrustMarkExpired,
    UntrustedTrustMark,
    WrongSubject,
    check_role_marks,
    role_mark_type,
    role_of_mark_type,
    sign_entity_statement,
    sign_trust_mark,
    sign_trust_mark_status,
    verify_entity_configuration,
    verify_entity_statement,
    verify_trust_mark,
    verify_trust_mark_status,
)
from trust.jws import sign_compact
from trust.keys import SigningKey

NOW = 1_790_000_000
ANCHOR = "http://127.0.0.1:9100"
CITY = "http://127.0.0.1:9101"
DESK = f"{CITY}/verifiers/vf-0123456789"
OTHER_DESK = f"{CITY}/verifiers/vf-9999999999"
ANCHOR_KEY = SigningKey.generate()
THIEF_KEY = SigningKey.generate()
POLICE = role_mark_type(ANCHOR, "police-counter")
GRANT = RoleGrant(
    code="police-counter",
    name_zh="公安窗口",
    name_en="Police counter",
    may_request={"resident-eid": frozenset({"name", "id_number"})},
)
ISSUERS = {POLICE: (ANCHOR,)}


def _mark(**overrides: Any) -> str:
    args: dict[str, Any] = {
        "iss": ANCHOR,
        "sub": DESK,
        "trust_mark_type": POLICE,
        "iat": NOW - 60,
        "exp": NOW + 86_400,
        "key": ANCHOR_KEY,
        "role": GRANT,
    }
    return sign_trust_mark(**{**args, **overrides})


def _verify(token: str, **overrides: Any) -> Any:
    args: dict[str, Any] = {
        "trust_mark_issuers": ISSUERS,
        "issuer_keys": {ANCHOR: [ANCHOR_KEY.public]},
        "expected_sub": DESK,
        "now": NOW,
    }
    return verify_trust_mark(token, **{**args, **overrides})


def test_a_mark_by_the_listed_issuer_about_its_carrier_verifies() -> None:
    mark = _verify(_mark())
    assert (mark.iss, mark.sub, mark.trust_mark_type) == (ANCHOR, DESK, POLICE)
    assert mark.role == GRANT
    header = json.loads(b64url_decode(mark.token.split(".")[0]))
    assert header["typ"] == TRUST_MARK_TYP == "trust-mark+jwt"  # §7.1


def test_the_role_mark_type_is_a_url_under_the_anchor() -> None:
    assert f"{ANCHOR}/trust-marks/verifier-role/police-counter" == POLICE
    assert role_of_mark_type(ANCHOR, POLICE) == "police-counter"
    assert role_of_mark_type(CITY, POLICE) is None
    assert role_of_mark_type(ANCHOR, f"{ANCHOR}/trust-marks/other") is None


def test_an_expired_mark_grants_nothing() -> None:
    with pytest.raises(TrustMarkExpired):
        _verify(_mark(exp=NOW - 1, iat=NOW - 100))


def test_a_mark_without_exp_does_not_expire() -> None:
    assert _verify(_mark(exp=None), now=NOW + 10 * 365 * 86_400).exp is None


def test_a_forged_mark_signed_by_another_key_grants_nothing() -> None:
    with pytest.raises(UntrustedTrustMark):
        _verify(_mark(key=THIEF_KEY))


def test_a_mark_whose_payload_was_changed_grants_nothing() -> None:
    h, p, s = _mark().split(".")
    claims = json.loads(b64url_decode(p))
    claims["sub"] = OTHER_DESK
    tampered = f"{h}.{b64url_encode(json.dumps(claims).encode())}.{s}"
    with pytest.raises(UntrustedTrustMark):
        _verify(tampered, expected_sub=OTHER_DESK)


def test_a_mark_about_another_entity_grants_nothing() -> None:
    with pytest.raises(WrongSubject):
        _verify(_mark(sub=OTHER_DESK))


def test_a_mark_by_an_issuer_the_anchor_does_not_list_grants_nothing() -> None:
    # the city signs a mark of the anchor's type with its own (federation-vouched) key
    city_key = SigningKey.generate()
    token = sign_compact(
        {"iss": CITY, "sub": DESK, "trust_mark_type": POLICE, "iat": NOW},
        city_key,
        typ=TRUST_MARK_TYP,
    )
    with pytest.raises(IssuerNotListed):
        _verify(token, issuer_keys={CITY: [city_key.public], ANCHOR: [ANCHOR_KEY.public]})


def test_an_empty_issuer_list_lets_nobody_issue() -> None:
    with pytest.raises(IssuerNotListed):
        _verify(_mark(), trust_mark_issuers={POLICE: ()})


def test_a_type_the_anchor_does_not_know_grants_nothing() -> None:
    with pytest.raises(IssuerNotListed):
        _verify(_mark(), trust_mark_issuers={})


def test_a_delegated_type_is_refused() -> None:
    with pytest.raises(DelegationUnsupported):
        _verify(_mark(), trust_mark_owners={POLICE: ()})


def test_a_mark_with_another_typ_is_refused() -> None:
    token = sign_compact(
        {"iss": ANCHOR, "sub": DESK, "trust_mark_type": POLICE, "iat": NOW},
        ANCHOR_KEY,
        typ="entity-statement+jwt",
    )
    with pytest.raises(MalformedTrustMark):
        _verify(token)


def test_a_mark_issued_in_the_future_is_refused() -> None:
    with pytest.raises(MalformedTrustMark):
        _verify(_mark(iat=NOW + 3600, exp=NOW + 7200))


@pytest.mark.parametrize(
    "payload",
    [
        {"iss": ANCHOR, "sub": DESK, "trust_mark_type": POLICE},  # no iat
        {"iss": ANCHOR, "sub": DESK, "trust_mark_type": POLICE, "iat": "now"},
        {"iss": ANCHOR, "sub": DESK, "trust_mark_type": POLICE, "iat": NOW, "exp": NOW},
        {"iss": ANCHOR, "trust_mark_type": POLICE, "iat": NOW},  # no sub
        {"iss": ANCHOR, "sub": DESK, "trust_mark_type": POLICE, "iat": NOW, ROLE_CLAIM: "x"},
    ],
    ids=["no-iat", "text-iat", "exp-not-after-iat", "no-sub", "role-claim-not-an-object"],
)
def test_malformed_claims_are_refused(payload: dict[str, Any]) -> None:
    token = sign_compact(payload, ANCHOR_KEY, typ=TRUST_MARK_TYP)
    with pytest.raises(MalformedTrustMark):
        _verify(token)


@pytest.mark.parametrize("token", ["", "a.b", "x" * 9000, "a.b.c"])
def test_what_is_not_a_mark_is_malformed(token: str) -> None:
    with pytest.raises(MalformedTrustMark):
        _verify(token)


def test_a_role_claim_must_match_the_role_of_the_type() -> None:
    with pytest.raises(MalformedTrustMark):
        _mark(trust_mark_type=role_mark_type(ANCHOR, "hotel-desk"))


def _anchor_configuration(**extra: Any) -> Any:
    token = sign_entity_statement(
        iss=ANCHOR, sub=ANCHOR, iat=NOW - 60, exp=NOW + 3600, jwks=[ANCHOR_KEY.public],
        key=ANCHOR_KEY, trust_mark_issuers=ISSUERS, **extra,
    )  # fmt: skip
    return verify_entity_statement(token, keys=[ANCHOR_KEY.public], now=NOW)


def test_configurations_carry_trust_marks_and_anchors_their_issuers() -> None:
    anchor = _anchor_configuration()
    assert anchor.trust_mark_issuers == {POLICE: (ANCHOR,)}
    desk_key, mark = SigningKey.generate(), _mark()
    token = sign_entity_statement(
        iss=DESK, sub=DESK, iat=NOW - 60, exp=NOW + 3600, jwks=[desk_key.public], key=desk_key,
        authority_hints=[CITY], trust_marks=[(POLICE, mark)],
    )  # fmt: skip
    desk = verify_entity_configuration(token, now=NOW)
    assert desk.trust_marks == ((POLICE, mark),)
    payload = json.loads(b64url_decode(token.split(".")[1]))
    assert payload["trust_marks"] == [{"trust_mark_type": POLICE, "trust_mark": mark}]


def test_a_subordinate_statement_must_not_carry_trust_marks() -> None:
    with pytest.raises(MalformedStatement):
        sign_entity_statement(
            iss=CITY, sub=DESK, iat=NOW, exp=NOW + 60, jwks=[ANCHOR_KEY.public],
            key=ANCHOR_KEY, trust_marks=[(POLICE, _mark())],
        )  # fmt: skip


def test_check_role_marks_returns_each_role_mark_with_its_grant_or_its_error() -> None:
    anchor = _anchor_configuration()
    unrelated = (f"{ANCHOR}/trust-marks/other", _mark())
    checks = check_role_marks(
        [(POLICE, _mark()), (POLICE, _mark(sub=OTHER_DESK)), unrelated],
        anchor=anchor,
        subject=DESK,
        now=NOW,
    )
    assert [c.role for c in checks] == ["police-counter", "police-counter"]
    assert checks[0].mark is not None
    assert checks[0].mark.role == GRANT
    assert isinstance(checks[1].error, WrongSubject)


def test_a_role_mark_without_its_role_claim_grants_nothing() -> None:
    checks = check_role_marks(
        [(POLICE, _mark(role=None))], anchor=_anchor_configuration(), subject=DESK, now=NOW
    )
    assert isinstance(checks[0].error, MalformedTrustMark)


def test_a_status_response_is_bound_to_its_issuer_and_its_mark() -> None:
    mark = _mark()
    answer = sign_trust_mark_status(
        iss=ANCHOR, iat=NOW, trust_mark=mark, status="revoked", key=ANCHOR_KEY
    )
    keys = [ANCHOR_KEY.public]
    assert (
        verify_trust_mark_status(answer, keys=keys, expected_iss=ANCHOR, trust_mark=mark, now=NOW)
        == "revoked"
    )
    with pytest.raises(MalformedTrustMark):  # an answer about another mark is no answer
        verify_trust_mark_status(
            answer, keys=keys, expected_iss=ANCHOR, trust_mark=_mark(exp=None), now=NOW
        )
    forged = sign_trust_mark_status(
        iss=ANCHOR, iat=NOW, trust_mark=mark, status="active", key=THIEF_KEY
    )
    with pytest.raises(UntrustedTrustMark):
        verify_trust_mark_status(forged, keys=keys, expected_iss=ANCHOR, trust_mark=mark, now=NOW)


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=10,
)
_mark_claims = st.sampled_from(
    ["iss", "sub", "trust_mark_type", "iat", "exp", ROLE_CLAIM, "logo_uri", "ref"]
)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(_mark_claims, _json, max_size=4))
def test_arbitrary_signed_claims_raise_only_trust_mark_errors(changes: dict[str, Any]) -> None:
    payload = {
        "iss": ANCHOR, "sub": DESK, "trust_mark_type": POLICE, "iat": NOW,
        ROLE_CLAIM: GRANT.to_claim(), **changes,
    }  # fmt: skip
    token = sign_compact(payload, ANCHOR_KEY, typ=TRUST_MARK_TYP)
    with contextlib.suppress(TrustMarkError):
        _verify(token)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_text_raises_only_trust_mark_errors(token: str) -> None:
    with contextlib.suppress(TrustMarkError):
        _verify(token)
