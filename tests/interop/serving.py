"""A gateway's app on a real loopback socket (uvicorn in a thread), for the checks whose
independent client speaks HTTP: started, waited for (bounded), stopped."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

import uvicorn
from fastapi import FastAPI

from tests.cli.helpers import free_port

START_TIMEOUT = 10.0  # seconds to start, and to stop


@contextmanager
def serve_app(
    app: FastAPI, *, port: int = 0, lifespan: Literal["on", "off"] = "on"
) -> Iterator[str]:
    """Serve ``app`` on 127.0.0.1 (``port`` 0: a free one) and yield its base URL.

    ``lifespan="off"`` serves an app whose lifespan something else already runs (an in-process
    federation's ``TestClient``): the socket is one more way in, not a second gateway."""
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan=lifespan)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped while starting"
        assert time.monotonic() < deadline, f"uvicorn not started within {START_TIMEOUT}s"
        time.sleep(0.02)
    bound = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{bound}"
    finally:
        server.should_exit = True
        thread.join(timeout=START_TIMEOUT)
        assert not thread.is_alive(), f"uvicorn did not stop within {START_TIMEOUT}s"


def two_ports() -> tuple[int, int]:
    """Two distinct loopback ports nothing listens on right now."""
    first, second = free_port(), free_port()
    while second == first:
        second = free_port()
    return first, second
