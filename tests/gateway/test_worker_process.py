"""The worker process that signs a register's chunks (:mod:`gateway.worker_process`): answers
in order, hands back what a job raised, fails what it held at once when it dies, and ends
within a bound when closed, even in the middle of a job (``multiprocessing.Pool.terminate``
hung for good once its worker had been killed)."""

from __future__ import annotations

import os
import signal
import time

import pytest

from gateway.worker_process import WorkerGone, WorkerProcess

WAIT = 60.0  # a bound on every wait here; a healthy worker answers in milliseconds


def _square_or_fail(job: int | list[int]) -> int | list[int]:
    if isinstance(job, list):  # sent back as it came
        return job
    if job < 0:
        raise ValueError(f"expected a non-negative number, found {job}")
    if job == 999:
        time.sleep(WAIT)  # a job that does not end while the test runs
    return job * job


def test_jobs_are_answered_in_order_and_a_failure_is_the_jobs_own() -> None:
    worker: WorkerProcess[int | list[int], int | list[int]] = WorkerProcess(_square_or_fail)
    try:
        assert worker.started.result(timeout=WAIT) != os.getpid()
        answers = [worker.submit(n) for n in (3, -1, 4)]
        assert answers[0].result(timeout=WAIT) == 9
        with pytest.raises(ValueError, match="found -1"):
            answers[1].result(timeout=WAIT)
        assert answers[2].result(timeout=WAIT) == 16  # the worker went on
        big = list(range(200_000))  # more than a pipe's buffer each way, two at once
        both = [worker.submit(big), worker.submit(big)]
        assert [b.result(timeout=WAIT) for b in both] == [big, big]
    finally:
        worker.close()


def test_a_killed_worker_fails_what_it_held_at_once() -> None:
    worker: WorkerProcess[int | list[int], int | list[int]] = WorkerProcess(_square_or_fail)
    try:
        pid = worker.started.result(timeout=WAIT)
        held = worker.submit(999)
        queued = worker.submit(2)
        os.kill(pid, signal.SIGKILL)
        started = time.monotonic()
        for answer in (held, queued):
            with pytest.raises(WorkerGone):
                answer.result(timeout=WAIT)
        assert time.monotonic() - started < WAIT / 2
        with pytest.raises(WorkerGone):  # nothing more is taken
            worker.submit(3).result(timeout=WAIT)
    finally:
        worker.close()


def test_close_ends_a_worker_in_the_middle_of_a_job() -> None:
    worker: WorkerProcess[int | list[int], int | list[int]] = WorkerProcess(_square_or_fail)
    worker.started.result(timeout=WAIT)
    held = worker.submit(999)
    started = time.monotonic()
    worker.close()
    assert time.monotonic() - started < WAIT / 2
    with pytest.raises(WorkerGone):
        held.result(timeout=WAIT)
