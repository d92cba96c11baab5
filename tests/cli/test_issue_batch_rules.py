"""``ecert issue-batch``: one rule for identical rows wherever they fall, clear errors for
unreadable registers, and memory that does not grow with the register.

Issue 8: identical rows in one 1,000-row chunk gave 2 credentials, in different chunks 1; the
rule now is that a register names each certificate once (by its ``ref``, else by type and
subject): two rows with the same identity are an error naming both lines, and nothing is issued.
A non-UTF-8 file or an oversized CSV field ended in a traceback. ``issue-batch`` held the whole
register in memory (1.34 GB for 900k rows).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest

from tests.cli.conftest import City, CityTemplate, copy_city
from tests.cli.helpers import TIMEOUT, Result, cli_env, ecert, outcome, side_by_side
from tests.cli.test_issue_batch import FIELDS, append_jsonl, batch, register, write_csv

pytestmark = pytest.mark.slow

CHUNK = 1000  # issue-batch's default chunk: the register below spans two of them


def _issued(city: City) -> int:
    ((count,),) = city.query("SELECT count(*) FROM credentials WHERE batch_ref IS NOT NULL")
    return int(count)


def same_row_in_one_chunk(city: City, where: Path) -> Result:
    rows = register(10, series="D")
    rows[6] = dict(rows[2])  # lines 4 and 8 (the header is line 1)
    return ecert(*batch(city, write_csv(where / "register.csv", rows)))


def same_row_in_two_chunks(city: City, where: Path) -> Result:
    rows = register(CHUNK + 1, series="E")
    rows[CHUNK] = dict(rows[0])  # lines 2 and 1002: the first and the second chunk
    return ecert(*batch(city, write_csv(where / "register.csv", rows)))


def same_ref_twice(city: City, where: Path) -> Result:
    rows: list[dict[str, Any]] = register(6, series="F")
    for n, row in enumerate(rows):
        row["ref"] = f"R-{n}"
    rows[4]["ref"] = "R-1"  # two different companies under one ref: lines 2 and 5 (JSON lines)
    path = append_jsonl(where / "register.jsonl", rows)
    return ecert(*batch(city, path))


def not_utf8(city: City, where: Path) -> Result:
    path = where / "register.csv"
    path.write_bytes(",".join(FIELDS).encode() + b"\n" + "杭州".encode("gb18030") + b",x\n")
    return ecert(*batch(city, path))


def oversized_field(city: City, where: Path) -> Result:
    path = where / "register.csv"
    path.write_text(",".join(FIELDS) + "\n" + "x" * 200_000 + ",y\n", encoding="utf-8")
    return ecert(*batch(city, path))


SCENARIOS = {
    "one chunk": same_row_in_one_chunk,
    "two chunks": same_row_in_two_chunks,
    "same ref": same_ref_twice,
    "not utf-8": not_utf8,
    "oversized field": oversized_field,
}


@pytest.fixture(scope="module")
def runs(
    city_template: CityTemplate, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Future[Any]]]:
    def chain(name: str) -> tuple[City, Result]:
        where = tmp_path_factory.mktemp("rules")
        city = copy_city(city_template, where / "data")
        return city, SCENARIOS[name](city, where)

    with side_by_side({name: (lambda n=name: chain(n)) for name in SCENARIOS}) as futures:
        yield futures


@pytest.mark.parametrize(
    ("scenario", "first", "second"),
    [("one chunk", 4, 8), ("two chunks", 2, CHUNK + 2), ("same ref", 2, 5)],
)
def test_two_rows_naming_one_certificate_issue_nothing_and_name_both_lines(
    runs: dict[str, Future[Any]], scenario: str, first: int, second: int
) -> None:
    city, result = outcome(runs, scenario)
    line = result.one_error_line()
    assert f"line {second}: " in line, line
    assert f"line {first}" in line.split(f"line {second}: ", 1)[1], line
    assert f"第 {second} 行" in line, line  # zh-CN beside English
    assert f"第 {first} 行" in line, line
    # --json: the problem on stdout, structured (issue 12: it was one line only).
    (error,) = result.json()["errors"]
    assert error["line"] == second
    assert f"line {first}" in error["en"]
    assert f"第 {first} 行" in error["zh"]
    assert _issued(city) == 0


@pytest.mark.parametrize(
    ("scenario", "expected"),
    [("not utf-8", "UTF-8"), ("oversized field", "characters")],
)
def test_an_unreadable_register_is_one_clear_line(
    runs: dict[str, Future[Any]], scenario: str, expected: str
) -> None:
    city, result = outcome(runs, scenario)
    line = result.one_error_line()
    assert "line 2" in line, line
    assert expected in line, line
    assert re.search("[\u4e00-\u9fff]", line), line  # zh-CN beside English
    assert _issued(city) == 0


# --- bounded memory ------------------------------------------------------------------------

# ``ecert`` in a child process that reports its own peak RSS when it exits: Linux's VmHWM, which
# starts afresh at exec (``getrusage``'s ru_maxrss would carry over pytest's own from the fork).
PEAK_RSS = textwrap.dedent(
    """
    import atexit, re, sys
    def peak():
        with open("/proc/self/status", encoding="ascii") as status:
            kib = re.search(r"VmHWM:\\s+(\\d+) kB", status.read()).group(1)
        sys.stderr.write(f"peak-rss {kib}\\n")
    atexit.register(peak)
    from cli.main import main
    sys.argv[0] = "ecert"
    main()
    """
)


def _peak_rss_kib(city: City, path: Path) -> int:
    done = subprocess.run(
        [sys.executable, "-c", PEAK_RSS, *batch(city, path)],
        capture_output=True, text=True, timeout=TIMEOUT, env=cli_env(), check=False,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr  # the last row is bad: validated, nothing issued
    found = re.search(r"peak-rss (\d+)", done.stderr)
    assert found, done.stderr
    return int(found.group(1))


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads Linux's VmHWM")
def test_validating_a_register_does_not_hold_it_in_memory(city: City, tmp_path: Path) -> None:
    """Five times the rows, about the same peak: before, each row held ~1.3 KB until the end."""
    peaks = {}
    for rows in (5_000, 25_000):
        register_rows = register(rows, series="M")
        register_rows[-1]["uscc"] = "not a USCC"  # so the run validates every row, issues none
        peaks[rows] = _peak_rss_kib(city, write_csv(tmp_path / f"m{rows}.csv", register_rows))
    growth_kib = peaks[25_000] - peaks[5_000]
    assert growth_kib < 10 * 1024, json.dumps(peaks)  # held rows would add ~26 MB
    assert _issued(city) == 0
