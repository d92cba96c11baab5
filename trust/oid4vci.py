"""OpenID for Verifiable Credential Issuance 1.0, the parts that decide: the key proof
(``openid4vci-proof+jwt``, Appendix F.1) and the protocol's error codes. Pure: strings, keys
and ``now`` in; a :class:`~trust.keys.PublicKey` or an :class:`Oid4vciError` out.

A proof is a JWS whose header carries the holder's public key as ``jwk`` (the key the credential
will be bound to, ``cnf.jwk``) and whose payload names the Credential Issuer (``aud``), the
issuer's ``nonce`` (a ``c_nonce`` from its Nonce Endpoint) and ``iat``. It proves possession
of that key: it must verify with the very key its header carries.

Deliberately not here: whether a nonce was issued and is unused (the issuer's records: the
caller passes the nonce on to its own single-use check), access tokens, offers, HTTP.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import jwt
import orjson

from trust.encoding import b64url_decode
from trust.errors import DataError, SignatureError
from trust.jws import dumps_compact, verify_compact_with_key
from trust.keys import PublicKey, SigningKey

PRE_AUTHORIZED_GRANT = "urn:ietf:params:oauth:grant-type:pre-authorized_code"
PROOF_TYP = "openid4vci-proof+jwt"
SD_JWT_VC_FORMAT = "dc+sd-jwt"
MAX_PROOF_LENGTH = 4096
MAX_PROOF_HEADER = 1024
PROOF_IAT_WINDOW = 300  # seconds either side of now a proof's iat may be
_KEY_MEMBERS = ("kty", "crv", "x", "y")
E = TypeVar("E", bound=Exception)


class Oid4vciError(DataError):
    """An OpenID4VCI / OAuth 2.0 error: ``error`` is the registered code (RFC 6749 §5.2,
    RFC 6750 §3.1, OpenID4VCI §6.3 and §8.3.1.2); the message is English, ``message_zh``
    Chinese."""

    error = "invalid_request"

    def __init__(self, message_zh: str, message_en: str) -> None:
        super().__init__(message_en)
        self.message_zh = message_zh
        self.message_en = message_en


class InvalidRequest(Oid4vciError):
    error = "invalid_request"


class InvalidGrant(Oid4vciError):
    """The pre-authorised code is unknown, expired, used, or the tx_code is wrong."""

    error = "invalid_grant"


class UnsupportedGrantType(Oid4vciError):
    error = "unsupported_grant_type"


class InvalidToken(Oid4vciError):
    """The access token is unknown, expired or already used (RFC 6750 §3.1)."""

    error = "invalid_token"


class InvalidCredentialRequest(Oid4vciError):
    error = "invalid_credential_request"


class UnknownCredentialConfiguration(Oid4vciError):
    error = "unknown_credential_configuration"


class InvalidProof(Oid4vciError):
    error = "invalid_proof"


class InvalidNonce(Oid4vciError):
    """The proof's nonce is not one this issuer gave out, or it was used or has expired."""

    error = "invalid_nonce"


@dataclass(frozen=True)
class Proof:
    """A checked key proof: the holder key it proves, and the nonce the caller must check."""

    key: PublicKey
    nonce: str
    issued_at: int


def _unverified_proof_header(token: str, refuse: Callable[[str], E]) -> dict[str, Any]:
    segment = token.split(".", 1)[0]
    if len(segment) > MAX_PROOF_HEADER:
        raise refuse(
            f"expected a proof header of at most {MAX_PROOF_HEADER} characters, "
            f"found {len(segment)}"
        )
    try:
        header = orjson.loads(b64url_decode(segment))
    except (DataError, orjson.JSONDecodeError) as exc:
        raise refuse(f"expected a base64url JSON header, found {exc}") from exc
    if not isinstance(header, dict):
        raise refuse(f"expected a JSON object header, found {type(header).__name__}")
    return header


