"""Waiting for a gateway process just started to answer ``GET /healthz`` with 200.

One loop for every place that starts ``ecert serve`` and waits for it (the cluster demo, the
load tools, the test helpers): each asks :func:`wait_healthy` and words its own error from the
:class:`NotReady` it gets back, so the loop's bounds and what counts as ready are the same
everywhere.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

POLL = 0.1  # seconds between looks
ANSWER_TIMEOUT = 2.0  # seconds one look may take


@dataclass(frozen=True)
class NotReady:
    """Why a process was not ready: it exited (``exit_code``) or the deadline passed with it
    still running (``exit_code`` is None); ``last`` is the last connection error seen."""

    exit_code: int | None
    last: str


def wait_healthy(
    url: str, *, exit_code: Callable[[], int | None], deadline: float
) -> NotReady | None:
    """Look at ``url``/healthz every :data:`POLL` seconds until it answers 200 (None), the
    process exits (``exit_code()`` is not None) or ``deadline`` (monotonic) passes."""
    last = "no answer yet"
    with httpx.Client(timeout=ANSWER_TIMEOUT) as client:
        while time.monotonic() < deadline:
            code = exit_code()
            if code is not None:
                return NotReady(code, last)
            try:
                if client.get(f"{url.rstrip('/')}/healthz").status_code == 200:
                    return None
            except httpx.TransportError as exc:
                last = str(exc) or type(exc).__name__
            time.sleep(POLL)
    return NotReady(exit_code(), last)
