"""The key ring: the one holder of the passphrase; each private key decrypted once."""

from __future__ import annotations

import pytest

from gateway.keyring import KeyRing
from gateway.models import SigningKeyRow
from tests.conftest import PASSPHRASE
from trust.errors import KeyError_
from trust.keys import SigningKey


def _row(ring: KeyRing, key: SigningKey) -> SigningKeyRow:
    return SigningKeyRow(kid=key.kid, private_pem=ring.seal(key))


def test_a_key_is_decrypted_once_until_forgotten() -> None:
    asked: list[str] = []

    def passphrase() -> str:
        asked.append("asked")
        return PASSPHRASE

    ring = KeyRing(passphrase)
    key = SigningKey.generate()
    row = _row(ring, key)
    asked.clear()
    first = ring.signing_key(row)
    assert first.kid == key.kid
    assert ring.signing_key(row) is first  # held: the PEM is not decrypted again
    assert asked == ["asked"]
    ring.forget(key.kid)
    again = ring.signing_key(row)
    assert again is not first
    assert again.kid == key.kid
    assert asked == ["asked", "asked"]


def test_the_passphrase_is_not_asked_for_until_a_key_is_used() -> None:
    def no_passphrase() -> str:
        raise AssertionError("a ring that opened nothing asked for the passphrase")

    KeyRing(no_passphrase).forget("unknown-kid")  # made and used without any key: no question


def test_a_sealed_key_opens_only_with_the_same_passphrase() -> None:
    key = SigningKey.generate()
    pem = KeyRing(lambda: PASSPHRASE).seal(key)
    assert pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert KeyRing(lambda: PASSPHRASE).unseal(pem).kid == key.kid
    with pytest.raises(KeyError_, match="wrong passphrase"):
        KeyRing(lambda: "another passphrase!").unseal(pem)
