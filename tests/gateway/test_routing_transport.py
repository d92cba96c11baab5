"""The in-process federation's transport stops only once no call between gateways is in flight:
a call that enters a gateway while its portal closes is never answered, and the test's exit
then waits on it for ever (the suite hung 300 s so)."""

from __future__ import annotations

import threading
from typing import Any, cast

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.gateway.federation_helpers import RoutingTransport

ORIGIN = "http://hz.test:8000"
BOUND = 10.0  # seconds: every wait here is bounded; each ends at once when the code is right


class _Held:
    """A gateway whose answer waits until the test lets it go."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def request(self, method: str, target: str, **_: Any) -> httpx.Response:
        self.entered.set()
        assert self.release.wait(BOUND)
        return httpx.Response(200, content=f"{method} {target}".encode())


def _transport(app: _Held) -> RoutingTransport:
    transport = RoutingTransport()
    transport.apps[ORIGIN] = cast(TestClient, app)
    return transport


def test_shut_waits_for_the_call_in_flight_and_refuses_new_ones() -> None:
    app = _Held()
    transport = _transport(app)
    answers: list[bytes] = []
    caller = threading.Thread(
        target=lambda: answers.append(
            httpx.Client(transport=transport).get(f"{ORIGIN}/trust/list").content
        )
    )
    caller.start()
    assert app.entered.wait(BOUND)
    shut = threading.Thread(target=transport.shut)
    shut.start()
    shut.join(0.2)
    assert shut.is_alive(), "shut returned while a call was still in flight"
    with pytest.raises(httpx.ConnectError, match="no gateway"):
        httpx.Client(transport=transport).get(f"{ORIGIN}/trust/list")
    app.release.set()
    shut.join(BOUND)
    caller.join(BOUND)
    assert not shut.is_alive()
    assert answers == [b"GET /trust/list"]


def test_shut_names_the_call_that_never_ends() -> None:
    app = _Held()
    transport = _transport(app)
    caller = threading.Thread(
        target=lambda: httpx.Client(transport=transport).get(f"{ORIGIN}/federation/fetch")
    )
    caller.start()
    assert app.entered.wait(BOUND)
    try:
        with pytest.raises(AssertionError, match=r"in flight.*GET http://hz.test:8000/federation"):
            transport.shut(timeout=0.1)
    finally:
        app.release.set()
        caller.join(BOUND)
