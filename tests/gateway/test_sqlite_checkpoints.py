"""While a register is issued on SQLite the WAL is checkpointed by a thread, not by the
commits (issue 13: every chunk's commit also copied the WAL back, 27–30 µs a row of wall time
against 6 µs without): the run's connections carry a raised limit and get their own back, the
WAL ends copied back, and the thread ends with the block however it ends."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from gateway import sqlite_checkpoints
from gateway.core import Gateway
from gateway.sqlite_checkpoints import SAFETY_PAGES, THREAD_NAME, background_checkpoints
from tests.conftest import Agency


def _limit(gw: Gateway) -> int | None:
    """The WAL limit of a connection of the pool (None on PostgreSQL)."""
    if gw.engine.dialect.name != "sqlite":
        return None
    with gw.engine.connect() as conn:
        return int(conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one())


def _threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name == THREAD_NAME]


def _write_pages(gw: Gateway, rows: int) -> None:
    with gw.engine.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS filler (n INTEGER, pad TEXT)"))
        conn.execute(
            text("INSERT INTO filler VALUES (:n, :pad)"),
            [{"n": n, "pad": "x" * 3000} for n in range(rows)],
        )


def test_the_run_leaves_checkpoints_to_a_thread_and_the_wal_copied_back(gw: Gateway) -> None:
    if gw.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's WAL (PostgreSQL: tested below, nothing to do)")
    default = _limit(gw)
    path = Path(str(sqlite_checkpoints.database_file(gw.engine)))
    with background_checkpoints(gw.engine):
        assert _threads() == [THREAD_NAME]
        assert _limit(gw) == SAFETY_PAGES  # a commit of the run does not checkpoint
        before = path.stat().st_size
        _write_pages(gw, 2000)  # ~1,500 pages: more than SQLite's own limit of 1,000
    assert _limit(gw) == default  # every connection got its own limit back
    assert _threads() == []
    # Only a checkpoint moves pages from the WAL into the database file, and the run's commits
    # made none: the thread copied the ~6 MB written back.
    assert path.stat().st_size - before > 2000 * 3000, (before, path.stat().st_size)


def test_the_thread_ends_when_the_run_fails(gw: Gateway) -> None:
    if gw.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's WAL")
    with pytest.raises(RuntimeError, match="a failing run"), background_checkpoints(gw.engine):
        raise RuntimeError("a failing run")
    assert _threads() == []
    assert _limit(gw) != SAFETY_PAGES


def test_nothing_is_started_for_postgresql_or_a_database_in_memory(gw: Gateway) -> None:
    memory = create_engine("sqlite://")
    try:
        for engine in (memory, gw.engine):
            if sqlite_checkpoints.database_file(engine) is not None:
                continue  # the SQLite file: the tests above
            with background_checkpoints(engine):
                assert _threads() == []
    finally:
        memory.dispose()


def test_a_register_is_issued_with_the_checkpoints_aside(
    gw: Gateway, amr: Agency, tmp_path: Path
) -> None:
    """``ecert issue-batch``'s passes run inside :func:`background_checkpoints`: seen from the
    run's own progress callback, chunk by chunk."""
    from cli.issue_batch import issue_register
    from tests.gateway.test_issuance_speed import TYPE, _register, licence

    seen: list[tuple[list[str], int]] = []
    done = {"issued": 0, "skipped": 0}
    register = _register(tmp_path / "register.csv", [licence(n) for n in range(12)])
    issue_register(
        gw, file=register, kind="csv", agency=amr.id, type_=TYPE, batch_id="ckpt",
        chunk_size=5, sheet=None, done=done,
        on_chunk=lambda _rows, _done: seen.append((_threads(), _limit(gw))),
    )  # fmt: skip
    assert done == {"issued": 12, "skipped": 0}
    sqlite = gw.engine.dialect.name == "sqlite"
    expected = ([THREAD_NAME], SAFETY_PAGES) if sqlite else ([], None)
    assert seen == [expected] * 4  # after pass 1, then after each of the 3 chunks
    assert _threads() == []
