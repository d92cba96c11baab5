"""Credential and federation signing keys.

- ES256 (P-256) by default, EdDSA (Ed25519) supported (RFC 7518 §3.4, RFC 8037). Ed25519
  tokens are signed with the JOSE name ``EdDSA``; verification also takes ``Ed25519``, the
  fully-specified name RFC 9864 §2.2 registers in its place (README, "Interoperability").
- ``kid`` is the RFC 7638 JWK thumbprint (SHA-256, base64url). A QR token carries its short
  form: the first 9 bytes, which are exactly the first 12 characters of the thumbprint, and
  which key sets publish as a JWK of their own beside the full one (:func:`with_short_alias`),
  so that any JOSE library finds the key by ``kid`` alone. Tokens printed before that change
  carry the first 8 bytes (11 characters, not a prefix of the thumbprint); verifiers still find
  their keys. Every form is an unauthenticated hint: every matching key is tried.
- Private keys leave this module only as encrypted PKCS#8 PEM (``BestAvailableEncryption``).

Key metadata (who owns a key, its validity window, compromise time) lives elsewhere: this module
knows only keys.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, cast

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from trust.encoding import b64url_decode, b64url_encode
from trust.errors import DataError, KeyError_

ES256 = "ES256"
EDDSA = "EdDSA"
ED25519 = "Ed25519"  # RFC 9864 §2.2: the fully-specified name for EdDSA with Ed25519
ALGORITHMS = (ES256, EDDSA)  # what we sign with
# What we verify: the header's name → the algorithm of the key that may verify it.
ACCEPTED_ALGORITHMS = {ES256: ES256, EDDSA: EDDSA, ED25519: EDDSA}
SHORT_KID_BYTES = 9  # 72 bits, exactly 12 base64url characters: a prefix of the thumbprint
LEGACY_SHORT_KID_BYTES = 8  # what tokens issued before carry: 11 characters, not a prefix
_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())  # stateless: one instance serves every verify
_P256_COORD = 32
# The DER heads of a 32-byte P-256 integer without leading zero bytes, by its high bit (set: a
# 0x00 in front keeps it positive), and of the sequence of two, by how many such 0x00 it holds.
_INTEGER_HEAD = (b"\x02\x20", b"\x02\x21\x00")
_SEQUENCE_HEAD = (b"\x30\x44", b"\x30\x45", b"\x30\x46")

PublicKeyObject = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey
PrivateKeyObject = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


def _thumbprint_digest(jwk: dict[str, str]) -> bytes:
    # RFC 7638 §3.2: only the required members, lexicographic order, no white space.
    if jwk.get("kty") == "EC":
        members = {k: jwk[k] for k in ("crv", "kty", "x", "y")}
    elif jwk.get("kty") == "OKP":
        members = {k: jwk[k] for k in ("crv", "kty", "x")}
    else:
        raise KeyError_(f"expected a JWK with kty EC or OKP, found kty {jwk.get('kty')!r}")
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    return hashlib.sha256(canonical).digest()


def short_kid(kid: str) -> str:
    """The short form of a thumbprint ``kid`` carried in QR tokens: the first 9 bytes, which
    base64url writes as exactly the thumbprint's first 12 characters."""
    return b64url_encode(b64url_decode(kid)[:SHORT_KID_BYTES])


def legacy_short_kid(kid: str) -> str:
    """The short form tokens issued before the 9-byte one carry (first 8 bytes, 11 characters;
    its last character is not the thumbprint's): kept so that those tokens still verify."""
    return b64url_encode(b64url_decode(kid)[:LEGACY_SHORT_KID_BYTES])


def with_short_alias(jwk: dict[str, Any]) -> list[dict[str, Any]]:
    """A published JWK (full thumbprint ``kid``) and its alias under the short ``kid``.

    RFC 7517 §4.5 leaves ``kid`` matching to exact string equality, so JOSE libraries (jose's
    ``createLocalJWKSet``, joserfc, jwcrypto) select a key only by the very ``kid`` a token
    names; QR tokens name the short form. The alias is the same key with the same members."""
    return [jwk, {**jwk, "kid": short_kid(str(jwk["kid"]))}]


