"""Smoke test of ``loadtests.bench_notify`` at a tiny scale: three real ``ecert serve``
processes on one PostgreSQL database (``ECERT_TEST_DATABASE_URL``'s server, a throw-away
database), revocations through one, every process asked. It asserts what the bench computes
and judges, never a speed: the machine running the tests is shared."""

from __future__ import annotations

import os

import pytest

from loadtests import bench_notify
from tests.conftest import PG_ENV, PG_HOW

pytestmark = pytest.mark.slow


def test_bench_notify_times_every_revocation_on_every_process() -> None:
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(PG_HOW)
    report = bench_notify.run(scale=0.01, pg_url=base)

    assert report.skipped == ""
    assert report.processes == bench_notify.WORKERS + 1  # both workers and the single process
    assert len(report.revocations) == 3  # the fewest it makes
    assert len(report.answered) == 3
    assert all(ms > 0 for ms in report.revocations), report
    assert report.passed is (report.worst_ms <= bench_notify.TARGET_MS)
    text = bench_notify.format_report(report)
    assert "asked of 3" in text
    assert ("PASS" in text) != ("FAIL" in text)


def test_without_a_database_it_says_how_to_measure() -> None:
    report = bench_notify.run(pg_url="")
    assert report.passed is None
    assert bench_notify.BENCH_DB_ENV in bench_notify.format_report(report)