def verify_self_signed(
    token: object, *, typ: str, max_length: int, refuse: Callable[[str], E]
) -> tuple[PublicKey, dict[str, Any]]:
    """A compact JWS of ``typ`` signed by the public key its own header carries as ``jwk``
    (no private key, no ``kid``/``x5c`` instead): that key and the payload. Every failure is
    ``refuse(English detail)``. Proves possession of the key, nothing about whose it is."""
    if not isinstance(token, str) or not token:
        raise refuse(f"expected a compact JWS, found {type(token).__name__}")
    if len(token) > max_length:
        raise refuse(f"expected at most {max_length} characters, found {len(token)}")
    header = _unverified_proof_header(token, refuse)
    jwk = header.get("jwk")
    if not isinstance(jwk, dict):
        raise refuse(f"expected the holder's public key as the header's jwk, found {jwk!r:.60}")
    if "d" in jwk:
        raise refuse("expected a public key in jwk, found a private key (member d)")
    if {"kid", "x5c", "trust_chain"} & set(header):  # F.1: jwk excludes kid and x5c
        raise refuse("expected the key as jwk only, found kid, x5c or trust_chain as well")
    try:
        key = PublicKey.from_jwk({k: jwk[k] for k in _KEY_MEMBERS if k in jwk})
    except (DataError, KeyError, TypeError, ValueError) as exc:
        raise refuse(f"expected a P-256 or Ed25519 public jwk, found {exc}") from exc
    try:
        verified = verify_compact_with_key(
            token, key, typ=typ, max_length=max_length, also_headers=frozenset({"jwk"})
        )
    except SignatureError as exc:
        raise refuse(f"expected a JWS signed by its header's jwk: {exc}") from exc
    return key, dict(verified.payload)


def jwk_header(holder: SigningKey) -> dict[str, Any]:
    """The public members of ``holder`` as a JWS header's ``jwk`` (no ``kid``)."""
    return {k: holder.public.jwk[k] for k in _KEY_MEMBERS if k in holder.public.jwk}


def sign_self_signed(holder: SigningKey, payload: dict[str, Any], *, typ: str) -> str:
    """A compact JWS of ``typ`` by ``holder``, its public key in the header as ``jwk``
    (what :func:`verify_self_signed` checks)."""
    return jwt.api_jws.encode(
        dumps_compact(payload),
        holder.private,
        algorithm=holder.alg,
        headers={"typ": typ, "jwk": jwk_header(holder)},
        sort_headers=False,
    )


def _proof(en: str) -> InvalidProof:
    return InvalidProof(f"密钥证明无效 · {en}", en)


def check_proof(token: object, *, audience: str, now: int, window: int = PROOF_IAT_WINDOW) -> Proof:
    """Check a ``jwt`` key proof for the Credential Issuer ``audience`` (Appendix F.1, F.4):
    ``typ``, an ES256 or EdDSA signature by the public key in the header's ``jwk`` (no
    private key, no ``kid``/``x5c`` instead), ``aud`` the issuer, ``iat`` within ``window``
    seconds of ``now``, a ``nonce``."""
    key, payload = verify_self_signed(
        token, typ=PROOF_TYP, max_length=MAX_PROOF_LENGTH, refuse=_proof
    )
    aud = payload.get("aud")
    if aud != audience and not (isinstance(aud, list) and aud == [audience]):
        raise _proof(f"expected aud {audience!r} (this Credential Issuer), found {aud!r:.120}")
    iat = payload.get("iat")
    if not isinstance(iat, int) or isinstance(iat, bool):
        raise _proof(f"expected iat as integer seconds, found {iat!r:.40}")
    if abs(iat - now) > window:
        raise _proof(f"expected iat within {window} s of {now}, found {iat}")
    nonce = payload.get("nonce")
    if not isinstance(nonce, str) or not nonce or len(nonce) > 256:
        raise InvalidNonce(
            "密钥证明缺少本签发方的 nonce · expected the issuer's c_nonce in the proof",
            f"expected the issuer's c_nonce in the proof, found {nonce!r:.60}",
        )
    return Proof(key=key, nonce=nonce, issued_at=iat)


def make_proof(holder: SigningKey, *, audience: str, nonce: str, now: int) -> str:
    """A wallet's key proof for ``audience`` with the issuer's ``nonce`` (Appendix F.1): the
    holder's public key as ``jwk`` and no ``kid``."""
    return sign_self_signed(holder, {"aud": audience, "iat": now, "nonce": nonce}, typ=PROOF_TYP)
