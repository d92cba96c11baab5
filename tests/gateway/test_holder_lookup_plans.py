"""The holder rule's look-up stays on the holder index however stale the statistics (issue 13).

The profile of an issuing group on PostgreSQL found a fifth of its time in the holder rule's
look-up: without statistics of the grown table the planner took ``delegated_from IS NULL`` to
match a few rows and read every credential through ``ix_credentials_delegated_from`` to AND it
with the holder index (4,000 index entries for 8 holders at 4,000 credentials). Migration 0017
keeps only the copies in that index and makes the holder index ``(holder_code, type)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from gateway import holder_rule
from gateway.core import Gateway
from tests.conftest import FakeClock
from tests.gateway.test_issuance_speed import (
    TYPE,
    _grow,
    _plan,
    _sqlite_plan,
    one_issued,
    the_one,
)

_SQLITE_GROW = text(
    """
    WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < :n)
    INSERT INTO credentials (id, agency_id, type, identifier, serial, version, subject,
        holder_code, holder_code_type, holder_name, region_code, token, token_hash, kid,
        issued_at, valid_from, valid_until, status_code, status_list_id, status_idx,
        batch_ref, row_key, row_content)
    SELECT 'grown' || n, agency_id, type, identifier || '-' || n, serial, version, subject,
        'H' || n, holder_code_type, holder_name, region_code, token, 'grown-hash' || n, kid,
        issued_at, valid_from, valid_until, status_code, status_list_id, 1000000 + n,
        'grown:' || n, 'c:grown' || n, row_content
    FROM credentials, g
    """
)


def _holders_look_up(gw: Gateway) -> Any:
    # Holders the grown table holds (the planner's BitmapAnd runs on) and one it does not.
    holders = [f"H{n}" for n in range(1, 4_000, 500)] + ["91330100MA27XXXX0X"]
    postgres = gw.engine.dialect.name == "postgresql"
    return holder_rule._LIVE[postgres].params(type=TYPE, holders=holders, now=1)


def test_the_holder_look_up_reads_only_the_holder_index_without_statistics(
    empty_db_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    with one_issued(empty_db_url, tmp_path, clock) as (gw, _):
        if gw.engine.dialect.name == "postgresql":
            _grow(gw, the_one(gw))  # no ANALYZE since: what a grown gateway's planner may see
            plan = _plan(gw, _holders_look_up(gw))
        else:
            with gw.engine.begin() as conn:
                conn.execute(_SQLITE_GROW, {"n": 20_000})
            plan = _sqlite_plan(gw, _holders_look_up(gw))
    assert "ix_credentials_holder_code" in plan, plan
    assert "ix_credentials_delegated_from" not in plan, plan
    assert "ix_credentials_agency_type" not in plan, plan
    assert "Seq Scan" not in plan, plan


def test_a_groups_holders_are_looked_up_by_index_in_a_small_table_too(
    empty_db_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    """An issuing group's 8 holders at 1,000 credentials, statistics fresh, with the plans a
    pooled connection keeps (psycopg prepares a statement on its 6th run; generic plans
    forced). Bound as the text of a JSON array read back by ``IN (SELECT
    json_array_elements_text(…))`` (tried for issue 13), PostgreSQL took the list to hold 100
    values and read the table whole: 1.58 ms of PostgreSQL CPU an HTTP issuance against 0.52
    with an array. ``= ANY(ARRAY(SELECT …))`` is planned as an array is."""
    if not empty_db_url.startswith("postgresql"):
        pytest.skip("PostgreSQL's plans")
    with one_issued(empty_db_url, tmp_path, clock) as (gw, _):
        _grow(gw, the_one(gw), 1_000)
        with gw.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
                "ANALYZE credentials"
            )
        holders = [f"H{n}" for n in range(1, 1_000, 125)]
        with gw.engine.connect() as conn:
            conn.exec_driver_sql("SET LOCAL plan_cache_mode = force_generic_plan")
            before = _scans(conn)
            for _ in range(8):
                conn.execute(holder_rule._LIVE[True], {"type": TYPE, "holders": holders, "now": 1})
            after = _scans(conn)
    assert after[0] == before[0], (before, after)  # the table never read whole
    assert after[1] - before[1] >= 8, (before, after)  # but looked up in an index


def _scans(conn: Any) -> tuple[int, int]:
    """Sequential and index scans of ``credentials`` this backend made and has not yet
    reported (``pg_stat_xact_user_tables``: they count up within the session)."""
    found = conn.exec_driver_sql(
        "SELECT seq_scan, idx_scan FROM pg_stat_xact_user_tables WHERE relname = 'credentials'"
    ).one()
    return int(found[0]), int(found[1])
