"""``column`` is one of a list of values bound as one parameter, one statement text whatever
the count: a chunk's "already issued?" keys and a holder rule's holder codes.

On PostgreSQL the list goes as the text of a JSON array, and the statement makes it an array
again: ``column = ANY(ARRAY(SELECT json_array_elements_text(:values::json)))``. Issue 13: bound
as a PostgreSQL array (``= ANY(%s)``), psycopg built the array value element by element in
Python, 2.27 ms of this process's CPU for 1,000 keys against 0.13 ms for the JSON text
(``orjson``, one C call), and a register's chunk runs three such look-ups in each of its two
passes (~13 µs a row of ~190). The server plans it as it plans an array parameter, one index
look-up a value (``tests/gateway/test_issuance_speed.py`` and ``test_holder_lookup_plans.py``
check the plans, a small table with kept generic plans included). Elsewhere (SQLite) an
expanding ``IN``, which has no arrays.

Deliberately not here: which columns are looked up (:mod:`gateway.batch_rows`,
:mod:`gateway.holder_rule`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import JSON, ColumnElement, Text, any_, bindparam, cast, func, select
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class _JsonTextArray(TypeDecorator[Sequence[str]]):
    """A list of text values bound as the text of a JSON array."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Sequence[str] | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        values = list(value)
        try:
            return orjson.dumps(values).decode()
        except TypeError:  # text orjson refuses (a lone surrogate): the standard library's
            return json.dumps(values, ensure_ascii=False)

    def process_literal_param(self, value: Sequence[str] | None, dialect: Dialect) -> str:
        """The list written into the statement (``EXPLAIN`` with its values, in tests), quoted
        by the text type's own literal processor."""
        return self.process_bind_param(value, dialect) or "null"


def one_of(column: ColumnElement[Any], name: str, *, postgres: bool) -> ColumnElement[bool]:
    """``column`` is one of the values bound as ``name`` (a list of text)."""
    if not postgres:
        return column.in_(bindparam(name, expanding=True))
    values = cast(bindparam(name, type_=_JsonTextArray()), JSON)
    # ``= ANY(ARRAY(SELECT …))``, not ``IN (SELECT …)``: PostgreSQL takes a set-returning
    # function to return 100 rows whatever it is given, and for an ``IN`` it read a table of up
    # to ~2,000 credentials whole rather than look 100 values up (an issuing group's 8 holders:
    # 1.58 ms of PostgreSQL CPU an issuance against 0.52); an array from a sub-select is planned
    # as an array parameter is, one index look-up a value.
    listed = func.array(select(func.json_array_elements_text(values)).scalar_subquery())
    return column == any_(listed)
