"""Shared pieces of the SD-JWT tests: keys, a resident e-ID's claims, and a forger that signs
payloads we shape by hand (to build SD-JWTs our issuer would never make)."""

from __future__ import annotations

from typing import Any

from trust.jws import KeyIndex, sign_compact
from trust.keys import EDDSA, ES256, SigningKey
from trust.sdjwt.core import KeyBindingCheck
from trust.sdjwt.disclosure import Disclosure
from trust.sdjwt.issue import SdJwt, issue_credential
from trust.statuslist import StatusReference

NOW = 1_790_000_000  # tests/conftest.py START
ISSUER = "https://hangzhou.ecert.example.cn/agencies/gongan"
VCT = "https://hangzhou.ecert.example.cn/types/resident-eid"
AUDIENCE = "https://suzhou.ecert.example.cn/counters/hotel-1"
NONCE = "n-0S6_WzA2Mj"
STATUS = StatusReference(idx=4711, uri="https://hangzhou.ecert.example.cn/status/1")
ISSUER_KEY = SigningKey.generate(ES256)
ISSUER_ED_KEY = SigningKey.generate(EDDSA)
HOLDER_KEY = SigningKey.generate(ES256)
OTHER_KEY = SigningKey.generate(ES256)
ISSUER_KEYS = KeyIndex([ISSUER_KEY.public, ISSUER_ED_KEY.public])
EXPECTED = KeyBindingCheck(audience=AUDIENCE, nonce=NONCE)
CLAIMS: dict[str, Any] = {
    "name": "张三",
    "id_number": "11010519491231002X",
    "id_number_masked": "110105********002X",
    "birth_date": "1949-12-31",
    "address": {"region": "330106", "street": "西湖区文三路 1 号"},
    "nationalities": ["CN", "HK"],
    "issuing_authority": "杭州市公安局",
}
DISCLOSABLE = ("name", "id_number", "id_number_masked", "birth_date", "address")


def issue(
    claims: dict[str, Any] | None = None,
    *,
    disclosable: tuple[Any, ...] = DISCLOSABLE,
    signer: SigningKey = ISSUER_KEY,
    expires: int | None = NOW + 86_400,
    not_before: int | None = None,
    now: int = NOW,
    decoys: int = 0,
) -> SdJwt:
    return issue_credential(
        CLAIMS if claims is None else claims,
        disclosable=disclosable,
        signer=signer,
        issuer=ISSUER,
        vct=VCT,
        holder_key=HOLDER_KEY.public,
        status=STATUS,
        now=now,
        expires=expires,
        not_before=not_before,
        decoys=decoys,
    )


def forge(payload: dict[str, Any], disclosures: list[Disclosure], *, typ: str = "dc+sd-jwt") -> str:
    """An SD-JWT whose payload we wrote by hand, signed by the trusted issuer key."""
    token = sign_compact(payload, ISSUER_KEY, typ=typ)
    return SdJwt(token, tuple(disclosures)).serialize()


def base_payload(**extra: Any) -> dict[str, Any]:
    """The registered claims of a well-formed credential, plus ``extra``."""
    return {
        "iss": ISSUER,
        "iat": NOW,
        "exp": NOW + 86_400,
        "vct": VCT,
        **STATUS.to_claim(),
        "cnf": {"jwk": {k: HOLDER_KEY.public.jwk[k] for k in ("kty", "crv", "x", "y")}},
        "_sd_alg": "sha-256",
        **extra,
    }
