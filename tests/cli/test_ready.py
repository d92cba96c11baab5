"""``cli.ready.wait_healthy``: the one wait every starter of ``ecert serve`` uses. Ready on a
200, the exit code of a process that ended first, and the last connection error at the
deadline; every wait bounded."""

from __future__ import annotations

import http.server
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from cli import ready
from tests.cli.helpers import free_port


class _Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/healthz" else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        return


@contextmanager
def _serving() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), _Health)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_a_server_that_answers_is_ready() -> None:
    with _serving() as url:
        deadline = time.monotonic() + 10
        assert ready.wait_healthy(url, exit_code=lambda: None, deadline=deadline) is None


def test_a_process_that_exits_first_is_reported_with_its_exit_code() -> None:
    proc = subprocess.run([sys.executable, "-c", "raise SystemExit(3)"], check=False)
    missed = ready.wait_healthy(
        f"http://127.0.0.1:{free_port()}", exit_code=lambda: proc.returncode,
        deadline=time.monotonic() + 10,
    )  # fmt: skip
    assert missed == ready.NotReady(3, "no answer yet")


def test_nothing_listening_until_the_deadline_names_the_last_error() -> None:
    started = time.monotonic()
    missed = ready.wait_healthy(
        f"http://127.0.0.1:{free_port()}", exit_code=lambda: None, deadline=started + 0.5
    )
    assert missed is not None
    assert missed.exit_code is None
    assert missed.last != "no answer yet"  # a refused connection, named
    assert time.monotonic() - started < 0.5 + ready.ANSWER_TIMEOUT + 1
