"""Issuance confirmations, asked for and answered over the federation (the rules:
:mod:`trust.confirmation`).

The issuing side (:func:`confirm`) reads its issuance record and signs a confirmation for a
token its record shows as issued before its key's compromise. The asking side
(:class:`Confirmer`) asks only when its verifier answered KEY_NOT_VALID_AT_ISSUANCE for a
compromised key of a remote issuer, resolves the issuing city's federation keys through its own
trust anchor, checks the answer and caches it. It gets what it uses (the clock, the fetcher and
a way to read the trust anchors), not the gateway.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import select

from gateway import federation
from gateway.clock import Clock
from gateway.core import Gateway
from gateway.models import CredentialRow, SigningKeyRow
from trust.confirmation import Confirmation, check_confirmation, token_kid
from trust.errors import DataError, FetchError
from trust.federation import Fetcher, resolve_chain
from trust.keys import PublicKey
from trust.snapshot import TrustSnapshot

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
        return Confirmation(
            city=fed.entity_id,
            agency=federation.agency_entity_id(fed.entity_id, row.agency_id),
            token_hash=token_hash,
            kid=row.kid,
            issued_at=row.issued_at,
            compromised_at=key.compromised_at,
        ).sign(signer, now=now)


@dataclass
class Confirmer:
    """Asking side: confirmations fetched from issuing cities, cached per process.

    ``confirmed`` is what the verifier consults. Each entry holds only while its confirmation
    is unexpired and the key's compromise time is still the one it was confirmed against (an
    issuer may move the compromise earlier): :meth:`revalidate` drops the others whenever the
    trust data changes or an entry expires. Refusals are remembered for a minute, at most
    :data:`MAX_CACHE` of them. ``anchors`` reads the trust anchors this gateway resolves
    issuing cities through (:func:`gateway.trustsync.trust_anchors`), each time it asks."""

    clock: Clock
    fetcher: Fetcher
    anchors: Callable[[], dict[str, list[PublicKey]]]
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
        now = self.clock()
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
        kid = token_kid(token)
        records = [r for r in trust.key_records(kid) if r.compromised_at is not None]
        for record in records:
            issuer = trust.issuers.get(record.issuer_id)
            city = next((c.id for c in (issuer.chain if issuer else ()) if c.role == "city"), None)
            if city is None or record.compromised_at is None:
                continue
            try:
                resolved = resolve_chain(
                    city,
                    fetcher=self.fetcher,
                    trust_anchors=self.anchors(),
                    now=now,
                )
                url = f"{city}/federation/confirm?token_hash={digest.hex()}"
                answer = self.fetcher.fetch(url).decode("ascii")
                exp = check_confirmation(
                    answer,
                    city_keys=resolved.keys,
                    city=city,
                    token_hash=digest.hex(),
                    record=record,
                    now=now,
                )
            except (DataError, FetchError, UnicodeDecodeError):
                continue
            return record.key.kid, record.compromised_at, exp
        return None
