"""``KeyRing``: the gateway's private keys, sealed with its passphrase in the database and
decrypted once, then held in memory by ``kid``.

The one holder of the key passphrase: keys are sealed (:meth:`KeyRing.seal`) and opened
(:meth:`KeyRing.signing_key`, :meth:`KeyRing.unseal`) here, never with ``settings.passphrase``
elsewhere. Credential keys and federation keys share one map: kids are RFC 7638 thumbprints,
computed from the key, so two keys never share one.

Deliberately not here: which key signs what (``gateway.keystore``, ``gateway.federation``),
and any query: callers hand in the row they read.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from gateway.models import FederationKeyRow, SigningKeyRow
from trust.keys import SigningKey


class KeyRing:
    """Private keys by kid, each decrypted at most once per process (until :meth:`forget`).

    ``passphrase`` is asked for when a key is first sealed or opened, not when the ring is
    made: a gateway that signs nothing (``ecert verify``, a read-only command) runs without
    one, as it always has."""

    def __init__(self, passphrase: Callable[[], str]) -> None:
        self._passphrase = passphrase
        self._keys: dict[str, SigningKey] = {}
        self._lock = threading.Lock()

    def signing_key(self, row: SigningKeyRow | FederationKeyRow) -> SigningKey:
        """The decrypted private key of ``row``, a credential or a federation key."""
        with self._lock:
            key = self._keys.get(row.kid)
            if key is None:
                key = self.unseal(row.private_pem)
                self._keys[row.kid] = key
            return key

    def forget(self, kid: str) -> None:
        """Drop ``kid``'s decrypted key (a compromised key is never held longer than needed)."""
        with self._lock:
            self._keys.pop(kid, None)

    def seal(self, key: SigningKey) -> bytes:
        """``key`` as an encrypted PEM, for the database."""
        return key.to_encrypted_pem(self._passphrase())

    def unseal(self, pem: bytes) -> SigningKey:
        """An encrypted PEM opened without keeping it (the ring keeps only what it serves by
        :meth:`signing_key`)."""
        return SigningKey.from_encrypted_pem(pem, self._passphrase())
