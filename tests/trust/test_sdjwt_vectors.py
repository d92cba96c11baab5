"""RFC 9901's own examples (§4.2, §5, Appendix A.5), read from the spec's repository into
``vectors/sdjwt/rfc9901_example.json``: our Disclosure parsing and hashing, digest processing
and KB-JWT checks reproduce what the spec says, on an SD-JWT our issuer did not make."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from trust.jws import VerifiedJWS, verify_compact_with_key
from trust.keys import PublicKey
from trust.sdjwt.core import KeyBindingCheck, split, verify_sd_jwt
from trust.sdjwt.disclosure import Disclosure, digest
from trust.sdjwt.errors import KeyBindingStale, UnexpectedKeyBinding

VECTORS = json.loads(
    (Path(__file__).parent / "vectors" / "sdjwt" / "rfc9901_example.json").read_text("utf-8")
)
ISSUER_KEY = PublicKey.from_jwk(VECTORS["issuer_jwk"])
KB = VECTORS["kb_jwt_payload"]
EXPECTED = KeyBindingCheck(audience=KB["aud"], nonce=KB["nonce"])


def _issuer_jwt(token: str) -> VerifiedJWS:
    return verify_compact_with_key(token, ISSUER_KEY, typ=VECTORS["issuer_typ"])


@pytest.mark.parametrize("case", VECTORS["disclosures"], ids=lambda c: c["name"] or c["value"])
def test_disclosure_vectors(case: dict[str, Any]) -> None:
    parsed = Disclosure.parse(case["disclosure"])
    assert (parsed.salt, parsed.name, parsed.value) == (case["salt"], case["name"], case["value"])
    assert digest(case["disclosure"]) == case["digest"]


def test_main_example_presentation_verifies_to_the_processed_payload() -> None:
    result = verify_sd_jwt(
        VECTORS["presentation"],
        verify_issuer_jwt=_issuer_jwt,
        key_binding=EXPECTED,
        now=KB["iat"],
    )
    assert result.unpacked.claims == VECTORS["processed_payload"]
    assert result.key_binding == KB
    assert result.holder_key is not None
    assert result.holder_key.jwk["x"] == VECTORS["processed_payload"]["cnf"]["jwk"]["x"]


def test_main_example_sd_hash_is_over_the_presented_sd_jwt() -> None:
    parts = split(VECTORS["presentation"])
    assert digest(parts.presented) == KB["sd_hash"]


def test_main_example_issuance_holds_every_claim() -> None:
    result = verify_sd_jwt(
        VECTORS["sd_jwt"], verify_issuer_jwt=_issuer_jwt, key_binding=None, now=KB["iat"]
    )
    claims = result.unpacked.claims
    assert claims["nationalities"] == ["US", "DE"]
    assert claims["phone_number_verified"] is True
    assert claims["updated_at"] == 1570000000
    assert len(result.unpacked.paths) == 10


def test_main_example_kb_jwt_a_day_later_is_stale() -> None:
    with pytest.raises(KeyBindingStale):
        verify_sd_jwt(
            VECTORS["presentation"],
            verify_issuer_jwt=_issuer_jwt,
            key_binding=EXPECTED,
            now=KB["iat"] + 86_400,
        )


def test_main_example_presentation_needs_a_key_binding_check() -> None:
    with pytest.raises(UnexpectedKeyBinding):
        verify_sd_jwt(
            VECTORS["presentation"], verify_issuer_jwt=_issuer_jwt, key_binding=None, now=KB["iat"]
        )
