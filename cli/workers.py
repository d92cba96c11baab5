"""``ecert serve --workers N``: N worker processes serving one city on one port, supervised.

Each worker has a listening socket of its own, all bound to the same address with
``SO_REUSEPORT``: the kernel hashes each new connection to one of them (Linux, ``socket(7)``,
"incoming connections … are distributed across the listening sockets"), so connections spread
evenly without a process in between. A single socket shared by processes that each ``accept``
spreads nothing: the process that wakes first takes whatever is queued, and measured with
``uvicorn --workers 2`` one worker took every connection in 5 of 10 runs.

The parent binds every socket before any worker starts (a port in use is the one-line error of
``ecert serve``), and keeps them: a worker that dies is restarted on its own socket, so the
connections the kernel queued on it meanwhile are answered by its successor instead of reset.
The parent:

- starts the workers (``fork``: each opens its own gateway, database pool and background work)
  and says "started" once, when every worker answers on its socket;
- restarts a worker that exits on its own, logged, at most :data:`MAX_RESTARTS` times in
  :data:`RESTART_WINDOW` seconds per worker; past that the worker's socket is closed (the
  kernel then hashes its connections to the others) and, with no worker left, it exits 1;
- on SIGTERM or SIGINT, stops every worker with SIGTERM (each stops as ``ecert serve`` does,
  issue 8), and kills any still running :data:`STOP_BOUND` seconds later: gone within 5 s.

Deliberately not here: what a worker serves (``cli.serve._run``), which worker leads the
federation sync (:mod:`gateway.cluster`), how workers learn of each other's writes
(:mod:`gateway.notify`).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from types import FrameType

log = logging.getLogger("ecert.workers")

MAX_WORKERS = 64
MAX_RESTARTS = 5  # per worker, within RESTART_WINDOW seconds; then that worker is given up
RESTART_WINDOW = 60.0
READY_TIMEOUT = 120.0  # seconds for every worker to answer, from the start
STOP_BOUND = 4.0  # seconds from the stop until workers still running are killed
TICK = 0.2  # seconds between looks at the signals received, while nothing else happens
_fork = multiprocessing.get_context("fork")

# A worker: given its socket and a callback to call once it serves, it serves until stopped.
Work = Callable[[socket.socket, Callable[[], None]], None]


@dataclass
class _Worker:
    number: int
    sock: socket.socket
    process: BaseProcess | None = None
    ready: Connection | None = None
    restarts: list[float] = field(default_factory=list)
    given_up: bool = False


class Supervisor:
    """Runs ``work`` in one process per socket; see the module's docstring."""

    def __init__(self, sockets: list[socket.socket], work: Work) -> None:
        self.workers = [_Worker(n, sock) for n, sock in enumerate(sockets, start=1)]
        self._work = work
        self._signalled: int | None = None

    def run(self, on_ready: Callable[[], None]) -> int:
        """Serve until a signal; the exit status (0, or 1 if the workers could not serve)."""
        previous = {sig: signal.signal(sig, self._on_signal) for sig in _SIGNALS}
        try:
            for worker in self.workers:
                self._start(worker)
            if not self._wait_ready():
                return 1
            on_ready()
            return self._supervise()
        finally:
            self._stop_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            for worker in self.workers:
                worker.sock.close()

    def _on_signal(self, sig: int, _frame: FrameType | None) -> None:
        self._signalled = sig

    def _start(self, worker: _Worker) -> None:
        theirs, ours = _fork.Pipe(duplex=False)
        others = [w.sock for w in self.workers if w is not worker]
        process = _fork.Process(
            target=_worker_main,
            args=(self._work, worker.sock, others, ours),
            name=f"ecert-worker-{worker.number}",
            daemon=False,
        )
        process.start()
        ours.close()  # the worker's end
        worker.process, worker.ready = process, theirs

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + READY_TIMEOUT
        waiting = {w.number: w for w in self.workers}
        while waiting:
            if self._signalled is not None:
                return False
            left = deadline - time.monotonic()
            if left <= 0:
                log.error("workers %s did not start within %.0fs", sorted(waiting), READY_TIMEOUT)
                return False
            pending = [w.ready for w in waiting.values() if w.ready is not None]
            answered = wait(pending, timeout=min(TICK, left))
            for worker in [w for w in waiting.values() if w.ready in answered]:
                assert worker.ready is not None
                try:
                    worker.ready.recv_bytes()
                except EOFError:  # the worker ended before it served
                    log.error("worker %d exited before it served", worker.number)
                    return False
                del waiting[worker.number]
        return True

    def _supervise(self) -> int:
        while self._signalled is None:
            running = [w for w in self.workers if not w.given_up]
            if not running:
                log.error("no worker left serving; stopping")
                return 1
            sentinels = [w.process.sentinel for w in running if w.process is not None]
            for ended in wait(sentinels, timeout=TICK):
                worker = next(w for w in running if w.process and w.process.sentinel == ended)
                self._restart(worker)
        return 0

    def _restart(self, worker: _Worker) -> None:
        assert worker.process is not None
        worker.process.join(1.0)  # it ended: reaped at once
        code = worker.process.exitcode
        if self._signalled is not None:
            return
        now = time.monotonic()
        worker.restarts = [t for t in worker.restarts if now - t < RESTART_WINDOW]
        if len(worker.restarts) >= MAX_RESTARTS:
            log.error(
                "worker %d (pid %s) exited (%s) %d times in %.0fs: given up; the others serve",
                worker.number, worker.process.pid, code, MAX_RESTARTS + 1, RESTART_WINDOW,
            )  # fmt: skip
            worker.given_up = True
            worker.sock.close()  # the kernel hashes new connections to the sockets left
            return
        worker.restarts.append(now)
        log.warning("worker %d (pid %s) exited (%s); restarting it",
                    worker.number, worker.process.pid, code)  # fmt: skip
        self._start(worker)

    def _stop_all(self) -> None:
        alive = [w.process for w in self.workers if w.process is not None and w.process.is_alive()]
        for process in alive:
            if process.pid is not None:
                _signal(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_BOUND
        for process in alive:
            process.join(max(0.0, deadline - time.monotonic()))
        for process in alive:
            if process.is_alive() and process.pid is not None:
                log.warning("worker pid %d still running %.0fs after the stop: killed",
                            process.pid, STOP_BOUND)  # fmt: skip
                _signal(process.pid, signal.SIGKILL)
                process.join(1.0)


_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):  # already gone
        os.kill(pid, sig)


def _worker_main(
    work: Work, sock: socket.socket, others: list[socket.socket], ready: Connection
) -> None:
    """A worker process: the parent's signal handlers and other sockets dropped, then
    ``work`` on its own socket, saying so on ``ready`` once it serves."""
    for sig in _SIGNALS:
        signal.signal(sig, signal.SIG_DFL)
    for other in others:
        other.close()

    def served() -> None:
        ready.send_bytes(b"ready")
        ready.close()

    work(sock, served)
