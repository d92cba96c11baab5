"""The supervisor of ``ecert serve --workers N`` (:mod:`cli.workers`) with stand-in workers
(forked functions, no gateway): a worker that keeps exiting is restarted a bounded number of
times and then given up; a stop ends every worker within 5 s, killing one that ignores SIGTERM.
Real ``ecert serve --workers`` processes: ``tests/cli/test_serve_workers.py``."""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from cli import workers
from cli.serve import bind_all
from tests.cli.helpers import free_port

BOUND = 5.0  # seconds from the stop until every worker is gone (issue 8)


@pytest.fixture
def sockets() -> Iterator[list[socket.socket]]:
    made = bind_all("127.0.0.1", free_port(), 2)
    try:
        yield made
    finally:
        for sock in made:
            sock.close()


def _exits_once_ready(_sock: socket.socket, ready: Callable[[], None]) -> None:
    ready()
    raise SystemExit(3)


def _serves_until_stopped(_sock: socket.socket, ready: Callable[[], None]) -> None:
    ready()
    time.sleep(60)


def _ignores_sigterm(_sock: socket.socket, ready: Callable[[], None]) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    ready()
    time.sleep(60)


def _sigterm_later(seconds: float, sent: list[float]) -> threading.Timer:
    """SIGTERM to this process (the supervisor) ``seconds`` from now; when, into ``sent``."""

    def send() -> None:
        sent.append(time.monotonic())
        os.kill(os.getpid(), signal.SIGTERM)

    timer = threading.Timer(seconds, send)
    timer.start()
    return timer


def test_a_worker_that_keeps_exiting_is_restarted_then_given_up(
    sockets: list[socket.socket], caplog: pytest.LogCaptureFixture
) -> None:
    supervisor = workers.Supervisor(sockets[:1], _exits_once_ready)
    said: list[str] = []
    with caplog.at_level(logging.INFO, logger="ecert.workers"):
        status = supervisor.run(on_ready=lambda: said.append("started"))
    assert status == 1
    assert said == ["started"]
    restarts = [r for r in caplog.records if "restarting it" in r.getMessage()]
    assert len(restarts) == workers.MAX_RESTARTS
    assert "exited (3)" in restarts[0].getMessage()
    assert any("given up" in r.getMessage() for r in caplog.records)
    assert any("no worker left" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("work", [_serves_until_stopped, _ignores_sigterm],
                         ids=["stops", "ignores-sigterm"])  # fmt: skip
def test_a_stop_ends_every_worker_within_5s(
    sockets: list[socket.socket], work: workers.Work
) -> None:
    supervisor = workers.Supervisor(sockets, work)
    sent: list[float] = []
    timer = _sigterm_later(1.0, sent)
    try:
        status = supervisor.run(on_ready=lambda: None)
        returned = time.monotonic()
    finally:
        timer.cancel()
    assert status == 0
    assert returned - sent[0] < BOUND
    for worker in supervisor.workers:
        assert worker.process is not None
        assert not worker.process.is_alive()
        assert worker.process.exitcode in (-signal.SIGTERM, -signal.SIGKILL)
    assert signal.getsignal(signal.SIGTERM) is not supervisor._on_signal  # handlers given back
