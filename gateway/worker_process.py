"""One spawned worker process that runs one function on the jobs it is sent, in order.

Written here rather than taken from the standard library: ``multiprocessing.Pool`` hangs for
good in ``terminate()`` once its worker was killed while waiting for a task (the worker held
the task queue's lock; seen in this project's tests on Python 3.11), and a killed worker's task
is never answered; ``concurrent.futures.ProcessPoolExecutor`` notices a dead worker but cannot
end a live one that does not answer. Here the worker is a ``multiprocessing`` process with a
pipe each way: a thread sends the jobs and one reads the answers, so that neither side waits on
the other's full pipe; a worker that dies fails every job it holds at once (its end of the pipe
closes); :meth:`WorkerProcess.close` kills it and returns within a bound whatever its state.

Deliberately not here: what the jobs are (:mod:`gateway.presign`).
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from multiprocessing.connection import Connection
from typing import Any, Generic, TypeVar

Job = TypeVar("Job")
Answer = TypeVar("Answer")

# How long close() waits for the killed process and the two threads, each.
_JOIN_SECONDS = 10.0


class WorkerGone(RuntimeError):
    """The worker process ended before it answered."""


def _serve(work: Callable[[Any], Any], jobs: Connection, answers: Connection) -> None:
    """The worker's loop: its process id once it has imported ``work``'s module (to unpickle
    it), then each job's answer, as ``(True, answer)`` or ``(False, the exception)``, until the
    jobs' pipe closes."""
    answers.send((True, os.getpid()))
    while True:
        try:
            job = jobs.recv()
        except EOFError:
            return
        try:
            answer = (True, work(job))
        except Exception as exc:
            answer = (False, exc)
        answers.send(answer)


class WorkerProcess(Generic[Job, Answer]):
    """A spawned process running ``work`` (a module-level function) on each job :meth:`submit`
    sends it. :attr:`started` answers the process id once it is ready."""

    def __init__(self, work: Callable[[Job], Answer]) -> None:
        context = multiprocessing.get_context("spawn")  # this process has threads: no fork
        jobs_in, self._jobs = context.Pipe(duplex=False)
        self._answers, answers_out = context.Pipe(duplex=False)
        self._process = context.Process(
            target=_serve, args=(work, jobs_in, answers_out), daemon=True,
            name="ecert-worker",
        )  # fmt: skip
        self._process.start()
        jobs_in.close()  # the worker's ends: held by it alone, so that its death closes them
        answers_out.close()
        self.started: Future[int] = Future()
        self._waiting: queue.SimpleQueue[Future[Answer]] = queue.SimpleQueue()
        self._outbox: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._closed = False
        self._reader = threading.Thread(target=self._read, name="ecert-worker-answers", daemon=True)
        self._sender = threading.Thread(target=self._send, name="ecert-worker-jobs", daemon=True)
        self._reader.start()
        self._sender.start()

    def submit(self, job: Job) -> Future[Answer]:
        """Send ``job``; its answer, or the worker's exception, or :class:`WorkerGone`."""
        answer: Future[Answer] = Future()
        with self._lock:
            if self._closed:
                answer.set_exception(WorkerGone("the worker was closed"))
                return answer
            self._waiting.put(answer)
            self._outbox.put(job)
        return answer

    def _send(self) -> None:
        while (job := self._outbox.get()) is not None:
            try:
                self._jobs.send(job)
            except (OSError, ValueError):  # the worker is gone: the reader fails its jobs
                return

    def _read(self) -> None:
        try:
            ok, pid = self._answers.recv()
            self.started.set_result(pid)
            while True:
                ok, value = self._answers.recv()
                waiting = self._waiting.get()
                if ok:
                    waiting.set_result(value)
                else:
                    waiting.set_exception(value)
        except (EOFError, OSError) as exc:
            self._gone(exc)

    def _gone(self, exc: BaseException) -> None:
        """Fail whatever is still waiting: the worker ended."""
        with self._lock:
            self._closed = True
        gone = WorkerGone(f"the worker process ended ({exc!r})")
        if not self.started.done():
            self.started.set_exception(gone)
        while True:
            try:
                waiting = self._waiting.get_nowait()
            except queue.Empty:
                return
            if not waiting.done():
                waiting.set_exception(gone)

    def close(self) -> None:
        """Kill the worker and end both threads; every job not answered yet fails."""
        with self._lock:
            self._closed = True
        self._outbox.put(None)
        if self._process.is_alive():
            self._process.kill()
        self._process.join(_JOIN_SECONDS)
        self._sender.join(_JOIN_SECONDS)  # a send blocked on the full pipe failed with it
        self._reader.join(_JOIN_SECONDS)  # the answers' pipe ended with the process
        self._jobs.close()
        self._answers.close()
        self._process.close()