def is_short_alias(jwk: dict[str, Any]) -> bool:
    """True for a JWK published under the short ``kid`` of its thumbprint (an alias entry)."""
    kid = jwk.get("kid")
    return isinstance(kid, str) and len(kid) == _SHORT_KID_CHARS


_SHORT_KID_CHARS = 4 * SHORT_KID_BYTES // 3


@dataclass(frozen=True)
class PublicKey:
    """A verification key with its algorithm and RFC 7638 ``kid``."""

    alg: str
    key: PublicKeyObject = field(repr=False)
    jwk: dict[str, str] = field(compare=False)
    kid: str

    @classmethod
    def from_object(cls, key: PublicKeyObject) -> PublicKey:
        if isinstance(key, ec.EllipticCurvePublicKey):
            if not isinstance(key.curve, ec.SECP256R1):
                raise KeyError_(f"expected a P-256 key for ES256, found curve {key.curve.name}")
            nums = key.public_numbers()
            jwk = {
                "kty": "EC",
                "crv": "P-256",
                "x": b64url_encode(nums.x.to_bytes(_P256_COORD, "big")),
                "y": b64url_encode(nums.y.to_bytes(_P256_COORD, "big")),
            }
            alg = ES256
        elif isinstance(key, ed25519.Ed25519PublicKey):
            raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            jwk = {"kty": "OKP", "crv": "Ed25519", "x": b64url_encode(raw)}
            alg = EDDSA
        else:
            raise KeyError_(f"expected a P-256 or Ed25519 key, found {type(key).__name__}")
        kid = b64url_encode(_thumbprint_digest(jwk))
        return cls(alg=alg, key=key, jwk={**jwk, "kid": kid, "alg": alg, "use": "sig"}, kid=kid)

    @classmethod
    def from_jwk(cls, jwk: dict[str, Any]) -> PublicKey:
        """Load a public JWK; the ``kid`` is recomputed, never taken from the input. A ``kid``
        given must be the RFC 7638 thumbprint or its short form (an alias entry)."""
        try:
            if jwk.get("kty") == "EC" and jwk.get("crv") == "P-256":
                x = int.from_bytes(b64url_decode(jwk["x"]), "big")
                y = int.from_bytes(b64url_decode(jwk["y"]), "big")
                obj: PublicKeyObject = ec.EllipticCurvePublicNumbers(
                    x, y, ec.SECP256R1()
                ).public_key()
            elif jwk.get("kty") == "OKP" and jwk.get("crv") == "Ed25519":
                obj = ed25519.Ed25519PublicKey.from_public_bytes(b64url_decode(jwk["x"]))
            else:
                raise KeyError_(
                    "expected a JWK with kty EC/crv P-256 or kty OKP/crv Ed25519, found "
                    f"kty {jwk.get('kty')!r} crv {jwk.get('crv')!r}"
                )
        except (KeyError, TypeError, ValueError, DataError) as exc:
            if isinstance(exc, KeyError_):
                raise
            raise KeyError_(f"malformed public JWK: {exc}") from exc
        key = cls.from_object(obj)
        if "kid" in jwk and jwk["kid"] not in (key.kid, key.short_kid):
            raise KeyError_(
                f"JWK kid {jwk['kid']!r} is not its RFC 7638 thumbprint {key.kid!r} (nor that "
                f"thumbprint's short form {key.short_kid!r})"
            )
        return key

    @property
    def short_kid(self) -> str:
        return short_kid(self.kid)

    @property
    def kid_hints(self) -> tuple[str, str, str]:
        """Every ``kid`` a token may name this key by: full, short, and the legacy short form."""
        return (self.kid, self.short_kid, legacy_short_kid(self.kid))

    def verify(self, signature: bytes, signing_input: bytes) -> bool:
        """Check a raw JWS signature (RFC 7518 §3.4: ES256 is R || S, 64 bytes)."""
        try:
            # ``alg`` was set from the key's class: a string compare, cheaper than isinstance
            # against an abstract base class on the hot path.
            if self.alg == ES256:
                if len(signature) != 2 * _P256_COORD:
                    return False
                cast(ec.EllipticCurvePublicKey, self.key).verify(
                    _p256_der(signature), signing_input, _ECDSA_SHA256
                )
            else:
                cast(ed25519.Ed25519PublicKey, self.key).verify(signature, signing_input)
        except InvalidSignature:
            return False
        return True


