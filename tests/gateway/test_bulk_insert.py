"""Many rows in one statement (issue 13, :mod:`gateway.bulk_insert`): on PostgreSQL a ``COPY``
stores what the executemany it replaces stored, JSON text included, and a taken key is the
``IntegrityError`` the issuing retry loop catches; small inserts stay plain ``INSERT``s."""

from __future__ import annotations

import functools
import json
from typing import Any, cast

import pytest
from sqlalchemy import JSON, Column, Integer, MetaData, Table, create_engine, insert, select, text
from sqlalchemy.exc import IntegrityError

from gateway import bulk_insert
from gateway.core import Gateway
from gateway.models import AuditRow
from tests.gateway.test_issuance_speed import statements

AUDIT = cast(Table, AuditRow.__table__)
BASE = 1_000_000  # leaf indexes above the city's own leaves
DETAILS: list[dict[str, Any]] = [
    {"type": "business-licence", "identifier": "杭州市·0001", "n": 7, "none": None},
    {"nested": {"list": [1, "二", None], "quote": 'a "b" \\ c\n\t'}, "empty": {}},
    {},
]


def _rows(first: int, count: int) -> list[dict[str, Any]]:
    return [
        {"at": 1_700_000_000 + n, "actor": "agency:测试", "action": "credential.issue",
         "subject": f"s{n}", "detail": DETAILS[n % len(DETAILS)], "leaf_index": BASE + n,
         "leaf_hash": bytes([n % 256]) * 32}
        for n in range(first, first + count)
    ]  # fmt: skip


def _stored(gw: Gateway, low: int, high: int) -> list[tuple[Any, ...]]:
    """The rows as stored, JSON as its text where the database keeps the text."""
    detail = "detail::text" if gw.engine.dialect.name == "postgresql" else "detail"
    query = text(
        f"SELECT at, actor, action, subject, {detail}, leaf_hash FROM audit_log "  # noqa: S608
        "WHERE leaf_index >= :low AND leaf_index < :high ORDER BY leaf_index"
    )
    with gw.engine.connect() as conn:
        found = conn.execute(query, {"low": BASE + low, "high": BASE + high})
        return [tuple(r) for r in found]


def test_a_bulk_insert_stores_what_an_executemany_stores(gw: Gateway) -> None:
    count = bulk_insert.COPY_FROM + 10
    with gw.engine.begin() as conn:
        conn.execute(insert(AUDIT).inline(), _rows(0, count))
    with statements(gw) as seen, gw.engine.begin() as conn:
        bulk_insert.insert_rows(conn, AUDIT, _rows(count, count))
    copied = [s for s in seen if "audit_log" in s]
    assert len(copied) == 1, seen  # one statement for all the rows
    if gw.engine.dialect.name == "postgresql":
        assert copied[0].startswith("COPY")
    plain, bulk = _stored(gw, 0, count), _stored(gw, count, 2 * count)
    assert [r[1:3] + r[4:5] for r in bulk] == [r[1:3] + r[4:5] for r in plain]
    assert [bytes(r[5]) for r in bulk] == [bytes([n % 256]) * 32 for n in range(count, 2 * count)]
    with gw.sessions() as session:
        read = list(
            session.scalars(select(AuditRow.detail).where(AuditRow.leaf_index >= BASE + count))
        )
    assert read == [DETAILS[n % len(DETAILS)] for n in range(count, 2 * count)]


def test_a_taken_key_is_an_integrity_error_and_writes_nothing(gw: Gateway) -> None:
    count = bulk_insert.COPY_FROM + 1
    with gw.engine.begin() as conn:
        bulk_insert.insert_rows(conn, AUDIT, _rows(0, count))
    again = _rows(count, count)
    again[-1]["leaf_index"] = BASE + 3  # taken
    with pytest.raises(IntegrityError), gw.engine.begin() as conn:
        bulk_insert.insert_rows(conn, AUDIT, again)
    assert len(_stored(gw, 0, 10 * count)) == count


def test_one_row_is_a_plain_insert(gw: Gateway) -> None:
    with statements(gw) as seen, gw.engine.begin() as conn:
        bulk_insert.insert_rows(conn, AUDIT, _rows(0, 1))
    assert [s.split()[:3] for s in seen if "audit_log" in s] == [["INSERT", "INTO", "audit_log"]]
    assert len(_stored(gw, 0, 10)) == 1


