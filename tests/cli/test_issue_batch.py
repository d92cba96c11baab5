"""``ecert issue-batch``: CSV and JSON lines registers, all-or-nothing validation, resuming.

The three scenarios are independent chains of ``ecert`` runs on their own copies of the city;
the module runs them side by side and each test checks its chain's recorded results.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from stdnum.cn import uscc

from tests.cli.conftest import LICENCE, City, CityTemplate, copy_city
from tests.cli.helpers import Result, ecert, ecert_many, outcome, side_by_side

pytestmark = pytest.mark.slow

ROWS = 300
FIELDS = list(LICENCE)  # the business licence's subject field names, as the CSV header


def register(count: int, *, series: str, start: int = 0) -> list[dict[str, str]]:
    """Distinct business-licence subjects with valid GB 32100 check characters."""
    rows = []
    for n in range(start, start + count):
        first17 = f"91330106M{series}{n:07d}"  # 8 + 1 + 1 + 7 characters
        rows.append(
            {
                **LICENCE,
                "name": f"杭州第{n}号{series}数字科技有限公司",
                "uscc": first17 + uscc.calc_check_digit(first17),
                "legal_representative": ["张伟", "王芳", "李娜", "刘洋"][n % 4],
            }
        )
    return rows


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    # utf-8-sig: the byte-order mark a spreadsheet puts in front of a UTF-8 CSV.
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    return path


def append_jsonl(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("a", encoding="utf-8") as handle:
        handle.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    return path


def batch(city: City, path: Path) -> list[str]:
    return ["issue-batch", str(path), *city.args(), "--agency", city.agency_id,
            "--type", "business-licence", "--json"]  # fmt: skip


def summary(result: Result) -> dict[str, Any]:
    assert result.returncode == 0, result
    out: dict[str, Any] = result.json()
    return out


@dataclass(frozen=True)
class CsvRun:
    city: City
    path: Path
    rows: list[dict[str, str]]
    first: Result
    stored: list[tuple[Any, ...]]  # (holder_code, holder_name, token) of the file's rows
    again: Result
    answer: Result  # ecert verify of the middle row's token


def csv_register(city: City, where: Path) -> CsvRun:
    rows = register(ROWS, series="A")
    path = write_csv(where / "营业执照-2026-11.csv", rows)
    first = ecert(*batch(city, path))
    stored = city.query(
        "SELECT holder_code, holder_name, token FROM credentials WHERE batch_ref LIKE ?",
        f"{path.name}:%",
    )
    middle = rows[ROWS // 2]
    tokens = [t for code, _, t in stored if code == middle["uscc"]] or ["(not stored)"]
    again, answer = ecert_many(
        [batch(city, path), ["verify", *city.args(), "--qr-text", tokens[0], "--json"]]
    )
    return CsvRun(city, path, rows, first, stored, again, answer)


@dataclass(frozen=True)
class BadRowRun:
    city: City
    expected: str
    found: str
    result: Result


def register_with_a_bad_row(city: City, where: Path) -> BadRowRun:
    rows = register(40, series="B")
    bad = rows[25]
    expected = bad["uscc"][-1]
    found = "1" if expected == "0" else "0"
    bad["uscc"] = bad["uscc"][:-1] + found
    result = ecert(*batch(city, write_csv(where / "register.csv", rows)))
    return BadRowRun(city, expected, found, result)


@dataclass(frozen=True)
class ResumeRun:
    city: City
    first: Result
    resumed: Result


def jsonl_register_resumed(city: City, where: Path) -> ResumeRun:
    path = append_jsonl(where / "register.jsonl", register(5, series="C"))
    first = ecert(*batch(city, path))
    # The clerk's export was cut short; the full register comes later in the same file.
    append_jsonl(path, register(3, series="C", start=5))
    return ResumeRun(city, first, ecert(*batch(city, path)))


@pytest.fixture(scope="module")
def chains(
    city_template: CityTemplate, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Future[Any]]]:
    where = {name: tmp_path_factory.mktemp(name) for name in ("csv", "bad", "jsonl")}
    city = {name: copy_city(city_template, path / "data") for name, path in where.items()}
    with side_by_side(
        {
            "csv": lambda: csv_register(city["csv"], where["csv"]),
            "bad": lambda: register_with_a_bad_row(city["bad"], where["bad"]),
            "jsonl": lambda: jsonl_register_resumed(city["jsonl"], where["jsonl"]),
        }
    ) as futures:
        yield futures


def test_csv_register_is_issued_once_and_rerunning_skips_it(
    chains: dict[str, Future[Any]],
) -> None:
    run: CsvRun = outcome(chains, "csv")
    assert summary(run.first) == {
        "file": str(run.path),
        "batch_id": run.path.name,
        "rows": ROWS,
        "issued": ROWS,
        "skipped": 0,
    }
    assert sorted((code, name) for code, name, _ in run.stored) == sorted(
        (r["uscc"], r["name"]) for r in run.rows
    )
    assert run.city.query("SELECT count(*) FROM credentials") == [(1 + ROWS,)]

    assert summary(run.again) == summary(run.first) | {"issued": 0, "skipped": ROWS}

    middle = run.rows[ROWS // 2]
    assert run.answer.returncode == 0, run.answer
    assert run.answer.json()["reason"] == "VALID"
    fields = {f["name"]: f["value"] for f in run.answer.json()["credential"]["fields"]}
    assert fields == {"name": middle["name"], "uscc": middle["uscc"]}


def test_one_bad_row_issues_nothing_and_names_its_line(chains: dict[str, Future[Any]]) -> None:
    run: BadRowRun = outcome(chains, "bad")
    line = run.result.one_error_line()
    assert "line 27: uscc" in line  # the header is line 1, so rows[25] is line 27
    assert f"expected {run.expected}, found {run.found}" in line
    # With --json, the same problem as a JSON document on stdout (issue 12: it was one line).
    (error,) = run.result.json()["errors"]
    assert (error["line"], error["field"]) == (27, "uscc")
    assert f"expected {run.expected}, found {run.found}" in error["en"]
    assert run.city.query("SELECT count(*) FROM credentials") == [(1,)]  # the template's only


def test_jsonl_register_resumes_after_an_interruption(chains: dict[str, Future[Any]]) -> None:
    run: ResumeRun = outcome(chains, "jsonl")
    first, resumed = summary(run.first), summary(run.resumed)
    assert (first["rows"], first["issued"], first["skipped"]) == (5, 5, 0)
    assert (resumed["rows"], resumed["issued"], resumed["skipped"]) == (8, 3, 5)
    names = run.city.query("SELECT holder_name FROM credentials WHERE batch_ref IS NOT NULL")
    assert sorted(n for (n,) in names) == sorted(r["name"] for r in register(8, series="C"))
