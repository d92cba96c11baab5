"""The benches' CPU readings: the kernel counts CPU time in clock ticks, so a short run can read
0 ms. CI's tiny-scale bench once divided by that 0 (ZeroDivisionError in the HTTP verify row)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from loadtests import bench
from loadtests.common import CLOCK_TICK_SECONDS, MIN_CPU_TICKS, cpu_ms_each, cpu_seconds


def test_a_reading_of_no_time_is_too_little_to_measure() -> None:
    # 30 fast requests inside one clock tick: before and after read the same.
    assert cpu_ms_each(12.34, 12.34, 30) is None
    assert cpu_ms_each(1.0, 1.0 + (MIN_CPU_TICKS - 1) * CLOCK_TICK_SECONDS, 30) is None
    note = bench.server_cpu_note(cpu_ms_each(12.34, 12.34, 30))
    assert "too little to measure" in note


def test_enough_ticks_give_a_figure_per_request() -> None:
    used = MIN_CPU_TICKS * CLOCK_TICK_SECONDS
    ms = cpu_ms_each(2.0, 2.0 + used, 4)
    assert ms is not None
    assert abs(ms - 1000 * used / 4) < 1e-9
    assert bench.server_cpu_note(ms).startswith(f"server CPU {ms:.2f} ms a request")
    assert cpu_ms_each(None, 3.0, 4) is None
    assert cpu_ms_each(2.0, 3.0, 0) is None


def test_a_process_tree_counts_its_children() -> None:
    # A parent that waits on a child that spins (30 s at most): only the child uses CPU.
    spin = "import time\nend = time.monotonic() + 30\nwhile time.monotonic() < end: pass\n"
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import subprocess, sys; subprocess.run([sys.executable, '-c', {spin!r}])",
        ],
        start_new_session=True,
    )
    try:
        own = tree = 0.0
        for _ in range(200):  # bounded: up to ~10 s of 50 ms looks
            own = cpu_seconds(parent.pid, children=False) or 0.0
            tree = cpu_seconds(parent.pid) or 0.0
            if tree - own >= 0.2:
                break
            time.sleep(0.05)
        assert tree - own >= 0.2, (own, tree)
    finally:
        os.killpg(parent.pid, signal.SIGKILL)
        parent.wait(timeout=30)
    assert cpu_seconds(parent.pid) is None  # ended and reaped
