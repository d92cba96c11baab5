"""SQLite: while a register is issued, the WAL is copied back into the database by a thread of
its own instead of by the commits.

In WAL mode SQLite checkpoints in the connection that commits, once the WAL holds more than
``wal_autocheckpoint`` pages (1,000, 4 MB): the commit waits while every page written since the
last checkpoint is copied into the database file and the file is synced. A register's chunk of
1,000 credentials writes more than that (the row and its eleven index entries, most of them in
pages of random keys), so every chunk's commit also ran a checkpoint. Issue 13, measured on a
20,000-row register: 27–30 µs of wall time a row in the commits, against 6 µs without the
checkpoints; 10–12 % of the run.

:func:`background_checkpoints` raises the limit on the connections the run checks out of the
pool (:data:`SAFETY_PAGES`: a bound on the WAL should the thread fall behind) and gives each its
own value back when it is checked in. A thread runs a ``PASSIVE`` checkpoint every
:data:`INTERVAL` seconds on a connection of its own: it waits for no reader or writer, and
SQLite does the copying outside the GIL, on the other core while this one signs. Pages that
several chunks wrote are copied once. Every wait is bounded: the thread is stopped and joined
when the run ends, however it ends, and one last checkpoint leaves the WAL copied back.

PostgreSQL and in-memory SQLite: nothing to do.

Deliberately not here: the HTTP server's commits, which are small and keep SQLite's own policy.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

log = logging.getLogger("ecert.gateway")

INTERVAL = 0.05  # seconds between checkpoints
SAFETY_PAGES = 50_000  # the WAL's bound while the thread checkpoints: 200 MB of 4 kB pages
THREAD_NAME = "ecert-sqlite-checkpoint"
_SAVED = "ecert_wal_autocheckpoint"  # the connection's own limit, kept in its record's info


def database_file(engine: Engine) -> str | None:
    """The file of a SQLite engine; None for another database or an in-memory one."""
    if engine.dialect.name != "sqlite":
        return None
    name = engine.url.database
    if not name or name == ":memory:" or name.startswith("file::memory:"):
        return None
    return name


@contextmanager
def background_checkpoints(engine: Engine) -> Iterator[None]:
    """While the block runs, ``engine``'s checked-out connections leave checkpoints to a
    thread (see the module's note); a no-op on other databases."""
    path = database_file(engine)
    if path is None:
        yield
        return

    def raised(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        if _SAVED not in record.info:
            record.info[_SAVED] = dbapi_conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0]
        dbapi_conn.execute(f"PRAGMA wal_autocheckpoint={SAFETY_PAGES}")

    def restored(dbapi_conn: Any, record: Any) -> None:
        saved = record.info.pop(_SAVED, None)
        if saved is not None:
            dbapi_conn.execute(f"PRAGMA wal_autocheckpoint={int(saved)}")

    stop = threading.Event()
    thread = threading.Thread(target=_checkpoints, args=(path, stop), name=THREAD_NAME, daemon=True)
    event.listen(engine, "checkout", raised)
    event.listen(engine, "checkin", restored)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()  # bounded: a PASSIVE checkpoint waits for no lock
        event.remove(engine, "checkout", raised)
        event.remove(engine, "checkin", restored)


def _checkpoints(path: str, stop: threading.Event) -> None:
    try:
        connection = sqlite3.connect(path, timeout=0, isolation_level=None)
    except sqlite3.Error as exc:  # the run goes on; its commits checkpoint, as before
        log.warning("sqlite checkpoints: cannot open %s: %s", path, exc)
        return
    try:
        while True:
            last = stop.wait(INTERVAL)
            try:
                connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            except sqlite3.Error as exc:  # busy or failing: the next round, or the commits
                log.warning("sqlite checkpoints: %s", exc)
            if last:
                return
    finally:
        connection.close()
