"""Telling every process of a city at once that its live state changed (PostgreSQL
``LISTEN``/``NOTIFY``), so a revocation made in one process is answered by all within a second.

- The writer: :func:`gateway.state.mark_changed` calls :func:`announce` inside the transaction
  that moves ``city.state_version``. PostgreSQL delivers a ``NOTIFY`` only when that transaction
  commits, and never one of a transaction rolled back (PostgreSQL, ``NOTIFY``: "if a NOTIFY is
  executed inside a transaction, the notify events are not delivered until and unless the
  transaction is committed"). The payload is the new version, for the logs only.
- Every process: :class:`StateListener`, a daemon thread with a connection of its own that
  ``LISTEN``\\ s and, on each notification (several at once count as one), asks the state holder
  to look at the shared version (:meth:`gateway.live.StateHolder.refresh_if_changed`): one query,
  and a rebuild if the version moved. Its own writes were already applied by the writer, so
  the look finds nothing to do. A lost connection is reconnected with a bounded back-off, and
  the version is looked at once after every (re)connection, for what was missed meanwhile.

The poll of the shared version (``ECERT_REFRESH_INTERVAL``) stays as the safety net. SQLite
has no notifications: a city on SQLite relies on the poll alone.

Deliberately not here: what a rebuild reads (:mod:`gateway.state`), which process leads the
sync (:mod:`gateway.cluster`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import psycopg
from sqlalchemy import text
from sqlalchemy.orm import Session

from gateway.cluster import connect

log = logging.getLogger("ecert.notify")

CHANNEL = "ecert_state"
# Seconds a wait for notifications lasts before the stop is looked at again: what a stop may
# wait for the listener (every app of a city on PostgreSQL stops one). Waking 20 times a
# second costs an idle process one select() each time; a notification ends a wait at once.
WAIT = 0.05
RETRY_FIRST = 0.5  # seconds before reconnecting, doubled on each failure …
RETRY_MAX = 5.0  # … up to this


def announce(session: Session, version: int) -> None:
    """Send the state change ``version`` to every process listening, when (and only if) the
    session's transaction commits. Nothing on SQLite."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_notify(:channel, :version)"),
                        {"channel": CHANNEL, "version": str(version)})  # fmt: skip


class StateListener:
    """Listens for state changes on a connection of its own and calls ``refresh`` (the state
    holder's look at the shared version) for each burst of them. :meth:`start` and
    :meth:`stop`; the thread is a daemon, so a stop never waits on the database."""

    def __init__(self, database_url: str, refresh: Callable[[], object]) -> None:
        self._url = database_url
        self._refresh = refresh
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.listening = threading.Event()  # set while LISTEN is in place (for tests and health)
        self.notified = 0  # notifications received (each burst counted once)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="ecert-state-listener", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 1.0) -> None:
        """Ask the thread to end and wait at most ``timeout`` seconds for it (it notices the stop
        within :data:`WAIT` seconds unless blocked connecting, which is itself bounded)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        delay = RETRY_FIRST
        while not self._stop.is_set():
            try:
                with connect(self._url) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self.listening.set()
                    delay = RETRY_FIRST
                    self._look()  # what changed while no one listened
                    self._listen(conn)
            except psycopg.Error as exc:
                log.warning("state notifications lost (the poll still runs): %s", exc)
            finally:
                self.listening.clear()
            if self._stop.wait(delay):
                return
            delay = min(RETRY_MAX, delay * 2)

    def _listen(self, conn: psycopg.Connection[tuple[object, ...]]) -> None:
        while not self._stop.is_set():
            burst = sum(1 for _ in conn.notifies(timeout=WAIT, stop_after=1))
            if burst:
                self.notified += 1
                self._look()

    def _look(self) -> None:
        try:
            self._refresh()
        except Exception:  # keep listening; the poll will try again too
            log.exception("state refresh on a notification failed; still serving the last state")
