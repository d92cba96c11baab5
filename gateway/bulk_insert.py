"""Many rows into one table in one statement: PostgreSQL ``COPY … FROM STDIN``, else executemany.

Issue 13: on PostgreSQL an executemany of a batch's 1,000 credentials is 1,000 bound executions
in a pipeline, each parsed, planned and answered by the server; it took more of a register's
wall time than signing. ``COPY`` sends the rows as one stream that the server reads without a
plan a row. The rows stored are the same: JSON columns get the text SQLAlchemy's JSON type
would send (``json.dumps`` of the value), every other value goes as psycopg adapts it.

Used for inserts of at least :data:`COPY_FROM` rows: a single issuance keeps its plain INSERT
(one round trip either way). Measured on PostgreSQL, CPU of this process for a group of
issuances' credentials (22 columns): 2 rows 0.15 ms by COPY against 0.24 ms by SQLAlchemy's
executemany, 8 rows 0.25 against 0.43 ms; a group of 8 writes two such inserts (credentials,
audit leaves). SQLite gets the executemany it had, run on the driver's cursor with
the rows as tuples; any other database, SQLAlchemy's executemany.

Deliberately not here: which rows to write (:mod:`gateway.issuance`, :mod:`gateway.auditlog`).
"""

from __future__ import annotations

import functools
import itertools
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import JSON, Table, insert
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

COPY_FROM = 2  # rows: one row goes as a plain INSERT
# Rows from which :func:`insert_streamed` writes to PostgreSQL while the rows are still being
# made (a register's chunk); fewer (an HTTP group of issuances) are made first, then inserted.
STREAM_FROM = 256


class JsonText(str):
    """A JSON column's value already as the text SQLAlchemy's JSON type binds for it,
    ``json.dumps(value)`` (the gateway sets no other serializer), made ahead: by the process
    that signs a register's chunks (:mod:`gateway.presign`), so that the one inserting them
    does not. Written as it is; read back as the value it encodes."""

    __slots__ = ()

    @classmethod
    def of(cls, value: Any) -> JsonText:
        return cls(json.dumps(value))


