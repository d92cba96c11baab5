"""Smoke test of ``loadtests.bench_procs`` at tiny scale: real ``ecert serve`` processes (1 and
``--workers 2``) driven by ``wrk``, every figure reported, the plot written. It asserts what the
bench computes, never a speed: the machine running the tests is shared."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from loadtests import bench_procs

pytestmark = pytest.mark.slow


def test_bench_procs_measures_one_and_two_processes_and_plots(tmp_path: Path) -> None:
    if shutil.which(bench_procs.WRK) is None:
        pytest.skip("needs wrk (Debian: apt-get install -y wrk)")
    plot = tmp_path / "throughput-by-processes.png"
    report = bench_procs.run(scale=0.01, processes=(1, 2), plot=plot)

    assert report.processes() == [1, 2]
    assert [r.processes for r in report.rounds] == [1, 2]  # one interleaved round at this scale
    for r in report.rounds:
        assert r.rate > 0, r
        assert r.errors == "", r
        assert r.client_cores > 0, r
        assert r.server_cpu_us > 0, r
        assert r.other_cores >= 0, r
        assert r.idle_cores >= 0, r
    assert report.raw_verify > 0
    assert len(report.raw_both) == 1
    assert report.raw_both[0] > 0  # two processes, one on each core, measured together
    assert report.raw_scaling == report.raw_both[0] / report.raw_verify
    assert report.ratio == report.rate(2) / report.rate(1)
    assert set(report.spread) == {bench_procs.SHARED, bench_procs.REUSEPORT}
    for runs in report.spread.values():
        assert runs, report.spread
        for split in runs:  # every connection answered by one of the two processes
            assert sum(split) == bench_procs.CONNECTIONS, split
            assert 1 <= len(split) <= 2, split
    assert plot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    text = bench_procs.format_report(report)
    assert "2 processes / 1 process:" in text
    assert "raw ES256 verify" in text
    assert "2 processes at once, one on each core" in text
    assert "CPU per request, 2 processes / 1:" in text
    assert "client SCHED_OTHER" in text  # the default scheduling policy
    assert report.ceiling == pytest.approx(
        2 * report.server_cpu_us(1) / (report.server_cpu_us(1) + report.client_cpu_us(2))
    )
    assert "2·s/(s + w)" in text
    assert "others cores" in text
    assert "idle cores" in text
    assert ("PASS" in text) != ("FAIL" in text)


def test_the_client_script_formats_its_requests_once() -> None:
    """wrk's ``request()`` hands out prebuilt requests: nothing formatted a request."""
    script = bench_procs._LUA % '"{}"'
    request = script[script.index("request = function()") :]
    assert "wrk.format" not in request
    assert "wrk.format" in script[: script.index("request = function()")]


def test_an_unknown_client_policy_is_refused() -> None:
    with pytest.raises(ValueError, match="client policy"):
        bench_procs.run(scale=0.01, processes=(1, 2), plot=None, client_policy="realtime")


def test_the_batch_client_runs_as_a_batch_job() -> None:
    """What ``_wrk`` starts wrk with under ``--client-policy batch``: SCHED_BATCH."""
    child = subprocess.Popen(
        [sys.executable, "-c", "import os; print(os.sched_getscheduler(0))"],
        stdout=subprocess.PIPE, text=True, preexec_fn=bench_procs._as_batch_job,
    )  # fmt: skip
    out, _ = child.communicate(timeout=30)
    assert int(out) == os.SCHED_BATCH
