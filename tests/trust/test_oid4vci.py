"""OpenID4VCI key proofs (Appendix F.1): one named case per rule, and a parser that raises
only our error on any input."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jwt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trust.encoding import b64url_encode
from trust.jws import dumps_compact
from trust.keys import SigningKey
from trust.oid4vci import (
    PROOF_IAT_WINDOW,
    PROOF_TYP,
    InvalidNonce,
    InvalidProof,
    Oid4vciError,
    check_proof,
    make_proof,
)

ISSUER = "https://ecert.hangzhou.gov.cn"
NOW = 1_790_000_000
HOLDER = SigningKey.generate()
OTHER = SigningKey.generate()
ED_HOLDER = SigningKey.generate("EdDSA")


def _public(key: SigningKey) -> dict[str, str]:
    return {k: key.public.jwk[k] for k in ("kty", "crv", "x", "y") if k in key.public.jwk}


def _proof(
    payload: dict[str, Any] | None = None,
    header: dict[str, Any] | None = None,
    signer: SigningKey = HOLDER,
) -> str:
    body = {"aud": ISSUER, "iat": NOW, "nonce": "n-1"} if payload is None else payload
    head = {"typ": PROOF_TYP, "jwk": _public(HOLDER)} if header is None else header
    return jwt.api_jws.encode(
        dumps_compact(body), signer.private, algorithm=signer.alg, headers=head
    )


def test_a_proof_made_by_make_proof_proves_its_key() -> None:
    for key in (HOLDER, ED_HOLDER):
        proof = check_proof(
            make_proof(key, audience=ISSUER, nonce="n-1", now=NOW), audience=ISSUER, now=NOW
        )
        assert proof.key.kid == key.kid
        assert proof.nonce == "n-1"


BAD: dict[str, tuple[Callable[[], str], type[Oid4vciError], str]] = {
    "signed_by_another_key": (
        lambda: _proof(signer=OTHER),
        InvalidProof,
        "signed by its header's jwk",
    ),
    "wrong_typ": (
        lambda: _proof(header={"typ": "JWT", "jwk": _public(HOLDER)}),
        InvalidProof,
        "typ",
    ),
    "no_jwk": (lambda: _proof(header={"typ": PROOF_TYP}), InvalidProof, "jwk"),
    "private_key_in_jwk": (
        lambda: _proof(header={"typ": PROOF_TYP, "jwk": {**_public(HOLDER), "d": "AAAA"}}),
        InvalidProof,
        "private key",
    ),
    "kid_beside_jwk": (
        lambda: _proof(header={"typ": PROOF_TYP, "jwk": _public(HOLDER), "kid": "k"}),
        InvalidProof,
        "kid",
    ),
    "wrong_aud": (
        lambda: _proof({"aud": "https://other", "iat": NOW, "nonce": "n"}),
        InvalidProof,
        "aud",
    ),
    "stale_iat": (
        lambda: _proof({"aud": ISSUER, "iat": NOW - PROOF_IAT_WINDOW - 1, "nonce": "n"}),
        InvalidProof,
        "iat",
    ),
    "future_iat": (
        lambda: _proof({"aud": ISSUER, "iat": NOW + PROOF_IAT_WINDOW + 1, "nonce": "n"}),
        InvalidProof,
        "iat",
    ),
    "no_nonce": (lambda: _proof({"aud": ISSUER, "iat": NOW}), InvalidNonce, "c_nonce"),
    "alg_none": (
        lambda: (
            b64url_encode(dumps_compact({"alg": "none", "typ": PROOF_TYP, "jwk": _public(HOLDER)}))
            + "."
            + b64url_encode(dumps_compact({"aud": ISSUER, "iat": NOW, "nonce": "n"}))
            + "."
        ),
        InvalidProof,
        "algorithm",
    ),
    "oversized": (lambda: "a" * 5000, InvalidProof, "at most"),
}


@pytest.mark.parametrize(("make", "error", "message"), BAD.values(), ids=BAD.keys())
def test_bad_proofs_are_refused(
    make: Callable[[], str], error: type[Oid4vciError], message: str
) -> None:
    with pytest.raises(error) as caught:
        check_proof(make(), audience=ISSUER, now=NOW)
    assert message in str(caught.value)
    assert any("\u4e00" <= ch <= "\u9fff" for ch in caught.value.message_zh)


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(max_size=300), st.none(), st.integers(), st.lists(st.text(max_size=5))))
def test_any_input_raises_only_our_error(token: object) -> None:
    with pytest.raises(Oid4vciError):
        check_proof(token, audience=ISSUER, now=NOW)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.sampled_from(["kty", "crv", "x", "y", "d", "alg"]), st.text(max_size=50)))
def test_any_header_jwk_raises_only_our_error(jwk: dict[str, str]) -> None:
    head = b64url_encode(dumps_compact({"alg": "ES256", "typ": PROOF_TYP, "jwk": jwk}))
    with pytest.raises(Oid4vciError):
        check_proof(f"{head}.e30.AAAA", audience=ISSUER, now=NOW)