def test_streamed_rows_are_stored_as_inserted_rows_and_answered_in_order(gw: Gateway) -> None:
    """A register's chunk goes into the COPY while it is made (issue 13): the same rows stored,
    each row the generator made answered once, in order."""
    count = bulk_insert.STREAM_FROM + 5
    with gw.engine.begin() as conn:
        bulk_insert.insert_rows(conn, AUDIT, _rows(0, count))
    made: list[int] = []
    announced_before_the_last: list[str] = []

    def rows() -> Any:
        for row in _rows(count, count):
            if len(made) == count - 1:  # what had been sent when the last row was made
                announced_before_the_last.extend(s for s in seen if "audit_log" in s)
            made.append(row["leaf_index"])
            yield row

    with statements(gw) as seen, gw.engine.begin() as conn:
        answered = bulk_insert.insert_streamed(conn, AUDIT, rows(), count)
    if gw.engine.dialect.name == "postgresql":  # the COPY was open while the rows were made
        assert [s.split()[0] for s in announced_before_the_last] == ["COPY"]
    else:  # SQLite: made first, then inserted
        assert announced_before_the_last == []
    assert [r["leaf_index"] for r in answered] == made
    assert made == [BASE + n for n in range(count, 2 * count)]
    assert len([s for s in seen if "audit_log" in s]) == 1
    plain, streamed = _stored(gw, 0, count), _stored(gw, count, 2 * count)
    assert [r[1:3] + r[4:5] for r in streamed] == [r[1:3] + r[4:5] for r in plain]


def test_a_row_that_fails_to_be_made_leaves_nothing_of_the_stream(gw: Gateway) -> None:
    count = bulk_insert.STREAM_FROM + 5

    def rows() -> Any:
        for n, row in enumerate(_rows(0, count)):
            if n == count - 2:
                raise RuntimeError("signing failed")  # as a failure while minting would
            yield row

    with pytest.raises(RuntimeError, match="signing failed"), gw.engine.begin() as conn:
        bulk_insert.insert_streamed(conn, AUDIT, rows(), count)
    assert _stored(gw, 0, 10 * count) == []
    taken = _rows(0, count)
    taken[-1]["leaf_index"] = BASE  # the first row's: a key taken within the stream
    with pytest.raises(IntegrityError), gw.engine.begin() as conn:
        bulk_insert.insert_streamed(conn, AUDIT, iter(taken), count)
    assert _stored(gw, 0, 10 * count) == []


@pytest.mark.parametrize("count", [1, 3 * len(DETAILS), bulk_insert.STREAM_FROM + 2])
def test_json_made_ahead_is_stored_as_its_value_would_be(gw: Gateway, count: int) -> None:
    """A JSON value made into text by the process that signed it (``JsonText``, issue 13's
    second signer) is stored as the value itself is: the same text, read back as the same
    value, on a plain INSERT (1 row), an executemany or COPY, and a streamed COPY."""
    given, ahead = _rows(0, count), _rows(count, count)
    for plain, row in zip(given, ahead, strict=True):
        plain["detail"] = row["detail"]
        row["detail"] = bulk_insert.JsonText.of(row["detail"])
    with gw.engine.begin() as conn:
        bulk_insert.insert_rows(conn, AUDIT, given)
        bulk_insert.insert_streamed(conn, AUDIT, iter(ahead), count)
    as_given, made_ahead = _stored(gw, 0, count), _stored(gw, count, 2 * count)
    assert [r[4] for r in made_ahead] == [r[4] for r in as_given]
    with gw.sessions() as session:
        read = list(
            session.scalars(select(AuditRow.detail).where(AuditRow.leaf_index >= BASE + count))
        )
    assert read == [DETAILS[n % len(DETAILS)] for n in range(count, 2 * count)]


def test_json_made_ahead_goes_through_a_serializer_of_the_engines_own() -> None:
    """An engine with a JSON serializer of its own stores its text, not the default text a
    ``JsonText`` was made with (the gateway sets none; this keeps the two from diverging)."""
    compact = functools.partial(json.dumps, separators=(",", ":"), sort_keys=True)
    engine = create_engine("sqlite://", json_serializer=compact)
    table = Table("t", MetaData(), Column("id", Integer, primary_key=True), Column("v", JSON))
    value = {"b": [1, "二"], "a": None}
    try:
        table.create(engine)
        with engine.begin() as conn:
            bulk_insert.insert_rows(
                conn, table, [{"id": n, "v": bulk_insert.JsonText.of(value)} for n in range(3)]
            )
            bulk_insert.insert_rows(conn, table, [{"id": 9, "v": bulk_insert.JsonText.of(value)}])
            stored = conn.execute(text("SELECT v FROM t ORDER BY id")).scalars().all()
    finally:
        engine.dispose()
    assert stored == [compact(value)] * 4
