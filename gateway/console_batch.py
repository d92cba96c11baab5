"""The console's batch upload: a CSV register read by the server (Python ``csv``), bounded in
bytes and rows, into rows the page then sends back in chunks to be issued
(``gateway.batch_issue.issue_rows``, through ``gateway.routes.console_batch``).

The register is the one ``ecert issue-batch`` reads: a header of the type's field names, plus
optionally ``valid_from``, ``valid_until`` and ``ref``; one credential a row. What is refused
here is what makes the file unreadable as a register (not UTF-8 text, too big, no header, an
unknown or repeated column, a line with more cells than the header): a field error naming the
line. A row's values are checked when it is issued, row by row, so one bad row never stops
the others.

Deliberately not here: issuing, and any state between chunks (the page holds the rows, so any
process of the city may serve any chunk).
"""

from __future__ import annotations

import csv
import io

from issuers.credential_types import CredentialType, TypeRegistry
from trust.errors import FieldError

MAX_BYTES = 240 * 1024  # under the gateway's JSON body limit (256 KiB) with room for the JSON
MAX_ROWS = 1000  # a larger register goes through `ecert issue-batch`
MAX_CELL = 2000
META_COLUMNS = ("valid_from", "valid_until", "ref")


def _csv_refused(code: str, zh: str, en: str) -> FieldError:
    return FieldError.single("csv", code, zh, en)


def parse_register(text: str, ctype: CredentialType) -> list[dict[str, str]]:
    """The rows of a CSV register for ``ctype``, each a ``{column: value}`` of its non-empty
    cells; :class:`FieldError` (field ``csv``) saying what was expected and what was found."""
    size = len(text.encode("utf-8"))
    if size > MAX_BYTES:
        raise _csv_refused(
            "too_large",
            f"CSV 文件过大（上限 {MAX_BYTES} 字节，实际 {size}）；更大的批次请用 ecert issue-batch",
            f"expected a CSV of at most {MAX_BYTES} bytes, found {size}; use "
            "`ecert issue-batch` for larger registers",
        )
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""))
    try:
        header = [cell.strip() for cell in next(reader, [])]
        if not any(header):
            raise _csv_refused(
                "empty",
                "CSV 文件为空，首行应为字段名",
                "expected a header line of field names, found an empty file",
            )
        allowed = [f.name for f in ctype.fields if f.derived is None] + list(META_COLUMNS)
        unknown = [c for c in header if c not in allowed]
        if unknown:
            raise _csv_refused(
                "unknown_column",
                f"第 1 行有未知列 {'、'.join(unknown)[:200]}；"
                f"{ctype.name_zh}的列为 {'、'.join(allowed)}",
                f"line 1: expected columns among {', '.join(allowed)} for {ctype.code}, found "
                f"{', '.join(unknown)[:200]}",
            )
        repeated = sorted({c for c in header if header.count(c) > 1})
        if repeated:
            raise _csv_refused(
                "repeated_column",
                f"第 1 行列名重复：{'、'.join(repeated)}",
                f"line 1: expected each column once, found {', '.join(repeated)} more than once",
            )
        rows: list[dict[str, str]] = []
        for cells in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in cells):
                continue  # a blank line
            if len(cells) > len(header):
                raise _csv_refused(
                    "extra_cells",
                    f"第 {line} 行有 {len(cells)} 格，多于列数 {len(header)}",
                    f"line {line}: expected at most {len(header)} cells, found {len(cells)}",
                )
            if any(len(cell) > MAX_CELL for cell in cells):
                raise _csv_refused(
                    "cell_too_long",
                    f"第 {line} 行有超过 {MAX_CELL} 字符的单元格",
                    f"line {line}: expected cells of at most {MAX_CELL} characters, "
                    "found a longer one",
                )
            if len(rows) == MAX_ROWS:
                raise _csv_refused(
                    "too_many_rows",
                    f"行数超过上限 {MAX_ROWS}；更大的批次请用 ecert issue-batch",
                    f"expected at most {MAX_ROWS} rows, found more; use `ecert "
                    "issue-batch` for larger registers",
                )
            rows.append({c: v.strip() for c, v in zip(header, cells, strict=False) if v.strip()})
    except csv.Error as exc:
        raise _csv_refused(
            "unreadable",
            f"CSV 第 {reader.line_num} 行无法解析：{exc}",
            f"line {reader.line_num}: expected CSV, found {exc}",
        ) from exc
    if not rows:
        raise _csv_refused(
            "no_rows",
            "CSV 文件只有表头，没有数据行",
            "expected at least one row after the header, found none",
        )
    return rows


def agency_type(types: list[str], registry: TypeRegistry, code: str) -> CredentialType:
    """The type ``code``, if the agency (which may issue ``types``) may issue it; a field
    error on ``type`` otherwise."""
    if code not in types:
        raise FieldError.single(
            "type",
            "not_authorised",
            f"本机构不能签发 {code[:64]!r}，可签发：{'、'.join(types)}",
            f"expected a type this agency issues ({', '.join(types)}), found {code[:64]!r}",
        )
    return registry.get(code)
