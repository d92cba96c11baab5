"""Issuing at the speed of the database (issue 13), in terms that do not depend on the clock.

Issue 13: "one in-process ``issue()`` costs 1.66 ms CPU with ~9 ORM statements"; "the 100k batch
collapses because the 'already issued?' check scans all of the agency's rows through
``ix_credentials_agency_type`` once statistics go stale"; "every row is validated twice (CLI,
then ``issue_many``)". So: a single issuance runs a fixed, small number of statements however
many credentials the agency holds; a batch chunk too; on PostgreSQL the look-ups stay on their
unique indexes as the table grows (read from ``EXPLAIN``); a register row is validated once.
No timing is asserted anywhere.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select, text
from stdnum.cn import uscc

from cli.issue_batch import issue_register
from gateway import agencies, batch_rows, holder_rule, issuance
from gateway.core import Gateway
from gateway.models import CredentialRow
from tests.conftest import Agency, FakeClock, make_agency
from tests.gateway.test_batch_identity import _open
from tests.issuers.samples import SAMPLE_SUBJECTS

TYPE = "business-licence"
SINGLE_STATEMENTS = 9  # agency+key+URL, holder, serial, slot x2, insert, audit leaf x3 - 1 (below)


def licence(n: int, **changes: str) -> dict[str, Any]:
    first17 = f"9133011{n:010d}"
    return {
        **SAMPLE_SUBJECTS[TYPE],
        "name": f"速度测试{n}号有限公司",
        "uscc": first17 + uscc.calc_check_digit(first17),
        **changes,
    }


@contextmanager
def statements(gw: Gateway) -> Iterator[list[str]]:
    """Every statement the gateway's engine runs inside the block (transaction control and
    the statistics upkeep, ``batch_rows.keep_statistics``, left out)."""
    seen: list[str] = []
    upkeep = ("pg_stat", "sqlite_stat1", "sqlite_master", "max(rowid)", "analysis_limit")

    def note(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        first = statement.lstrip().split(None, 1)[0].upper()
        if first not in ("BEGIN", "COMMIT", "ROLLBACK", "ANALYZE") and not any(
            word in statement for word in upkeep
        ):
            seen.append(statement)

    event.listen(gw.engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(gw.engine, "before_cursor_execute", note)


def issue_one(gw: Gateway, agency: Agency, n: int) -> None:
    issuance.issue(gw, agency_id=agency.id, request=issuance.IssueRequest(TYPE, licence(n)))


def batch_of(first: int, count: int, prefix: str = "speed") -> list[issuance.IssueRequest]:
    out = []
    for n in range(first, first + count):
        subject = licence(n)
        key = batch_rows.row_key(TYPE, subject, None)
        out.append(issuance.IssueRequest(TYPE, subject, batch_ref=f"{prefix}:{n}", row_key=key))
    return out


def test_a_single_issuance_runs_the_same_few_statements_however_many_the_agency_holds(
    gw: Gateway, amr: Agency
) -> None:
    issue_one(gw, amr, 0)  # the first: caches filled, the serial counter's row made
    with statements(gw) as early:
        issue_one(gw, amr, 1)
    issuance.issue_many(gw, agency_id=amr.id, requests=batch_of(100, 600))
    with statements(gw) as late:
        issue_one(gw, amr, 2)
    # No read-back of the issued row, no key or city query of its own, no status list data.
    assert len(early) == len(late), (early, late)
    assert len(early) <= SINGLE_STATEMENTS, early
    assert not any("status_lists.data" in s for s in early)


def test_a_batch_chunk_runs_the_same_statements_at_the_start_and_later(
    gw: Gateway, amr: Agency
) -> None:
    issuance.issue_many(gw, agency_id=amr.id, requests=batch_of(0, 50))
    with statements(gw) as early:
        issuance.issue_many(gw, agency_id=amr.id, requests=batch_of(1000, 200))
    for start in range(2000, 3500, 500):
        issuance.issue_many(gw, agency_id=amr.id, requests=batch_of(start, 500))
    with statements(gw) as late:
        issuance.issue_many(gw, agency_id=amr.id, requests=batch_of(5000, 200))
    # The audit log stores a subtree's root as each 256 leaves complete (gateway.auditlog):
    # whether a chunk completes one depends on the leaves before it, not on the agency's rows.
    early, late = ([s for s in found if "audit_nodes" not in s] for found in (early, late))
    assert [s.split()[0:3] for s in early] == [s.split()[0:3] for s in late], (early, late)
    # One insert of all the chunk's credentials, however many (an executemany; on PostgreSQL
    # one COPY, gateway.bulk_insert).
    inserts = ("INSERT INTO CREDENTIALS", "COPY CREDENTIALS")
    assert sum(s.lstrip().upper().startswith(inserts) for s in late) == 1


def _plan(gw: Gateway, statement: Any) -> str:
    """PostgreSQL's plan of ``statement`` with its values written in."""
    compiled = statement.compile(gw.engine, compile_kwargs={"literal_binds": True})
    with gw.engine.connect() as conn:
        return "\n".join(row[0] for row in conn.execute(text(f"EXPLAIN {compiled}")))


