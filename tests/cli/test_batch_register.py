"""``cli.batch_register``: the two passes over a register, in process (no database)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cli import batch_register
from cli.batch_register import RegisterError, chunks, row_request, scan
from gateway.issuance import IssueRequest
from tests.cli.test_issue_batch import append_jsonl, register, write_csv

TYPE = "business-licence"


def no_problems(request: IssueRequest) -> batch_register.Problems:
    return []


def _scanned(path: Path) -> batch_register.Scan:
    return scan(path, "csv", TYPE, path.name, no_problems)


def test_two_passes_yield_the_validated_rows_in_chunks(tmp_path: Path) -> None:
    rows = register(5, series="G")
    scanned = _scanned(write_csv(tmp_path / "r.csv", rows))
    assert scanned.rows == 5
    got = [[r.subject["uscc"] for r in chunk] for chunk in chunks(scanned, 2)]
    assert got == [[r["uscc"] for r in rows[:2]], [r["uscc"] for r in rows[2:4]], [rows[4]["uscc"]]]


@pytest.mark.parametrize(
    ("change", "line", "yielded"),
    [("edit row 4", 5, 1), ("append a row", 7, 2), ("drop the last row", 6, 2)],
)
def test_a_file_changed_after_validation_stops_before_the_changed_row(
    tmp_path: Path, change: str, line: int, yielded: int
) -> None:
    rows = register(5, series="H")
    path = write_csv(tmp_path / "r.csv", rows)
    scanned = _scanned(path)
    if change == "edit row 4":
        rows[3]["name"] = "杭州另一家数字科技有限公司"
    elif change == "append a row":
        rows.extend(register(1, series="H", start=5))
    else:
        rows.pop()
    write_csv(path, rows)
    issued: list[list[IssueRequest]] = []

    def issue_all() -> None:
        issued.extend(chunks(scanned, 2))  # what the caller would issue, chunk by chunk

    with pytest.raises(RegisterError) as stopped:
        issue_all()
    assert len(issued) == yielded  # every chunk yielded holds validated rows only
    assert f"line {line}: file: expected the file as it was validated" in str(stopped.value)


def test_every_problem_is_named_and_a_long_list_is_counted(tmp_path: Path) -> None:
    rows = register(batch_register.MAX_PROBLEMS + 10, series="J")

    def refuse_all(request: IssueRequest) -> batch_register.Problems:
        return [("uscc", "不对", "wrong")]

    with pytest.raises(RegisterError) as refused:
        scan(write_csv(tmp_path / "r.csv", rows), "csv", TYPE, "r.csv", refuse_all)
    message = str(refused.value)
    assert message.count("uscc: wrong · ") == batch_register.MAX_PROBLEMS
    assert message.startswith("r.csv: line 2: uscc: wrong · 第 2 行 uscc：不对; ")
    assert message.endswith("; and 10 more · 另有 10 处")


@pytest.mark.parametrize(
    ("ref", "expected"),
    [("A-1", "f:A-1"), (17, "f:17"), ("", None), (None, None)],
)
def test_a_row_is_known_by_its_ref_else_by_type_and_subject(ref: Any, expected: str | None) -> None:
    record = {"name": "杭州", "ref": ref}
    made = row_request(TYPE, "f", 2, record)
    assert made.subject == {"name": "杭州"}
    if expected is None:
        assert made.batch_ref is not None
        assert made.batch_ref == row_request(TYPE, "f", 9, {"name": "杭州"}).batch_ref
        assert len(made.batch_ref) == len("f:") + batch_register.DEFAULT_REF
    else:
        assert made.batch_ref == expected


@pytest.mark.parametrize("ref", [True, {"a": 1}, 1.5, "x" * 199])
def test_an_unusable_ref_is_named(ref: Any) -> None:
    with pytest.raises(batch_register.RowError, match="line 3: ref: expected ref to be text"):
        row_request(TYPE, "f", 3, {"name": "杭州", "ref": ref})


def test_a_batch_id_too_long_for_the_column_is_refused() -> None:
    batch_register.check_batch_id("x" * (batch_register.MAX_REF - 1 - batch_register.DEFAULT_REF))
    with pytest.raises(batch_register.DataError, match="--batch-id"):
        batch_register.check_batch_id("x" * (batch_register.MAX_REF - batch_register.DEFAULT_REF))


def test_identical_json_lines_are_named_with_both_lines(tmp_path: Path) -> None:
    rows = register(4, series="K")
    path = append_jsonl(tmp_path / "r.jsonl", [*rows, rows[1]])
    with pytest.raises(RegisterError) as refused:
        scan(path, "jsonl", TYPE, "r.jsonl", no_problems)
    assert str(refused.value).startswith(
        "r.jsonl: line 5: row: expected each certificate once, found the certificate of line 2 "
        "again (the same type and subject)"
    ), str(refused.value)
    assert json.loads(path.read_text(encoding="utf-8").splitlines()[4]) == rows[1]
