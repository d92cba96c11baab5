"""Smoke test for the issuance bench (``loadtests.bench_issue``): every row comes out, at a tiny
scale, with a real ``ecert serve`` under ``wrk`` and a real register through ``issue-batch``'s
code. PostgreSQL rows use ``ECERT_TEST_DATABASE_URL``'s server when it is set (a throw-away
database each), and say they were skipped otherwise. No rate is asserted, only that each was
measured and judged."""

from __future__ import annotations

import os
import shutil

import pytest

from loadtests import bench_issue
from tests.conftest import PG_ENV

pytestmark = pytest.mark.slow


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk not installed: apt-get install -y wrk")
def test_bench_issue_reports_every_row_at_tiny_scale() -> None:
    pg = os.environ.get(PG_ENV)
    report = bench_issue.run(scale=0.01, pg_url=pg or "")

    names = [r.name.rsplit(" ", 1)[0] if "issue-batch" in r.name else r.name for r in report.rows]
    assert names == list(bench_issue.ROW_NAMES)
    raw = report.row(bench_issue.RAW_SIGN)
    assert raw.rate is not None
    assert raw.rate > 0
    for row in report.rows[1:]:
        name, rate, baseline, ratio, target, verdict = row.as_tuple()
        skipped = "PostgreSQL" in name and not pg
        if skipped:
            assert rate is None, row
            assert verdict == "info", row
            assert bench_issue.BENCH_DB_ENV in row.note
            continue
        assert rate is not None, row
        assert rate > 0, row
        assert baseline == raw.rate, row
        assert ratio is not None, row
        assert ratio > 0, row
        assert verdict in ("PASS", "FAIL"), row
        assert target != "-", row
        if "issue-batch" in name:  # CPU a row beside the wall rate (a shared machine)
            assert "µs a row in this process" in row.note, row
            assert ("µs in PostgreSQL" in row.note) == ("PostgreSQL" in name), row
    for name, chunks in report.chunks.items():
        assert chunks, name
        assert all(t > 0 for t in chunks), name
    text = report.format()
    assert "RESULT: " in text
    assert "per core = 1 / (gateway process CPU seconds per issuance" in text


def test_sizes_scale_and_refuse_nonsense() -> None:
    assert bench_issue.Sizes.for_scale(1.0).batch_rows == 20_000
    assert bench_issue.Sizes.for_scale(1.0, rows=1_000_000).batch_rows == 1_000_000
    with pytest.raises(ValueError, match="scale"):
        bench_issue.Sizes.for_scale(0)


def test_flatness_compares_the_last_chunks_with_the_first() -> None:
    flat = bench_issue.BatchResult(rows=6000, seconds=6.0, first_pass=1.0,
                                   chunks=[1.0, 9.0, 1.0, 1.2, 1.2, 1.2])  # fmt: skip
    assert flat.edge == 3
    assert flat.flat == pytest.approx(1.2)  # medians: one slow chunk does not decide it
    assert flat.rate == pytest.approx(1000.0)