_GROWN = 60_000  # credentials the agency holds in the plan test, written by SQL


def _grow(gw: Gateway, template: str, count: int = _GROWN) -> None:
    """Give the agency ``_GROWN`` more credentials, copies of ``template`` with their own keys
    (written by one ``INSERT … SELECT``: the test is about plans, not issuing)."""
    copy = text(
        """
        INSERT INTO credentials (id, agency_id, type, identifier, serial, version, subject,
            holder_code, holder_code_type, holder_name, region_code, token, token_hash, kid,
            issued_at, valid_from, valid_until, status_code, status_list_id, status_idx,
            batch_ref, row_key, row_content)
        SELECT 'grown' || g, agency_id, type, identifier || '-' || g, serial, version, subject,
            'H' || g, holder_code_type, holder_name, region_code, token,
            md5(g::text) || md5(g::text || 'x'), kid, issued_at, valid_from, valid_until,
            status_code, status_list_id, 1000000 + g, 'grown:' || g, 'c:grown' || g, row_content
        FROM credentials, generate_series(1, :n) AS g WHERE id = :template
        """
    )
    with gw.engine.begin() as conn:
        conn.execute(copy, {"n": count, "template": template})


def _lookups(gw: Gateway, agency: Agency) -> list[tuple[Any, str]]:
    return _lookups_of(gw, agency, _GROWN)


