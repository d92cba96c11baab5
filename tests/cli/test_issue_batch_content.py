"""``ecert issue-batch`` resumes by row content, writes a result file, answers errors in JSON.

Issue 12, each quoted problem:
- "``issue-batch`` recognises a re-run by the file's name: the same rows under another name were
  issued again (one company ended with 3 live licences)";
- "``issue-batch`` reports "issued 8" with no ids or QR codes";
- "Its errors are one English line, also with ``--json``."

The scenarios are independent chains of ``ecert`` runs on their own copies of the city, run side
by side; each test checks its chain's results.
"""

from __future__ import annotations

import csv
import shutil
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from issuers.qr import qr_text
from tests.cli.conftest import LICENCE, City, CityTemplate, copy_city
from tests.cli.helpers import Result, ecert, outcome, side_by_side
from tests.cli.test_issue_batch import batch, register, summary, write_csv

pytestmark = pytest.mark.slow

ROWS = 6
HEADER = ["row", "id", "证照标识", "qr_text", "error"]


@dataclass(frozen=True)
class Renamed:
    city: City
    rows: list[dict[str, str]]
    first: Result
    renamed: Result
    other_id: Result
    human: Result
    existing_result: Result
    results: list[Path]


def renamed_register(city: City, where: Path) -> Renamed:
    rows = register(ROWS, series="P")
    path = write_csv(where / "营业执照-2026-11.csv", rows)
    copy = where / "营业执照-2026-11（补）.csv"
    shutil.copyfile(path, copy)
    results = [where / f"result-{n}.csv" for n in range(3)]
    first = ecert(*batch(city, path), "--result", str(results[0]))
    renamed = ecert(*batch(city, copy), "--result", str(results[1]))
    other_id = ecert(*batch(city, path), "--batch-id", "2026-11-second-try")
    human = ecert(*batch(city, copy)[:-1], "--result", str(results[2]))  # without --json
    existing = ecert(*batch(city, path), "--result", str(results[0]))
    return Renamed(city, rows, first, renamed, other_id, human, existing, results)


def bad_row_register(city: City, where: Path) -> Result:
    rows = register(4, series="Q")
    rows[2]["established_on"] = "2020-13-45"  # line 4
    return ecert(*batch(city, write_csv(where / "register.csv", rows)))


def licence_holder_again(city: City, where: Path) -> tuple[City, Result]:
    rows = register(3, series="R")
    rows[1] = {**LICENCE, "name": "杭州云栖数字科技有限公司（更名）"}  # the city's licence holder
    return city, ecert(*batch(city, write_csv(where / "register.csv", rows)))


SCENARIOS = {"renamed": renamed_register, "bad row": bad_row_register,
             "holder": licence_holder_again}  # fmt: skip


@pytest.fixture(scope="module")
def runs(
    city_template: CityTemplate, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Future[Any]]]:
    def chain(name: str) -> Any:
        where = tmp_path_factory.mktemp("content")
        return SCENARIOS[name](copy_city(city_template, where / "data"), where)

    with side_by_side({name: (lambda n=name: chain(n)) for name in SCENARIOS}) as futures:
        yield futures


def _sheet(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


def test_the_same_rows_under_another_name_or_batch_id_issue_nothing(
    runs: dict[str, Future[Any]],
) -> None:
    run: Renamed = outcome(runs, "renamed")
    assert (summary(run.first)["issued"], summary(run.first)["skipped"]) == (ROWS, 0)
    for again in (run.renamed, run.other_id):
        assert (summary(again)["issued"], summary(again)["skipped"]) == (0, ROWS)
    for row in run.rows:
        assert run.city.query(
            "SELECT count(*) FROM credentials WHERE holder_code = ?", row["uscc"]
        ) == [(1,)]
    assert run.city.query("SELECT count(*) FROM credentials") == [(1 + ROWS,)]


def test_the_result_file_lists_every_row_with_its_id_identifier_and_qr_text(
    runs: dict[str, Future[Any]],
) -> None:
    run: Renamed = outcome(runs, "renamed")
    assert summary(run.first)["result"] == str(run.results[0])
    first, renamed = _sheet(run.results[0]), _sheet(run.results[1])
    assert first[0] == HEADER
    assert renamed[0] == HEADER
    assert [line[0] for line in first[1:]] == [str(n) for n in range(2, ROWS + 2)]  # file lines
    stored = {
        cid: (identifier, holder, token)
        for cid, identifier, holder, token in run.city.query(
            "SELECT id, identifier, holder_code, token FROM credentials"
        )
    }
    public_url = run.city.credential["qr_text"].split("/v#")[0]
    for line, row in zip(first[1:], run.rows, strict=True):
        _, cid, identifier, text, error = line
        assert stored[cid][:2] == (identifier, row["uscc"])
        assert text == qr_text(public_url, stored[cid][2])  # the signed token, as a QR says it
        assert error == ""
    # Found already issued: the same ids and QR texts, listed again.
    assert renamed[1:] == first[1:]
    assert "result file" in run.human.stdout
    assert str(run.results[2]) in run.human.stdout
    assert _sheet(run.results[2])[1:] == first[1:]


def test_an_existing_result_file_is_refused_and_kept(runs: dict[str, Future[Any]]) -> None:
    run: Renamed = outcome(runs, "renamed")
    assert run.existing_result.returncode == 1
    refusal = run.existing_result.json()
    assert "--result" in refusal["error"]["en"]
    assert refusal["error"]["zh"]
    assert len(_sheet(run.results[0])) == 1 + ROWS


def test_json_errors_are_structured_with_line_field_zh_and_en(
    runs: dict[str, Future[Any]],
) -> None:
    result: Result = outcome(runs, "bad row")
    assert result.returncode == 1
    refusal = result.json()
    assert refusal["ok"] is False
    (error,) = refusal["errors"]
    assert (error["line"], error["field"]) == (4, "established_on")
    assert any("\u4e00" <= ch <= "\u9fff" for ch in error["zh"])
    assert "2020-13-45" in error["en"]
    assert error["en"] != error["zh"]
    assert refusal["error"]["zh"]
    assert refusal["error"]["en"]
    assert refusal["issued"] == 0
    result.one_error_line()  # and one line on stderr for a person


def test_a_holder_with_a_live_licence_is_refused_and_nothing_is_issued(
    runs: dict[str, Future[Any]],
) -> None:
    city, result = outcome(runs, "holder")
    assert result.returncode == 1
    (error,) = result.json()["errors"]
    assert (error["line"], error["field"]) == (3, "subject.uscc")
    live = city.credential["id"]  # the city's one licence, issued to that holder: named
    assert live in error["zh"]
    assert live in error["en"]
    assert city.query("SELECT count(*) FROM credentials") == [(1,)]
