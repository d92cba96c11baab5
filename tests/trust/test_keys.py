"""Keys: RFC 7638 thumbprints, short kids, encrypted storage, raw JWS signatures."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from hypothesis import example, given
from hypothesis import strategies as st

from trust.encoding import b64url_decode, b64url_encode
from trust.errors import KeyError_
from trust.keys import (
    EDDSA,
    ES256,
    PublicKey,
    SigningKey,
    _p256_der,
    is_short_alias,
    legacy_short_kid,
    short_kid,
    with_short_alias,
)


def test_ed25519_thumbprint_matches_rfc8037_appendix_a3() -> None:
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
    assert PublicKey.from_jwk(jwk).kid == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


@pytest.mark.parametrize("alg", [ES256, EDDSA])
def test_jwk_round_trip_keeps_kid(alg: str) -> None:
    key = SigningKey.generate(alg)
    again = PublicKey.from_jwk(key.public.jwk)
    assert again.kid == key.kid
    assert again.alg == alg


@given(st.binary(min_size=32, max_size=32))
def test_short_kid_is_9_bytes_and_an_exact_prefix_of_the_thumbprint(digest: bytes) -> None:
    # 9 bytes fill exactly 12 base64url characters, so the short kid is a string prefix of
    # the full one (issue 7: the 8-byte form's last character was not).
    kid = b64url_encode(digest)
    assert short_kid(kid) == kid[:12]
    assert b64url_decode(short_kid(kid)) == digest[:9]


def test_legacy_short_kid_is_8_bytes_and_not_always_a_prefix() -> None:
    # The form tokens issued before carry: 11 characters whose last holds 2 padding bits.
    kid = "WvBtqEEPt5i" + "A" * 32
    assert legacy_short_kid(kid) == "WvBtqEEPt5g"
    assert not kid.startswith(legacy_short_kid(kid))


def test_a_key_answers_to_every_kid_form() -> None:
    key = SigningKey.generate()
    assert key.public.kid_hints == (key.kid, key.kid[:12], legacy_short_kid(key.kid))


def test_published_alias_is_the_same_key_under_the_short_kid() -> None:
    key = SigningKey.generate()
    full = {**key.public.jwk, "iat": 5}
    listed = with_short_alias(full)
    assert listed[0] is full
    assert listed[1] == {**full, "kid": key.kid[:12]}
    assert [is_short_alias(j) for j in listed] == [False, True]
    assert PublicKey.from_jwk(listed[1]) == key.public  # a short kid is accepted …
    lying = {**listed[1], "kid": SigningKey.generate().kid[:12]}
    with pytest.raises(KeyError_, match="short form"):  # … only when it is this key's
        PublicKey.from_jwk(lying)


def test_jwk_with_a_lying_kid_is_refused() -> None:
    jwk = dict(SigningKey.generate().public.jwk)
    jwk["kid"] = "not-the-thumbprint"
    with pytest.raises(KeyError_, match="not its RFC 7638 thumbprint"):
        PublicKey.from_jwk(jwk)


@pytest.mark.parametrize(
    "jwk",
    [
        {"kty": "RSA", "n": "x", "e": "AQAB"},
        {"kty": "EC", "crv": "P-384", "x": "AA", "y": "AA"},
        {"kty": "EC", "crv": "P-256", "x": "AA"},
        {"kty": "OKP", "crv": "Ed25519", "x": "!!"},
    ],
    ids=["rsa", "p384", "missing-y", "bad-base64"],
)
def test_unusable_jwks_raise_our_error(jwk: dict[str, str]) -> None:
    with pytest.raises(KeyError_):
        PublicKey.from_jwk(jwk)


@pytest.mark.parametrize("alg", [ES256, EDDSA])
def test_encrypted_pem_round_trip(alg: str) -> None:
    key = SigningKey.generate(alg)
    pem = key.to_encrypted_pem("correct horse battery")
    assert b"ENCRYPTED PRIVATE KEY" in pem
    assert SigningKey.from_encrypted_pem(pem, "correct horse battery").kid == key.kid


def test_wrong_passphrase_is_a_clear_error() -> None:
    pem = SigningKey.generate().to_encrypted_pem("correct horse battery")
    with pytest.raises(KeyError_, match="wrong passphrase"):
        SigningKey.from_encrypted_pem(pem, "wrong passphrase!!")


@pytest.mark.parametrize("alg", [ES256, EDDSA])
def test_repr_never_shows_private_material(alg: str) -> None:
    from cryptography.hazmat.primitives import serialization

    key = SigningKey.generate(alg)
    raw = key.private.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    shown = repr(key) + str(key)
    assert "private=" not in shown
    assert raw.hex() not in shown
    assert key.kid in shown  # the public side is what a log may show


@pytest.mark.parametrize("alg", [ES256, EDDSA])
def test_raw_signature_verifies_and_tampering_fails(alg: str) -> None:
    key = SigningKey.generate(alg)
    sig = key.sign(b"payload")
    assert len(sig) == 64
    assert key.public.verify(sig, b"payload")
    assert not key.public.verify(sig, b"payloaD")
    assert not key.public.verify(sig[:-1], b"payload")


@given(st.binary(min_size=64, max_size=64))
@example(bytes(64))
@example(b"\xff" * 64)
@example(bytes(31) + b"\x80" + bytes(2) + b"\x7f" + bytes(29))
def test_p256_der_is_what_cryptography_encodes(signature: bytes) -> None:
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    assert _p256_der(signature) == encode_dss_signature(r, s)


def test_unknown_algorithm_is_refused() -> None:
    with pytest.raises(KeyError_, match="expected an algorithm"):
        SigningKey.generate("RS256")
