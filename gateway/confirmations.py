"""Signed confirmations that a token was issued before its key was compromised.

A thief holding a compromised credential key can forge ``iat``, so only the issuing gateway's
own issuance record can vouch for a token signed with that key. The issuing city answers
``GET /federation/confirm?token_hash=…`` with a short JWT (``typ: issuance-confirmation+jwt``)
signed by its *federation* key, for exactly the tokens its records show as issued before the
compromise. Another city asks only when its verifier answered KEY_NOT_VALID_AT_ISSUANCE for a
compromised key of a remote issuer, checks the answer against the issuing city's federation keys
(resolved through its own trust anchor) and caches it. Offline kiosks never ask: they fail closed.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from sqlalchemy import select

from gateway import federation, trustsync
from gateway.core import Gateway
from gateway.models import CredentialRow, SigningKeyRow
from trust.errors import DataError, FetchError
from trust.federation import Fetcher, resolve_chain
from trust.jws import KeyIndex, _unverified_header, sign_compact, verify_compact
from trust.snapshot import TrustSnapshot

CONFIRM_TYP = "issuance-confirmation+jwt"
CONFIRM_LIFETIME = 7 * 86_400
NEGATIVE_TTL = 60
MAX_CACHE = 100_000


def confirm(gw: Gateway, token_hash: str) -> str | None:
    """Issuing side: a signed confirmation, or None when our record does not show the token
    as issued before its key's compromise."""
    now = gw.clock()
    with gw.sessions() as session:
        row = session.scalar(select(CredentialRow).where(CredentialRow.token_hash == token_hash))
        if row is None:
            return None
        key = session.get(SigningKeyRow, row.kid)
        if key is None or key.compromised_at is None or row.issued_at >= key.compromised_at:
            return None
        fed = federation.config(session)
        signer, _ = federation.signing_key(gw, session, federation.SELF)
        claims = {
            "iss": fed.entity_id,
            "sub": federation.agency_entity_id(fed.entity_id, row.agency_id),
            "token_hash": token_hash,
            "kid": row.kid,
            "issued_at": row.issued_at,
            "compromised_at": key.compromised_at,
            "iat": now,
            "exp": now + CONFIRM_LIFETIME,
        }
        return sign_compact(claims, signer, typ=CONFIRM_TYP)


@dataclass
class Confirmer:
    """Asking side: confirmations fetched from issuing cities, cached per process.

    ``confirmed`` is what the verifier consults. Each entry holds only while its confirmation
    is unexpired and the key's compromise time is still the one it was confirmed against (an
    issuer may move the compromise earlier): :meth:`revalidate` drops the others whenever the
    trust data changes or an entry expires. Refusals are remembered for a minute, at most
    :data:`MAX_CACHE` of them."""

    gw: Gateway
    fetcher: Fetcher
    confirmed: set[bytes] = field(default_factory=set)
    basis: dict[bytes, tuple[str, int, int]] = field(default_factory=dict)  # kid, compromise, exp
    refused_until: dict[bytes, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _checked: tuple[int, int] = (-1, 0)  # (state version, the earliest exp) last revalidated at

    def revalidate(self, trust: TrustSnapshot, version: int, now: int) -> None:
        """Drop confirmations that expired or whose key's compromise time changed. Two integer
        comparisons when nothing changed: it runs before every verify."""
        checked_version, next_exp = self._checked
        if version == checked_version and (not self.basis or now < next_exp):
            return
        with self.lock:
            for digest, (kid, compromised_at, exp) in list(self.basis.items()):
                held = [r for r in trust.key_records(kid) if r.key.kid == kid]
                if exp <= now or not any(r.compromised_at == compromised_at for r in held):
                    del self.basis[digest]
                    self.confirmed.discard(digest)
            earliest = min((exp for _, _, exp in self.basis.values()), default=0)
            self._checked = (version, earliest)

    def ask(self, token: str, digest: bytes, trust: TrustSnapshot) -> bool:
        """True if the issuing city confirms ``token``; asks at most once a minute per token."""
        now = self.gw.clock()
        with self.lock:
            if digest in self.confirmed:
                return True
            if self.refused_until.get(digest, 0) > now:
                return False
        basis = self._fetch(token, digest, trust, now)
        with self.lock:
            if basis is not None and len(self.confirmed) < MAX_CACHE:
                self.confirmed.add(digest)
                self.basis[digest] = basis
                self._checked = (self._checked[0], min(self._checked[1] or basis[2], basis[2]))
            elif basis is None:
                if len(self.refused_until) >= MAX_CACHE:  # keep it bounded: forget the expired
                    self.refused_until = {d: t for d, t in self.refused_until.items() if t > now}
                if len(self.refused_until) < MAX_CACHE:
                    self.refused_until[digest] = now + NEGATIVE_TTL
        return basis is not None

    def _fetch(
        self, token: str, digest: bytes, trust: TrustSnapshot, now: int
    ) -> tuple[str, int, int] | None:
        """``(kid, compromised_at, exp)`` of a valid confirmation, else None."""
        kid = _header_kid(token)
        records = [r for r in trust.key_records(kid) if r.compromised_at is not None]
        for record in records:
            issuer = trust.issuers.get(record.issuer_id)
            city = next((c.id for c in (issuer.chain if issuer else ()) if c.role == "city"), None)
            if city is None:
                continue
            try:
                resolved = resolve_chain(
                    city,
                    fetcher=self.fetcher,
                    trust_anchors=trustsync.trust_anchors(self.gw),
                    now=now,
                )
                url = f"{city}/federation/confirm?token_hash={digest.hex()}"
                answer = self.fetcher.fetch(url).decode("ascii")
                claims = verify_compact(answer, KeyIndex(resolved.keys), typ=CONFIRM_TYP).payload
            except (DataError, FetchError, UnicodeDecodeError):
                continue
            if (
                claims.get("iss") == city
                and claims.get("token_hash") == digest.hex()
                and claims.get("kid") == record.key.kid
                and isinstance(claims.get("issued_at"), int)
                and record.compromised_at is not None
                and claims["issued_at"] < record.compromised_at
                and isinstance(claims.get("exp"), int)
                and claims["exp"] > now
            ):
                return record.key.kid, record.compromised_at, int(claims["exp"])
        return None


def _header_kid(token: str) -> str:
    try:  # the kid is only a hint to find candidate keys
        kid = _unverified_header(token.split(".")[0]).get("kid")
    except DataError:
        return ""
    return kid if isinstance(kid, str) else ""