def _lookups_of(gw: Gateway, agency: Agency, grown: int) -> list[tuple[Any, str]]:
    """A chunk's three look-ups of 500 keys each, and the index each should use."""
    keys = [f"c:grown{n}" for n in range(1, grown, grown // 500)]
    refs = [f"grown:{n}" for n in range(1, grown, grown // 500)]
    holders = [f"H{n}" for n in range(1, grown, grown // 500)]
    # the chunk's own "already issued?" statements, as this database runs them
    postgres = gw.engine.dialect.name == "postgresql"
    issued = batch_rows._ISSUED
    return [
        (issued[("row_key", postgres)].params(agency_id=agency.id, values=keys),
         "uq_credentials_row_key"),
        (issued[("batch_ref", postgres)].params(agency_id=agency.id, values=refs),
         "uq_credentials_batch_row"),
        (holder_rule._LIVE[postgres].params(type=TYPE, holders=holders, now=0),
         "ix_credentials_holder_code"),
    ]  # fmt: skip


def test_postgres_lookups_stay_on_their_indexes_as_the_agency_grows(
    empty_db_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    """The issue's 100k collapse: before PostgreSQL has statistics of the table (a new database;
    autovacuum's first ANALYZE waits for its naptime, or never comes when it is off) the
    planner took ``row_key IN (500 keys)`` to match most rows and read the agency's rows
    through another index instead of looking each key up. A chunk first brings the statistics
    up to date (``keep_statistics``); its look-ups, ``= ANY`` of an array made from one JSON
    value (:mod:`gateway.value_lists`), use their own indexes with stale statistics or fresh."""
    if not empty_db_url.startswith("postgresql"):
        pytest.skip("PostgreSQL's plans (SQLite's: the test of its holder look-ups below)")
    with one_issued(empty_db_url, tmp_path, clock) as (gw, amr):
        _grow(gw, the_one(gw))
        # What the issue measured, with the IN lists of then: a look-up leaves its index.
        stale = {index: _plan(gw, statement) for statement, index in _in_lists(gw, amr)}
        assert any(index not in plan for index, plan in stale.items()), stale
        for statement, index in _lookups(gw, amr):  # the chunk's own, statistics still stale
            _assert_on(index, _plan(gw, statement))

        assert batch_rows.keep_statistics(gw) is True  # what every chunk does first
        assert batch_rows.keep_statistics(gw) is False  # just analysed: nothing to do
        for statement, index in _lookups(gw, amr):
            _assert_on(index, _plan(gw, statement))


def _assert_on(index: str, plan: str) -> None:
    assert index in plan, plan
    assert "ix_credentials_agency_type" not in plan, plan
    assert "Seq Scan" not in plan, plan


def _in_lists(gw: Gateway, agency: Agency) -> list[tuple[Any, str]]:
    """The three look-ups written as ``IN`` lists of 500 values, as the issue found them."""
    c = CredentialRow.__table__.c
    step = _GROWN // 500
    keys = [f"c:grown{n}" for n in range(1, _GROWN, step)]
    refs = [f"grown:{n}" for n in range(1, _GROWN, step)]
    holders = [f"H{n}" for n in range(1, _GROWN, step)]
    return [
        (select(c.id).where(c.agency_id == agency.id, c.row_key.in_(keys)),
         "uq_credentials_row_key"),
        (select(c.id).where(c.agency_id == agency.id, c.batch_ref.in_(refs)),
         "uq_credentials_batch_row"),
        (select(c.holder_code, c.id).where(
            c.type == TYPE, c.holder_code.in_(holders),
            c.status_code.in_(holder_rule.LIVE_CODES), c.delegated_from.is_(None)),
         "ix_credentials_holder_code"),
    ]  # fmt: skip


@contextmanager
def one_issued(url: str, tmp_path: Path, clock: FakeClock) -> Iterator[tuple[Gateway, Agency]]:
    """A new gateway on ``url`` (migrated) whose market regulator issued one licence."""
    gw = _open(url, tmp_path, clock, migrate=True)
    try:
        agencies.init_city(gw, code="330100", name="杭州市",
                           public_url="https://ecert.hangzhou.gov.cn", actor="test")  # fmt: skip
        amr = make_agency(gw, name="杭州市市场监督管理局", uscc="11330100MB1958123M",
                          types=[TYPE])  # fmt: skip
        issue_one(gw, amr, 900)
        yield gw, amr
    finally:
        gw.close()


def the_one(gw: Gateway) -> str:
    """The id of the one credential :func:`one_issued` issued."""
    with gw.sessions() as session:
        return str(session.execute(select(CredentialRow.__table__.c.id)).scalar_one())


def _sqlite_plan(gw: Gateway, statement: Any) -> str:
    """SQLite's plan of ``statement`` with its values written in."""
    compiled = statement.compile(gw.engine, compile_kwargs={"literal_binds": True})
    with gw.engine.connect() as conn:
        return "\n".join(row[3] for row in conn.execute(text(f"EXPLAIN QUERY PLAN {compiled}")))


_SQLITE_GROWN = 20_000


def test_sqlite_holder_look_ups_use_the_holder_index_once_analysed(
    gw: Gateway, amr: Agency
) -> None:
    """With no statistics SQLite looked a chunk's holders up through
    ``ix_credentials_delegated_from`` (``IS NULL``: every credential, 18 ms a look-up at 12k
    credentials and growing); a chunk first analyses the table once it grew enough."""
    if gw.engine.dialect.name != "sqlite":
        pytest.skip("the SQLite case")
    issue_one(gw, amr, 900)
    assert batch_rows.keep_statistics(gw) is False  # one row: nothing worth analysing
    with gw.engine.begin() as conn:  # copies of it with their own keys (the plan, not issuing)
        conn.execute(
            text(
                """
                WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < :n)
                INSERT INTO credentials (id, agency_id, type, identifier, serial, version,
                    subject, holder_code, holder_code_type, holder_name, region_code, token,
                    token_hash, kid, issued_at, valid_from, valid_until, status_code,
                    status_list_id, status_idx, batch_ref, row_key, row_content)
                SELECT 'grown' || n, agency_id, type, identifier || '-' || n, serial, version,
                    subject, 'H' || n, holder_code_type, holder_name, region_code, token,
                    'grown-hash' || n, kid, issued_at, valid_from, valid_until, status_code,
                    status_list_id, 1000000 + n, 'grown:' || n, 'c:grown' || n, row_content
                FROM credentials, g
                """
            ),
            {"n": _SQLITE_GROWN},
        )
    (_, _, (holders, index)) = _lookups_of(gw, amr, _SQLITE_GROWN)
    # What the issue measured (SQLite read every credential through ix_credentials_delegated_from)
    # cannot happen since migration 0017 (that index holds only delegated copies): the holder
    # index serves the look-up even before any ANALYZE (tests/gateway/test_holder_lookup_plans).
    assert index in _sqlite_plan(gw, holders)

    assert batch_rows.keep_statistics(gw) is True  # what every chunk does first
    assert batch_rows.keep_statistics(gw) is False  # just analysed: nothing to do
    for statement, index in _lookups_of(gw, amr, _SQLITE_GROWN):
        assert index in _sqlite_plan(gw, statement)
    with gw.engine.connect() as conn:  # the sample bound is the connection's, not left set
        assert conn.exec_driver_sql("PRAGMA analysis_limit").scalar() == 0


def _register(path: Path, subjects: list[dict[str, Any]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as out:
        sheet = csv.DictWriter(out, fieldnames=list(subjects[0]))
        sheet.writeheader()
        sheet.writerows(subjects)
    return path


def counting(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Each call of the subject check ``issuance.prepare`` makes, by holder code."""
    calls: list[str] = []
    real: Callable[..., dict[str, Any]] = issuance.validate_subject

    def counted(ctype: Any, subject: Any, **kwargs: Any) -> dict[str, Any]:
        calls.append(str(subject.get("uscc", "")) if isinstance(subject, dict) else "")
        return real(ctype, subject, **kwargs)

    monkeypatch.setattr(issuance, "validate_subject", counted)
    return calls


def test_a_register_row_is_validated_once(
    gw: Gateway, amr: Agency, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    subjects = [licence(n) for n in range(25)]
    # Validation changes these two (spaces stripped, the USCC upper-cased): the subject issued
    # is the validated one, kept by the first pass, not the row as given.
    subjects[3] = licence(3, name="  空格测试有限公司  ")
    subjects[7] = {**licence(7), "uscc": licence(7)["uscc"].lower()}
    register = _register(tmp_path / "register.csv", subjects)
    calls = counting(monkeypatch)
    done = {"issued": 0, "skipped": 0}
    rows = issue_register(
        gw, file=register, kind="csv", agency=amr.id, type_=TYPE, batch_id="once",
        chunk_size=10, sheet=None, done=done,
    )  # fmt: skip
    assert rows == 25
    assert done == {"issued": 25, "skipped": 0}
    assert sorted(calls) == sorted(str(s["uscc"]) for s in subjects)  # each row once
    with gw.sessions() as session:
        stored = {r.holder_code: r.subject for r in session.scalars(select(CredentialRow))}
    assert stored[licence(3)["uscc"]]["name"] == "空格测试有限公司"
    assert licence(7)["uscc"] in stored  # upper-cased, as validation answers it
    assert stored[licence(0)["uscc"]] == licence(0)

    calls.clear()  # a re-run finds every row issued: nothing validated, nothing issued
    again = {"issued": 0, "skipped": 0}
    issue_register(
        gw, file=register, kind="csv", agency=amr.id, type_=TYPE, batch_id="once",
        chunk_size=10, sheet=None, done=again,
    )  # fmt: skip
    assert again == {"issued": 0, "skipped": 25}
    assert calls == []


def test_the_api_still_validates_each_request(
    gw: Gateway, amr: Agency, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = counting(monkeypatch)
    issue_one(gw, amr, 40)
    issuance.issue_many(gw, agency_id=amr.id, requests=batch_of(50, 5))
    assert len(calls) == 6
