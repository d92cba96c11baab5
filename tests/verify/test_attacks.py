"""One named regression test per attack the verifier must refuse (cf. pyjwt test_advisory.py).

Each forges a token by hand and checks the one reason code the counter sees.
"""

from __future__ import annotations

import hashlib
import hmac
import json

from tests.verify.test_verifier import ACTIVE, NOW, STATUSES, TRUST, _claims
from trust.claims import CREDENTIAL_TYP
from trust.encoding import b64url_encode
from trust.jws import sign_compact
from trust.keys import EDDSA, SigningKey
from verify.reasons import Reason
from verify.verifier import verify_scanned


def _reason(token: str) -> Reason:
    return verify_scanned(token, trust=TRUST, statuses=STATUSES, now=NOW).reason


def _parts(header: dict[str, object], claims: dict[str, object]) -> str:
    h = b64url_encode(json.dumps(header).encode())
    p = b64url_encode(json.dumps(claims, ensure_ascii=False).encode())
    return f"{h}.{p}"


def test_alg_none_unsigned_token() -> None:
    head = _parts({"alg": "none", "typ": CREDENTIAL_TYP, "kid": ACTIVE.public.short_kid}, _claims())
    assert _reason(head + ".") is Reason.MALFORMED  # the scanner finds no signature at all
    assert _reason(head + ".AAAA") is Reason.UNSUPPORTED  # with a dummy one, alg decides


def test_hs256_keyed_with_the_published_public_key() -> None:
    head = _parts(
        {"alg": "HS256", "typ": CREDENTIAL_TYP, "kid": ACTIVE.public.short_kid}, _claims()
    )
    secret = json.dumps(ACTIVE.public.jwk).encode()
    mac = hmac.new(secret, head.encode(), hashlib.sha256).digest()
    assert _reason(f"{head}.{b64url_encode(mac)}") is Reason.UNSUPPORTED


def test_alg_not_matching_the_key() -> None:
    # An Ed25519 signature announced as EdDSA under the ES256 key's kid.
    thief = SigningKey.generate(EDDSA)
    token = sign_compact(_claims(), thief, typ=CREDENTIAL_TYP, kid=ACTIVE.public.short_kid)
    assert _reason(token) is Reason.UNKNOWN_ISSUER
    # And ES256 announced over a key the trust lists as ES256 but signed by another key.
    forged = sign_compact(
        _claims(), SigningKey.generate(), typ=CREDENTIAL_TYP, kid=ACTIVE.public.short_kid
    )
    assert _reason(forged) is Reason.BAD_SIGNATURE


def test_unknown_crit_header() -> None:
    token = sign_compact(
        _claims(),
        ACTIVE,
        typ=CREDENTIAL_TYP,
        kid=ACTIVE.public.short_kid,
        extra_headers={"crit": ["b64"]},
    )
    assert _reason(token) is Reason.UNSUPPORTED


def test_oversized_input() -> None:
    assert _reason("1" * 100_000) is Reason.MALFORMED
    huge = sign_compact(_claims(c={"name": "甲" * 3000}), ACTIVE, typ=CREDENTIAL_TYP)
    assert _reason(huge) is Reason.MALFORMED


def test_expired_token() -> None:
    token = sign_compact(
        _claims(exp=NOW - 1), ACTIVE, typ=CREDENTIAL_TYP, kid=ACTIVE.public.short_kid
    )
    assert _reason(token) is Reason.EXPIRED


def test_not_yet_valid_token() -> None:
    token = sign_compact(
        _claims(nbf=NOW + 3600), ACTIVE, typ=CREDENTIAL_TYP, kid=ACTIVE.public.short_kid
    )
    assert _reason(token) is Reason.NOT_YET_VALID


def test_type_the_agency_is_not_authorised_for() -> None:
    token = sign_compact(_claims(t="EID"), ACTIVE, typ=CREDENTIAL_TYP, kid=ACTIVE.public.short_kid)
    assert _reason(token) is Reason.ISSUER_NOT_AUTHORISED


def test_unknown_kid() -> None:
    stranger = SigningKey.generate()
    assert _reason(sign_compact(_claims(), stranger, typ=CREDENTIAL_TYP)) is Reason.UNKNOWN_ISSUER


def test_kid_hint_pointing_at_a_trusted_key_of_the_wrong_issuer_type() -> None:
    # The kid is only a hint: a full-length kid that is not in the trust store is unknown.
    token = sign_compact(_claims(), ACTIVE, typ=CREDENTIAL_TYP, kid="x" * 43)
    assert _reason(token) is Reason.UNKNOWN_ISSUER