def plain(table: Table, rows: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """``rows`` with any :class:`JsonText` back as the value it encodes: for a statement that
    binds through SQLAlchemy's JSON type, which would encode the text again."""
    names = _json_columns(table)
    if not any(type(row.get(name)) is JsonText for row in rows for name in names):
        return list(rows)
    return [
        {k: json.loads(v) if type(v) is JsonText else v for k, v in row.items()} for row in rows
    ]


@functools.lru_cache(maxsize=64)
def _json_columns(table: Table) -> tuple[str, ...]:
    """The names of ``table``'s JSON columns (looked at on every single issuance's insert)."""
    return tuple(c.name for c in table.columns if isinstance(c.type, JSON))


def _ahead_or(encode: Callable[[Any], Any], default: bool) -> Callable[[Any], Any]:
    """A JSON column's ``encode``, taking a :class:`JsonText` as it is when ``default`` (the
    serializer is ``json.dumps``, which made it), else encoding the value it holds."""

    def encoded(value: Any) -> Any:
        if type(value) is JsonText:
            return value if default else encode(json.loads(value))
        return encode(value)

    return encoded


def insert_rows(connection: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows`` (each with the same keys, column names of ``table``) into ``table``."""
    if not rows:
        return
    name = connection.dialect.name
    names = list(rows[0])
    same = all(len(row) == len(names) for row in rows)  # one column list for all
    if len(rows) < COPY_FROM or not same or name not in ("postgresql", "sqlite"):
        connection.execute(insert(table).inline(), plain(table, rows))
    elif name == "postgresql":
        _copy(connection, table, names, rows)
    else:
        _sqlite_many(connection, table, names, rows)


def insert_streamed(
    connection: Connection, table: Table, rows: Iterable[dict[str, Any]], count: int
) -> list[dict[str, Any]]:
    """Insert the ``count`` rows that ``rows`` makes (each with the same keys) into ``table``,
    writing while they are made; the rows, in order.

    Issue 13: a register's chunk was signed, then inserted: the database's work and the
    signing's took turns. On PostgreSQL, from :data:`STREAM_FROM` rows, each row goes into the
    ``COPY`` as soon as it is made, and the server indexes it on its own core while the next is
    signed (a 20k register 5.7 → 4.8–5.2 s). Fewer rows, or SQLite: made first, then
    :func:`insert_rows`. (SQLite in process, its executemany on a thread of its own while this
    one signs, was slower: 4.2 → 4.5–4.8 s, 202 → 243–266 µs of CPU a row, the two threads
    handing the GIL to each other row by row.)"""
    if count < STREAM_FROM or connection.dialect.name != "postgresql":
        made = list(rows)
        insert_rows(connection, table, made)
        return made
    made = []
    ahead = iter(rows)
    first = next(ahead, None)
    if first is None:
        return made
    names = list(first)

    def each() -> Iterable[dict[str, Any]]:
        for row in itertools.chain((first,), ahead):
            if len(row) != len(names):
                raise ValueError(f"expected every row with the columns {names}, found {list(row)}")
            made.append(row)
            yield row

    _copy(connection, table, names, each())
    return made


def _sqlite_many(
    connection: Connection, table: Table, names: list[str], rows: Sequence[Mapping[str, Any]]
) -> None:
    """SQLite: the executemany SQLAlchemy would run, on the driver's cursor, each row a tuple
    made by the columns' own bind processors (SQLAlchemy builds a parameter dict a row, a tenth
    of the insert's time, issue 13)."""
    dialect = connection.dialect
    default = getattr(dialect, "_json_serializer", None) is None
    processors: list[Callable[[Any], Any] | None] = [
        table.c[name].type.bind_processor(dialect) for name in names
    ]
    for at, name in enumerate(names):
        process = processors[at]
        if process is not None and isinstance(table.c[name].type, JSON):
            processors[at] = _ahead_or(process, default)
    quoted = dialect.identifier_preparer
    columns = ", ".join(quoted.quote(name) for name in names)
    marks = ", ".join("?" for _ in names)
    # Names from the table's own metadata, quoted; every value is bound.
    statement = f"INSERT INTO {quoted.format_table(table)} ({columns}) VALUES ({marks})"  # noqa: S608
    processed = [(at, p) for at, p in enumerate(processors) if p is not None]
    values: list[tuple[Any, ...]] = []
    for row in rows:
        given = [row[name] for name in names]
        for at, process in processed:
            given[at] = process(given[at])
        values.append(tuple(given))
    raw = connection.connection.driver_connection
    assert raw is not None  # a checked-out connection
    cursor = raw.cursor()
    error = dialect.loaded_dbapi.Error
    try:
        connection.dispatch.before_cursor_execute(connection, cursor, statement, None, None, True)
        try:
            cursor.executemany(statement, values)
        except error as exc:  # as SQLAlchemy raises it: a taken key is an IntegrityError
            raise DBAPIError.instance(statement, None, exc, error) from exc
        connection.dispatch.after_cursor_execute(connection, cursor, statement, None, None, True)
    finally:
        cursor.close()


def _copy(
    connection: Connection, table: Table, names: list[str], rows: Iterable[Mapping[str, Any]]
) -> None:
    custom: Callable[[Any], str] | None = getattr(connection.dialect, "_json_serializer", None)
    serializer = _ahead_or(custom or json.dumps, custom is None)
    # JSON columns as SQLAlchemy's JSON type binds them: a None is JSON ``null`` unless the
    # type says ``none_as_null``.
    kinds = [table.c[name].type for name in names]
    as_json = [isinstance(kind, JSON) for kind in kinds]
    null_json = [isinstance(kind, JSON) and not kind.none_as_null for kind in kinds]
    quoted = connection.dialect.identifier_preparer
    columns = ", ".join(quoted.quote(name) for name in names)
    statement = f"COPY {quoted.format_table(table)} ({columns}) FROM STDIN"
    raw = connection.connection.driver_connection
    assert raw is not None  # a checked-out connection
    with raw.cursor() as cursor:
        # Announced as any statement is (statement counts in tests, logging listeners).
        connection.dispatch.before_cursor_execute(connection, cursor, statement, None, None, True)
        dbapi_error = connection.dialect.loaded_dbapi.Error
        try:
            with cursor.copy(statement) as copy:
                _write_rows(copy, names, rows, serializer if any(as_json) else None, as_json,
                            null_json)  # fmt: skip
        except dbapi_error as exc:  # as SQLAlchemy raises it: a taken key is an IntegrityError
            raise DBAPIError.instance(statement, None, exc, dbapi_error) from exc
        connection.dispatch.after_cursor_execute(connection, cursor, statement, None, None, True)


def _write_rows(
    copy: Any,
    names: list[str],
    rows: Iterable[Mapping[str, Any]],
    serializer: Callable[[Any], str] | None,
    as_json: list[bool],
    null_json: list[bool],
) -> None:
    if serializer is None:
        for row in rows:
            copy.write_row([row[name] for name in names])
        return
    json_at = [at for at, is_json in enumerate(as_json) if is_json]
    for row in rows:
        values = [row[name] for name in names]
        for at in json_at:
            if values[at] is not None or null_json[at]:
                values[at] = serializer(values[at])
        copy.write_row(values)
