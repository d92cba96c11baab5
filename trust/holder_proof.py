"""A holder proves its wallet key to the gateway that issued its credential: a short JWS
(``typ`` :data:`HOLDER_PROOF_TYP`), ES256 or EdDSA, signed by the key its header carries as
``jwk`` (the key the credential's ``cnf`` names), whose payload names

- ``aud``: the gateway asked (its public URL),
- ``iat``: within :data:`IAT_WINDOW` seconds of the gateway's ``now``,
- ``jti``: a fresh random id, spent by the gateway (single use),
- ``status``: the credential's own status list reference (``status.status_list`` {idx, uri},
  as in the credential), which the issuer's records map to exactly one credential.

:func:`check_holder_proof` checks all of this against the key the issuer recorded when it
delivered that credential (``holder_kid``, an RFC 7638 thumbprint); the ``jti`` goes through the
caller's one-method :class:`SpentIds` (a database in the gateway, a set in tests). Pure: no I/O
of its own.

Deliberately not here: finding the credential and its holder key (the gateway's records), HTTP.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any, Protocol

from trust.errors import DataError
from trust.keys import PublicKey, SigningKey
from trust.oid4vci import sign_self_signed, verify_self_signed
from trust.statuslist import StatusReference

HOLDER_PROOF_TYP = "ecert-holder+jwt"
USES_TYP = "ecert-use-records+jwt"  # the gateway's signed answer to a proof: use records
MAX_HOLDER_PROOF = 4096
IAT_WINDOW = 60  # seconds either side of now
MAX_JTI = 64


class HolderProofRefused(DataError):
    """The holder proof does not hold; carries a zh-CN and an English message."""

    def __init__(self, message_zh: str, message_en: str) -> None:
        super().__init__(message_en)
        self.message_zh = message_zh
        self.message_en = message_en


def _refuse(en: str) -> HolderProofRefused:
    return HolderProofRefused("持证人密钥证明无效", en)


class SpentIds(Protocol):
    def spend(self, jti: str, *, until: int) -> bool:
        """Record ``jti`` as used (it may be forgotten after ``until``); False when it was
        used already."""


@dataclass(frozen=True)
class HolderProof:
    """A proof that passed every check except the binding to a credential's recorded key,
    which :func:`check_holder_proof` does once the caller has found that key."""

    key: PublicKey
    credential: StatusReference
    jti: str
    issued_at: int


def read_holder_proof(token: object, *, audience: str, now: int) -> HolderProof:
    """Signature by the header's ``jwk``, ``typ``, ``aud``, ``iat`` window, ``jti`` and
    ``status`` shape. The ``jti`` is not spent here (:func:`check_holder_proof` does)."""
    key, payload = verify_self_signed(
        token, typ=HOLDER_PROOF_TYP, max_length=MAX_HOLDER_PROOF, refuse=_refuse
    )
    if payload.get("aud") != audience:
        raise _refuse(
            f"expected aud {audience!r} (this gateway), found {payload.get('aud')!r:.120}"
        )
    iat = payload.get("iat")
    if type(iat) is not int or abs(iat - now) > IAT_WINDOW:
        raise HolderProofRefused(
            "持证人密钥证明已过时或时间不符（请检查设备时间）",
            f"expected iat as integer seconds within {IAT_WINDOW} s of {now}, found {iat!r:.40}",
        )
    jti = payload.get("jti")
    if not isinstance(jti, str) or not 16 <= len(jti) <= MAX_JTI:
        raise _refuse(f"expected a jti of 16 to {MAX_JTI} characters, found {jti!r:.80}")
    try:
        ref = StatusReference.from_claims(payload)
    except DataError as exc:
        raise _refuse(f"expected the credential's status reference: {exc}") from exc
    if ref is None:
        raise _refuse("expected the credential's status reference (status.status_list), found none")
    return HolderProof(key=key, credential=ref, jti=jti, issued_at=iat)


def check_holder_proof(proof: HolderProof, *, holder_kid: str, spent: SpentIds) -> None:
    """The proof's key is the one the credential was delivered to, and its ``jti`` is unused."""
    if proof.key.kid != holder_kid:
        raise HolderProofRefused(
            "此证照未发放给该钱包密钥",
            f"expected the key the credential was delivered to ({holder_kid}), "
            f"found {proof.key.kid}",
        )
    if not spent.spend(proof.jti, until=proof.issued_at + IAT_WINDOW):
        raise HolderProofRefused(
            "持证人密钥证明已使用过（重放）", f"expected an unused jti, found {proof.jti!r} used"
        )


def make_holder_proof(
    holder: SigningKey, *, audience: str, credential: StatusReference, now: int
) -> str:
    """A wallet's proof of ``holder`` for the gateway ``audience`` about ``credential``."""
    payload: dict[str, Any] = {
        "aud": audience,
        "iat": now,
        "jti": secrets.token_urlsafe(18),
        **credential.to_claim(),
    }
    return sign_self_signed(holder, payload, typ=HOLDER_PROOF_TYP)
