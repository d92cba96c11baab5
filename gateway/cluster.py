"""Which process of a city leads its background federation sync: exactly one at a time.

A city may run as several processes on one database (``ecert serve --workers N``, or several
``ecert serve`` behind a load balancer). The federation sync (:func:`gateway.app._federation_sync`)
writes what every process reads, so one process runs it and the others follow:

- On PostgreSQL, the leader holds a session-level advisory lock (``pg_try_advisory_lock``,
  PostgreSQL §9.28.10) on a connection of its own, outside the pool. The lock lives as long as
  that connection: when the leader exits, is killed or loses its connection, PostgreSQL drops
  the lock with the session, and a follower's next try takes it.
- On SQLite, the leader holds an exclusive ``flock`` on a file beside the database; the kernel
  drops it when the process ends. One process alone always leads.

:meth:`Leadership.lead` is the one call: it answers whether this process leads now, taking the
lock when it is free and checking a held lock's connection is still alive. It blocks (one short
query), so the sync loop calls it from a background thread; every wait is bounded.

Deliberately not here: what the leader does (:mod:`gateway.app`), and telling other processes
that the state changed (:mod:`gateway.notify`).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
from pathlib import Path
from typing import IO

import psycopg
from sqlalchemy.engine import make_url

log = logging.getLogger("ecert.cluster")

# The advisory lock's key: one 64-bit number per purpose, the same in every process of every
# city (advisory locks are per database, and one database holds one city).
SYNC_LOCK_KEY = 0x65636572_7473796E  # "ecertsyn"
CONNECT_TIMEOUT = 5  # seconds to reach PostgreSQL for the lock's own connection
QUERY_TIMEOUT_MS = 5_000  # statement_timeout on that connection
CLOSE_WAIT = 0.2  # seconds a close waits for a lead being taken to finish


def libpq_url(database_url: str) -> str:
    """The SQLAlchemy URL of a PostgreSQL database as a libpq URI (``postgresql://…``) for a
    psycopg connection of its own, outside SQLAlchemy's pool."""
    url = make_url(database_url)
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def connect(database_url: str) -> psycopg.Connection[tuple[object, ...]]:
    """A dedicated autocommit connection, bounded in time (connect and every statement), with
    TCP keepalives so a vanished server is noticed."""
    return psycopg.connect(
        libpq_url(database_url),
        autocommit=True,
        connect_timeout=CONNECT_TIMEOUT,
        options=f"-c statement_timeout={QUERY_TIMEOUT_MS}",
        keepalives=1,
        keepalives_idle=10,
        keepalives_interval=5,
        keepalives_count=3,
        application_name="ecert-gateway",
    )


class Leadership:
    """Whether this process leads; :meth:`lead` takes, keeps or loses the lead. Thread-safe."""

    def __init__(self, database_url: str) -> None:
        self._url = database_url
        self._postgres = make_url(database_url).get_backend_name() == "postgresql"
        self._conn: psycopg.Connection[tuple[object, ...]] | None = None
        self._file: IO[bytes] | None = None
        self._lock = threading.Lock()
        self._closed = False
        self.leading = False

    @property
    def backend(self) -> str:
        """How the lead is held: ``"postgresql"`` (advisory lock) or ``"sqlite"`` (flock)."""
        return "postgresql" if self._postgres else "sqlite"

    def lead(self) -> bool:
        """True if this process leads now: a held lead is checked, a free one is taken."""
        with self._lock:
            if self._closed:
                return False
            was = self.leading
            try:
                self.leading = self._hold_postgres() if self._postgres else self._hold_file()
            except (psycopg.Error, OSError) as exc:
                log.warning("cannot hold the federation sync lead (will retry): %s", exc)
                self._drop()
                self.leading = False
            if self.leading != was:
                log.info(
                    "process %d %s the city's federation sync",
                    os.getpid(),
                    "now leads" if self.leading else "no longer leads",
                )
            return self.leading

    def close(self) -> None:
        """Give up the lead (if held) for good: another process takes it on its next try.
        Never waits long: a :meth:`lead` blocked on the database (bounded by its timeouts)
        is left to end with the process, which drops its session and its lock with it."""
        self._closed = True
        if self._lock.acquire(timeout=CLOSE_WAIT):
            try:
                if self.leading and self._conn is not None and not self._conn.closed:
                    with contextlib.suppress(psycopg.Error):  # else it ends with the session
                        self._conn.execute("SELECT pg_advisory_unlock(%s)", (SYNC_LOCK_KEY,))
                self._drop()
                self.leading = False
            finally:
                self._lock.release()

    def _hold_postgres(self) -> bool:
        if self._conn is not None and self._conn.closed:
            self._drop()  # the session (and the lock with it) is gone
        if self._conn is None:
            self._conn = connect(self._url)
        if self.leading:  # the lock is the session's: a live session still holds it
            self._conn.execute("SELECT 1")
            return True
        row = self._conn.execute("SELECT pg_try_advisory_lock(%s)", (SYNC_LOCK_KEY,)).fetchone()
        return bool(row and row[0])

    def _hold_file(self) -> bool:
        if self.leading:
            return True
        path = _lock_file_for(self._url)
        if path is None:  # an in-memory database: only this process can reach it
            return True
        if self._file is None:
            self._file = path.open("ab")
        try:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _drop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()  # ends the session: PostgreSQL releases the advisory lock
            self._conn = None
        if self._file is not None:
            self._file.close()  # releases the flock
            self._file = None


def _lock_file_for(database_url: str) -> Path | None:
    """The file whose ``flock`` stands for the lead of a SQLite city, beside its database
    (``None`` for an in-memory database, which no other process can share)."""
    database = make_url(database_url).database
    if not database or database == ":memory:":
        return None
    return Path(f"{database}.sync-leader")
