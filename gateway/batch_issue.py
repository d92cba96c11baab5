"""Issue up to :data:`MAX_ROWS` register rows, one answer a row, and the result file's format.

The agency console and ``POST /api/v1/credentials/batch`` call :func:`issue_rows`: each row is
issued once, known by its ``ref`` or else its type and subject (:mod:`gateway.batch_rows`), so
calling it again with the same rows answers the same ids, marked ``already``. A bad row is
reported and does not stop the others (``ecert issue-batch``, by contrast, issues nothing when
any row of a register is bad). :func:`result_csv` writes what ``ecert issue-batch --result``
writes: ``row,id,证照标识,qr_text,error``, one line a row.

A row is an object of the type's subject fields plus, optionally, ``ref`` (the row's identity,
text of at most :data:`MAX_REF` characters), ``valid_from`` and ``valid_until``; empty values
are left out, as an empty CSV cell is.

Deliberately not here: reading a register file (``cli.batch_register``), HTTP.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gateway import batch_rows
from gateway.core import Gateway
from gateway.issuance import IssueRequest
from trust.errors import FieldError

MAX_ROWS = 200  # rows a call: one transaction, one answer the console can show
MAX_REF = 160
MAX_FIRST_ROW = 10_000_000
META_COLUMNS = ("ref", "valid_from", "valid_until")
RESULT_HEADER = ("row", "id", "证照标识", "qr_text", "error")
_FORMULA = ("=", "+", "-", "@", "\t", "\r")  # what a spreadsheet would run as a formula


@dataclass(frozen=True)
class RowError:
    """Why a row was not issued: the field, zh-CN and English."""

    field: str
    zh: str
    en: str

    @property
    def text(self) -> str:
        return f"{self.field}：{self.zh} · {self.field}: {self.en}"


@dataclass(frozen=True)
class RowResult:
    """One row's answer: issued now, found already issued (``already``), or refused (``error``,
    every problem in ``errors``)."""

    row: int
    id: str | None
    identifier: str | None  # 证照标识
    qr_text: str | None
    error: RowError | None
    already: bool
    errors: tuple[RowError, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "row": self.row,
            "id": self.id,
            "identifier": self.identifier,
            "qr_text": self.qr_text,
            "already": self.already,
            "error": None if self.error is None else _error_dict(self.error),
            "errors": [_error_dict(e) for e in self.errors],
        }


def _error_dict(error: RowError) -> dict[str, str]:
    return {"field": error.field, "message": error.zh, "message_en": error.en}


def row_error(
    problems: Sequence[Mapping[str, str]],
) -> tuple[RowError | None, tuple[RowError, ...]]:
    """A row's problems (``FieldError`` entries) as its error (all of them in one) and each."""
    each = tuple(RowError(p["field"], p["message"], p["message_en"]) for p in problems)
    if not each:
        return None, ()
    if len(each) == 1:
        return each[0], each
    joined = RowError(
        "; ".join(e.field for e in each),
        "；".join(f"{e.field}：{e.zh}" for e in each),
        "; ".join(f"{e.field}: {e.en}" for e in each),
    )
    return joined, each


def request_for(type_code: str, record: Mapping[str, Any]) -> IssueRequest:
    """The issue request of one row object; :class:`FieldError` when its ``ref`` is unusable."""
    values = {k: v for k, v in record.items() if v not in ("", None)}
    meta = {k: values.pop(k, None) for k in META_COLUMNS}
    ref = meta["ref"]
    if isinstance(ref, int) and not isinstance(ref, bool):
        ref = str(ref)
    if ref is not None and not (isinstance(ref, str) and len(ref) <= MAX_REF):
        shown = repr(ref) if len(repr(ref)) <= 60 else f"{repr(ref)[:57]}..."
        raise FieldError.single(
            "ref", "type", f"ref 应为不超过 {MAX_REF} 个字符的文本，实际为 {shown}",
            f"expected ref to be text of at most {MAX_REF} characters, found {shown}",
        )  # fmt: skip
    return IssueRequest(
        type=type_code,
        subject=values,
        valid_from=meta["valid_from"],
        valid_until=meta["valid_until"],
        row_key=batch_rows.row_key(type_code, values, ref),
    )


def issue_rows(
    gw: Gateway,
    *,
    agency_id: str,
    type_code: str,
    rows: Sequence[Mapping[str, str]],
    first_row: int,
    actor: str,
) -> list[RowResult]:
    """Issue ``rows`` (numbered from ``first_row``) for ``agency_id``, each once; one
    :class:`RowResult` a row, in order. A bad row is reported and the others are issued; a
    request that is bad as a whole (too many rows, an unknown type, an agency that may not
    issue it) raises and writes nothing."""
    if not 1 <= len(rows) <= MAX_ROWS:
        raise FieldError.single(
            "rows", "size", f"每次应有 1–{MAX_ROWS} 行，实际 {len(rows)} 行",
            f"expected 1 to {MAX_ROWS} rows a call, found {len(rows)}",
        )  # fmt: skip
    if not 1 <= first_row <= MAX_FIRST_ROW:
        raise FieldError.single(
            "first_row", "range", f"起始行号应为 1–{MAX_FIRST_ROW}，实际为 {first_row}",
            f"expected first_row from 1 to {MAX_FIRST_ROW}, found {first_row}",
        )  # fmt: skip
    gw.types.get(type_code)  # an unknown type refuses the whole call
    requests: list[IssueRequest] = []
    numbers: list[int] = []  # the row number of each request
    refused: dict[int, list[dict[str, str]]] = {}
    for offset, record in enumerate(rows):
        row = first_row + offset
        try:
            requests.append(request_for(type_code, record))
            numbers.append(row)
        except FieldError as exc:
            refused[row] = exc.errors
    outcomes: list[batch_rows.Outcome] = []
    if requests:
        outcomes, _ = batch_rows.issue_chunk(
            gw,
            agency_id=agency_id,
            requests=requests,
            label=lambda n: (f"第 {numbers[n]} 行", f"row {numbers[n]}"),
            all_or_nothing=False,
            actor=actor,
        )
    by_row = {numbers[o.position]: o for o in outcomes}
    results = []
    for offset in range(len(rows)):
        row = first_row + offset
        found = by_row.get(row)
        if found is None:
            error, each = row_error(refused[row])
            results.append(RowResult(row, None, None, None, error, False, each))
            continue
        error, each = row_error(found.problems)
        results.append(
            RowResult(row, found.id, found.identifier, found.qr_text, error, found.already, each)
        )
    return results


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(_FORMULA) else text


def result_line(result: RowResult) -> tuple[str, ...]:
    """One line of the result file."""
    error = "" if result.error is None else result.error.text
    return tuple(
        _cell(v) for v in (result.row, result.id, result.identifier, result.qr_text, error)
    )


def result_csv(results: Sequence[RowResult]) -> str:
    """The result file: header ``row,id,证照标识,qr_text,error``, then one line a row."""
    out = io.StringIO()
    sheet = csv.writer(out, lineterminator="\n")
    sheet.writerow(RESULT_HEADER)
    sheet.writerows(result_line(r) for r in results)
    return out.getvalue()
