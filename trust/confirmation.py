"""Issuance confirmations: an issuing city's signed word that one token was issued before its
key's compromise. Pure: what a confirmation says, how it is signed, and what makes one good.

A thief holding a compromised credential key can forge ``iat``, so only the issuing city's own
issuance record can vouch for a token signed with that key. The city answers
``GET /federation/confirm?token_hash=…`` with a short JWT (``typ: issuance-confirmation+jwt``)
signed by its *federation* key. Another city accepts it (:func:`check_confirmation`) only when
it is signed by that city's federation keys (resolved through its own trust anchor), names the
city, the token's SHA-256, the compromised key, and an issuance time before that key's
compromise as the asking city's trust data records it, and has not expired.

Deliberately not here: reading the issuance record, resolving the city's keys, fetching and
caching answers (``gateway.confirmations``). Offline kiosks never ask: they fail closed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from trust.errors import DataError
from trust.jws import KeyIndex, _unverified_header, sign_compact, verify_compact
from trust.keys import PublicKey, SigningKey
from trust.snapshot import KeyRecord

CONFIRM_TYP = "issuance-confirmation+jwt"
CONFIRM_LIFETIME = 7 * 86_400  # seconds a confirmation holds


class ConfirmationError(DataError):
    """A confirmation that does not vouch for the token it was asked about."""


@dataclass(frozen=True)
class Confirmation:
    """What the issuing city vouches for."""

    city: str  # the issuing city's entity id (``iss``)
    agency: str  # the issuing agency's entity id (``sub``)
    token_hash: str  # hex SHA-256 of the token
    kid: str  # the compromised key that signed it
    issued_at: int
    compromised_at: int

    def sign(self, signer: SigningKey, *, now: int, lifetime: int = CONFIRM_LIFETIME) -> str:
        """The signed confirmation, valid from ``now`` for ``lifetime`` seconds."""
        if self.issued_at >= self.compromised_at:
            raise ConfirmationError(
                f"expected a token issued before its key's compromise at {self.compromised_at}, "
                f"found one issued at {self.issued_at}: nothing to confirm"
            )
        claims = {
            "iss": self.city,
            "sub": self.agency,
            "token_hash": self.token_hash,
            "kid": self.kid,
            "issued_at": self.issued_at,
            "compromised_at": self.compromised_at,
            "iat": now,
            "exp": now + lifetime,
        }
        return sign_compact(claims, signer, typ=CONFIRM_TYP)


def check_confirmation(
    answer: str,
    *,
    city_keys: Iterable[PublicKey],
    city: str,
    token_hash: str,
    record: KeyRecord,
    now: int,
) -> int:
    """The expiry of ``answer`` when it vouches for the token whose hex SHA-256 is
    ``token_hash``, signed with ``record``'s key, as issued before that key's compromise (as
    ``record``, the asker's trust data, dates it); raises :class:`ConfirmationError` (or a
    :mod:`trust.jws` signature error) saying what was expected and what was found otherwise."""
    claims = verify_compact(answer, KeyIndex(city_keys), typ=CONFIRM_TYP).payload
    compromised_at = record.compromised_at
    if compromised_at is None:
        raise ConfirmationError(
            f"expected key {record.key.kid} to be compromised (only then is a confirmation "
            "asked for), found it is not"
        )
    expected = {"iss": city, "token_hash": token_hash, "kid": record.key.kid}
    for name, value in expected.items():
        if claims.get(name) != value:
            raise ConfirmationError(
                f"expected a confirmation with {name} {value!r}, found {claims.get(name)!r}"
            )
    issued_at, exp = claims.get("issued_at"), claims.get("exp")
    if not isinstance(issued_at, int) or not isinstance(exp, int):
        raise ConfirmationError(
            f"expected integer issued_at and exp, found {issued_at!r} and {exp!r}"
        )
    if issued_at >= compromised_at:
        raise ConfirmationError(
            f"expected the token issued before its key's compromise at {compromised_at}, "
            f"found issued_at {issued_at}"
        )
    if exp <= now:
        raise ConfirmationError(f"expected an unexpired confirmation, found exp {exp} <= {now}")
    return exp


def token_kid(token: str) -> str:
    """The ``kid`` a token's header names, or ``""``: only a hint to find candidate keys."""
    try:
        kid = _unverified_header(token.split(".")[0]).get("kid")
    except DataError:
        return ""
    return kid if isinstance(kid, str) else ""
