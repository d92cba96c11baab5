"""Signed status list tokens, as served at ``GET /statuslists/{id}``.

Each list is signed by its agency's active key (``typ: statuslist+jwt``), with ``ttl`` telling
caches how long to keep it and ``exp`` bounding how long it may be trusted. Tokens are cached
and re-signed when the list content or the agency's active key changes (verifiers elsewhere
refuse a list signed by a retired or compromised key), or the cached one is older than ``ttl``.
The publisher gets what it uses (a session factory, the key ring, the clock and the two bounds),
not the gateway; ``gateway.app`` and ``gateway.trustexport`` make one from the gateway's parts.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway import keystore
from gateway.clock import Clock
from gateway.errors import NotFound
from gateway.keyring import KeyRing
from gateway.models import StatusListRow

if TYPE_CHECKING:
    from gateway.core import Gateway
from trust import statuslist


@dataclass(frozen=True)
class SignedList:
    token: str
    iat: int
    data: bytes  # the list content signed, so any change (even within a second) re-signs
    kid: str  # the key that signed: a new active key (rotation, compromise) re-signs at once


class StatusListPublisher:
    """Signs each list with its agency's active key; ``ttl`` and ``validity`` (seconds) are the
    token's ``ttl`` and its lifetime (``exp - iat``)."""

    def __init__(
        self,
        *,
        sessions: Callable[[], Session],
        keyring: KeyRing,
        clock: Clock,
        ttl: int,
        validity: int,
    ) -> None:
        self._sessions = sessions
        self._keyring = keyring
        self._clock = clock
        self.ttl = ttl
        self.validity = validity
        self._cache: dict[int, SignedList] = {}
        self._lock = threading.Lock()

    def index(self) -> list[dict[str, Any]]:
        """Every status list this gateway publishes: id, URI, owner, bits and size."""
        with self._sessions() as session:
            return [
                {"id": r.id, "uri": r.uri, "agency_id": r.agency_id, "bits": r.bits,
                 "size": r.size}
                for r in session.scalars(select(StatusListRow).order_by(StatusListRow.id))
            ]  # fmt: skip

    def token(self, list_id: int) -> SignedList:
        now = self._clock()
        ttl = self.ttl
        with self._sessions() as session:
            row = session.get(StatusListRow, list_id)
            if row is None:
                raise NotFound(f"no status list {list_id}")
            cached = self._cache.get(list_id)
            active = keystore.active_key(session, row.agency_id)
            if (
                cached is not None
                and cached.data == row.data
                and cached.kid == active.kid
                and now - cached.iat < ttl
            ):
                return cached
            key = self._keyring.signing_key(active)
            token = statuslist.sign_status_list_token(
                uri=row.uri,
                status_list=statuslist.StatusList(bits=row.bits, size=row.size, data=row.data),
                key=key,
                iat=now,
                exp=now + self.validity,
                ttl=ttl,
            )
            signed = SignedList(token=token, iat=now, data=row.data, kid=active.kid)
        with self._lock:
            self._cache[list_id] = signed
        return signed


def publisher_for(gw: Gateway) -> StatusListPublisher:
    """The publisher of ``gw``'s status lists, composed from its parts and its settings."""
    return StatusListPublisher(
        sessions=gw.sessions,
        keyring=gw.keyring,
        clock=gw.clock,
        ttl=gw.settings.status_ttl,
        validity=gw.settings.status_list_validity,
    )