def _der_integer(value: bytes) -> bytes:
    # X.690 §8.3: minimal two's complement, so no leading zero bytes, and one 0x00 in front
    # when the high bit is set (the value is positive).
    value = value.lstrip(b"\0")
    if not value or value[0] & 0x80:
        value = b"\0" + value
    return b"\x02" + len(value).to_bytes(1, "big") + value


def _p256_der(signature: bytes) -> bytes:
    """ES256's R || S as the DER ``ECDSA-Sig-Value`` OpenSSL verifies (RFC 3279 §2.2.3).

    Byte for byte what ``encode_dss_signature`` makes, without building two Python integers
    on the verify hot path; a test checks the two agree."""
    r, s = signature[:_P256_COORD], signature[_P256_COORD:]
    if r[0] and s[0]:  # no leading zero byte (255 in 256 each): a table look-up per head
        r_head, s_head = _INTEGER_HEAD[r[0] >> 7], _INTEGER_HEAD[s[0] >> 7]
        return _SEQUENCE_HEAD[len(r_head) + len(s_head) - 4] + r_head + r + s_head + s
    body = _der_integer(r) + _der_integer(s)
    return b"\x30" + len(body).to_bytes(1, "big") + body


@dataclass(frozen=True)
class SigningKey:
    """A private signing key. ``repr`` never shows key material."""

    private: PrivateKeyObject = field(repr=False)
    public: PublicKey

    @classmethod
    def generate(cls, alg: str = ES256) -> SigningKey:
        if alg == ES256:
            private: PrivateKeyObject = ec.generate_private_key(ec.SECP256R1())
        elif alg == EDDSA:
            private = ed25519.Ed25519PrivateKey.generate()
        else:
            raise KeyError_(f"expected an algorithm in {ALGORITHMS}, found {alg!r}")
        return cls(private=private, public=PublicKey.from_object(private.public_key()))

    @classmethod
    def from_encrypted_pem(cls, pem: bytes, passphrase: str) -> SigningKey:
        try:
            private = serialization.load_pem_private_key(pem, password=passphrase.encode())
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            raise KeyError_(
                "could not decrypt the private key: wrong passphrase or damaged PEM"
            ) from exc
        if not isinstance(private, ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey):
            raise KeyError_(f"expected a P-256 or Ed25519 key, found {type(private).__name__}")
        return cls(private=private, public=PublicKey.from_object(private.public_key()))

    def to_encrypted_pem(self, passphrase: str) -> bytes:
        if not passphrase:
            raise KeyError_("a passphrase is required to store a private key")
        return self.private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(passphrase.encode()),
        )

    @property
    def alg(self) -> str:
        return self.public.alg

    @property
    def kid(self) -> str:
        return self.public.kid

    def sign(self, signing_input: bytes) -> bytes:
        """Raw JWS signature bytes over ``signing_input``."""
        if isinstance(self.private, ec.EllipticCurvePrivateKey):
            r, s = decode_dss_signature(self.private.sign(signing_input, _ECDSA_SHA256))
            return r.to_bytes(_P256_COORD, "big") + s.to_bytes(_P256_COORD, "big")
        return self.private.sign(signing_input)
