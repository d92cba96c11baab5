"""``StateHolder``: the one current :class:`gateway.state.LiveState` of this process, rebuilt
whole and swapped in one assignment.

The verify hot path reads :attr:`StateHolder.state` (one attribute load, no query). A writer in
this process rebuilds it after its commit; a process that shares the database with other
processes polls the shared version (:meth:`StateHolder.refresh_if_changed`) and rebuilds when it
moved, or when half a status list's validity has passed. A poll that finds nothing moved
confirms this gateway's own status lists as current at that moment: their age, which bounds a
VALID (:mod:`verify.freshness`), counts from the last confirmation, not from the last rebuild.

A write made in this process is seen by the very next verify: the writer's transaction gives a
:class:`gateway.state.StateChange` (:func:`gateway.state.mark_changed`), and the code that
opened the transaction hands it to :meth:`StateHolder.changed` once it committed.

Deliberately not here: what the state holds and how it is built from the rows
(``gateway.state``); when to poll (``gateway.app``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.clock import Clock
from gateway.models import CityRow
from gateway.state import LiveState, PeerTrust, StateChange, build_state
from issuers.credential_types import TypeRegistry


class StateHolder:
    """Holds the live state; builds it from a read-only session of ``sessions``.

    ``peers`` is the process's one trusted state for peers' data (:class:`PeerTrust`), fed by
    every rebuild and asked by the status list refresh."""

    def __init__(
        self,
        *,
        sessions: Callable[[], Session],
        types: TypeRegistry,
        clock: Clock,
        status_ttl: int,
        status_validity: int,
    ) -> None:
        self._sessions = sessions
        self._types = types
        self._clock = clock
        self._status_ttl = status_ttl
        self._status_validity = status_validity
        self.peers = PeerTrust()  # peers' trust list and status lists, each verified once
        self._state: LiveState | None = None
        self._lock = threading.Lock()

    @property
    def state(self) -> LiveState:
        """The current state, built on first use."""
        state = self._state
        if state is None:
            return self.reload()
        return state

    def reload(self) -> LiveState:
        """Build the state from what is committed now and make it current."""
        with self._lock, self._sessions() as session:
            state = build_state(
                session,
                types=self._types,
                now=self._clock(),
                status_ttl=self._status_ttl,
                status_validity=self._status_validity,
                peers=self.peers,
            )
            self._state = state
            return state

    def changed(self, change: StateChange | None) -> None:
        """Apply ``change`` (``None``: nothing changed), after the transaction that made it
        committed: one rebuild, so the next verify in this process sees it."""
        if change is not None:
            self.reload()

    def refresh_if_changed(self) -> bool:
        """Poll the shared version; rebuild when another process (or time) made it stale."""
        with self._sessions() as session:
            version = session.scalar(select(CityRow.state_version).where(CityRow.id == 1))
        current = self._state
        now = self._clock()
        if (
            current is None
            or version != current.version
            or now - current.built_at > self._status_validity // 2
        ):
            self.reload()
            return True
        with self._lock:
            if self._state is current:  # not rebuilt meanwhile
                self._state = confirmed(current, now)
        return False


def confirmed(state: LiveState, now: int) -> LiveState:
    """``state`` with this gateway's own status lists confirmed current at ``now`` (the shared
    version did not move, so what was read from the database still stands); other gateways'
    lists keep the ``iat`` their issuer signed."""
    remote = {uri for uris in state.remote_status_uris.values() for uri in uris}
    statuses = {
        uri: source
        if uri in remote or source.snapshot.iat >= now
        else replace(source, snapshot=replace(source.snapshot, iat=now))
        for uri, source in state.statuses.items()
    }
    return replace(state, statuses=statuses)
