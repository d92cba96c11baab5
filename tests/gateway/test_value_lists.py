"""A list of values bound as one parameter (:mod:`gateway.value_lists`, issue 13): every value
matched as itself, whatever characters it holds, on both databases; none left out, none added."""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table, insert, select
from sqlalchemy.dialects import postgresql, sqlite

from gateway.core import Gateway
from gateway.models import AuditRow
from gateway.value_lists import _JsonTextArray, one_of

AUDIT = cast(Table, AuditRow.__table__)
# Characters an array literal, a JSON text or an SQL string would each treat specially.
ODD = ['a"b', "a'b", "a,b", "{a}", "a\\b", "a b", "杭州:ref-1", "NULL", "", "😀", "a\nb", "[1]"]


def _subjects(gw: Gateway, wanted: list[str]) -> set[str]:
    postgres = gw.engine.dialect.name == "postgresql"
    query = select(AUDIT.c.subject).where(one_of(AUDIT.c.subject, "wanted", postgres=postgres))
    with gw.engine.connect() as conn:
        return {s for (s,) in conn.execute(query, {"wanted": wanted})}


def test_each_value_is_matched_as_itself(gw: Gateway) -> None:
    stored = [*ODD, "other", "a"]
    with gw.engine.begin() as conn:
        conn.execute(
            insert(AUDIT),
            [{"at": 1, "actor": "t", "action": "t", "subject": s, "detail": {},
              "leaf_index": 10_000 + n, "leaf_hash": bytes(32)} for n, s in enumerate(stored)],
        )  # fmt: skip
    assert _subjects(gw, ODD) == set(ODD)
    assert _subjects(gw, ["a"]) == {"a"}  # not "a b", "a,b", …
    assert _subjects(gw, []) == set()
    assert _subjects(gw, ["absent", *ODD[:2]]) == set(ODD[:2])


def test_the_json_text_is_what_the_standard_library_would_read_back() -> None:
    import json

    bound = _JsonTextArray().process_bind_param(ODD, postgresql.dialect())
    assert bound is not None
    assert json.loads(bound) == ODD
    lone = ["a\ud800b"]  # refused by orjson: the standard library writes it escaped
    assert json.loads(_JsonTextArray().process_bind_param(lone, sqlite.dialect()) or "") == lone
    assert _JsonTextArray().process_bind_param(None, sqlite.dialect()) is None
