"""SD-JWT VC (draft-ietf-oauth-sd-jwt-vc): the profile's claims, checked on top of
:mod:`trust.sdjwt.core`, and the typed result a verifier acts on.

An SD-JWT VC here is an SD-JWT whose Issuer-signed JWT has ``typ: dc+sd-jwt`` (§3.2.1; the
older ``vc+sd-jwt`` is not accepted), is signed with ES256 or EdDSA by a key the caller trusts
(:class:`trust.jws.KeyIndex` or any ``kid → keys`` callable: the ``kid`` is only a hint), and
carries in plain view ``iss``, ``iat``, ``vct`` (a URL), optionally ``nbf`` and ``exp``,
``cnf.jwk`` (the holder's key) and ``status`` (a Token Status List reference, the same shape
our QR tokens carry). None of those may come from a Disclosure (§3.2.2.2).

Deliberately not here: whether ``iss`` is an issuer the verifier accepts for ``vct`` (trust
chains and policy, verify/'s business), the status lookup itself (:mod:`trust.statuslist`), Type
Metadata, nonce bookkeeping (single use is the caller's job: it passes the nonce it issued).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from trust.jws import VerifiedJWS, verify_compact
from trust.keys import PublicKey
from trust.sdjwt.core import MAX_ISSUER_JWT_LENGTH, KeyBindingCheck, verify_sd_jwt
from trust.sdjwt.errors import (
    Expired,
    InvalidVcClaims,
    IssuedInFuture,
    KeyBindingMissing,
    NotYetValid,
)
from trust.statuslist import StatusReference

SD_JWT_VC_TYP = "dc+sd-jwt"
# SD-JWT VC §3.2.2.2 lists iss, nbf, exp, cnf, vct, vct#integrity and status; we also keep
# iat plain (a verifier checks it) and the SD-JWT structure claims.
NEVER_DISCLOSABLE = frozenset(
    {"iss", "iat", "nbf", "exp", "cnf", "vct", "vct#integrity", "status", "_sd_alg", "_sd", "..."}
)
LEEWAY = 30  # seconds of clock skew allowed on iat, nbf and exp by default
MAX_LEEWAY = 300
MAX_VCT_LENGTH = 512


@dataclass(frozen=True)
class VerifiedCredential:
    """What a verified SD-JWT VC presentation tells: issuer, type, the disclosed claims merged
    with the plain ones (registered claims apart), the status reference, the holder key."""

    issuer: str
    vct: str
    claims: dict[str, Any]
    issued_at: int
    expires: int | None
    not_before: int | None
    status: StatusReference | None
    holder_key: PublicKey | None
    key_bound: bool  # a KB-JWT signed by holder_key, for this audience and nonce, was checked
    issuer_key: PublicKey
    disclosed: frozenset[str]  # top-level claim names that came from Disclosures


def verify_credential(
    serialized: str,
    *,
    issuer_keys: Callable[[str], Iterable[PublicKey]],
    now: int,
    key_binding: KeyBindingCheck | None,
    leeway: int = LEEWAY,
) -> VerifiedCredential:
    """Verify an SD-JWT VC, with its KB-JWT when ``key_binding`` is given (a presentation
    to a verifier), without one when it is ``None`` (a holder checking what it received).
    Raises a :mod:`trust.sdjwt.errors` class, or a :mod:`trust.jws` one for the signature."""
    if not 0 <= leeway <= MAX_LEEWAY:
        raise InvalidVcClaims(f"a leeway is 0 to {MAX_LEEWAY} seconds, found {leeway}")

    def issuer_jwt(token: str) -> VerifiedJWS:
        return verify_compact(
            token, issuer_keys, typ=SD_JWT_VC_TYP, max_length=MAX_ISSUER_JWT_LENGTH
        )

    verified = verify_sd_jwt(
        serialized,
        verify_issuer_jwt=issuer_jwt,
        key_binding=key_binding,
        now=now,
        never_disclosed=NEVER_DISCLOSABLE,
    )
    payload = verified.payload
    issuer = _string(payload, "iss")
    vct = _string(payload, "vct")
    _check_url(vct)
    iat = _time(payload, "iat", required=True)
    assert iat is not None
    exp = _time(payload, "exp", required=False)
    nbf = _time(payload, "nbf", required=False)
    if iat > now + leeway:
        raise IssuedInFuture(f"expected iat at most {now} (+{leeway} s), found {iat}")
    if nbf is not None and nbf > now + leeway:
        raise NotYetValid(f"expected nbf at most {now} (+{leeway} s), found {nbf}")
    if exp is not None and exp <= now - leeway:
        raise Expired(f"expected exp after {now} (-{leeway} s), found {exp}")
    if key_binding is not None and verified.holder_key is None:  # pragma: no cover - core checks
        raise KeyBindingMissing("expected a cnf key, found none")
    status = StatusReference.from_claims(payload)
    claims = {k: v for k, v in verified.unpacked.claims.items() if k not in NEVER_DISCLOSABLE}
    disclosed = frozenset(
        str(path[0]) for path in verified.unpacked.paths.values() if len(path) == 1
    )
    return VerifiedCredential(
        issuer=issuer,
        vct=vct,
        claims=claims,
        issued_at=iat,
        expires=exp,
        not_before=nbf,
        status=status,
        holder_key=verified.holder_key,
        key_bound=verified.key_binding is not None,
        issuer_key=verified.issuer_key,
        disclosed=disclosed,
    )


def _string(payload: Mapping[str, Any], name: str) -> str:
    value = payload.get(name)
    if not isinstance(value, str) or not value:
        raise InvalidVcClaims(f"expected a non-empty string {name}, found {value!r:.80}")
    return value


def _time(payload: Mapping[str, Any], name: str, *, required: bool) -> int | None:
    value = payload.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidVcClaims(f"expected {name} as integer seconds, found {value!r:.80}")
    return value


def _check_url(vct: str) -> None:
    """Our ``vct`` is a URL of the issuing gateway (Type Metadata is served there)."""
    if len(vct) > MAX_VCT_LENGTH:
        raise InvalidVcClaims(f"vct is {len(vct)} characters, at most {MAX_VCT_LENGTH}")
    parts = urlsplit(vct)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise InvalidVcClaims(f"expected vct to be an http(s) URL, found {vct!r}")
