"""The app's lifespan shutdown ends within a bound whatever its background sync is doing.

The suite once hung 300 s in ``TestClient.__exit__``: the portal thread's event loop, closing,
joined asyncio's default executor, where a sync thread was blocked. Here a city's sync is caught
mid-fetch by the shutdown: on a peer that never answers (the stop aborts the fetch), and on a
fetch that nothing can interrupt (the shutdown leaves it behind after its grace). In-process,
with a real loopback peer where sockets are the point.
"""

from __future__ import annotations

import sqlite3
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from gateway import agencies, federation, trustsync
from gateway.app import SHUTDOWN_GRACE, create_app
from gateway.background import Stopped
from gateway.core import Gateway
from gateway.peers import HttpFetcher
from gateway.settings import Settings
from tests.cli.helpers import free_port
from tests.conftest import PASSPHRASE
from tests.gateway.stalled_peer import DRIP, SILENT, StalledPeer
from trust.errors import FetchError
from trust.keys import SigningKey

BOUND = 5.0  # seconds: issue 8, "SIGTERM, SIGINT and lifespan shutdown finish within 5 s"
WAIT = 20.0  # seconds: the bound of every wait for something to start


@pytest.fixture
def opened() -> Iterator[list[Gateway]]:
    """Gateways a test opened, closed after it."""
    gateways: list[Gateway] = []
    yield gateways
    for gw in gateways:
        gw.close()


def _city(tmp_path: Path, opened: list[Gateway], superior: str) -> Gateway:
    """A city that joined ``superior`` (its keys pinned, no HTTP), syncing every 0.05 s."""
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=f"sqlite:///{tmp_path / 'gateway.db'}",
        key_passphrase=PASSPHRASE,
        federation_refresh=0.05,
    )
    gw = Gateway.open(settings)
    opened.append(gw)
    agencies.init_city(gw, code="330100", name="杭州市", public_url="http://127.0.0.1:9101",
                       actor="test")  # fmt: skip
    federation.init(
        gw, role=federation.CITY, region_id="yrd", region_name="长三角", superior_id=superior,
        superior_jwks=[dict(SigningKey.generate().public.jwk)], actor="test",
    )  # fmt: skip
    return gw


def _exit_timed(client: TestClient) -> float:
    """Seconds ``client.__exit__`` took; fails (leaving it to finish) if over :data:`BOUND`."""
    exited = threading.Thread(target=client.__exit__, args=(None, None, None), daemon=True)
    start = time.monotonic()
    exited.start()
    exited.join(timeout=BOUND)
    took = time.monotonic() - start
    assert not exited.is_alive(), f"the lifespan shutdown still ran after {took:.1f}s"
    return took


def _threads() -> set[threading.Thread]:
    return set(threading.enumerate())


def _background(since: set[threading.Thread]) -> list[str]:
    """The gateway's background threads started after ``since`` and still running."""
    return sorted(t.name for t in _threads() - since if t.name.startswith("ecert-"))


def _wait_until_ended(since: set[threading.Thread]) -> None:
    deadline = time.monotonic() + WAIT
    while _background(since):
        assert time.monotonic() < deadline, f"still running: {_background(since)}"
        time.sleep(0.05)


@pytest.mark.parametrize("mode", [SILENT, DRIP])
def test_the_shutdown_aborts_a_sync_waiting_on_a_peer_that_never_answers(
    tmp_path: Path, opened: list[Gateway], mode: str
) -> None:
    before = _threads()
    with StalledPeer(mode, every=4.0) as peer:
        gw = _city(tmp_path, opened, peer.url)
        fetcher = HttpFetcher()  # also the confirmer's and the resolver's (app.state.fetcher)
        client = TestClient(create_app(gw, fetcher=fetcher))
        client.__enter__()
        try:
            peer.wait_for_request(timeout=WAIT)  # the sync is mid-fetch
        except BaseException:
            client.__exit__(None, None, None)
            raise
        took = _exit_timed(client)
        print(f"\nlifespan shutdown mid-sync, {mode} peer: {took:.2f}s")
        assert took < SHUTDOWN_GRACE, "the stop did not reach the fetch: the grace ran out"
        assert _background(before) == []  # the sync thread itself has ended
        assert trustsync.latest(gw) is None
        with pytest.raises(FetchError, match="abandoned: the gateway is stopping"):
            fetcher.fetch(f"{peer.url}/federation/confirm")  # as any request thread would
        assert peer.received() == 1


class _Uninterruptible(httpx.BaseTransport):
    """A fetch nothing can interrupt (a lock, name resolution) until the test releases it."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.entered.set()
        self.release.wait(timeout=60)
        raise httpx.ConnectError("released by the test", request=request)


def test_the_shutdown_leaves_behind_a_sync_it_cannot_interrupt(
    tmp_path: Path, opened: list[Gateway]
) -> None:
    """The hang of the suite: before, ``TestClient.__exit__`` waited as long as the fetch."""
    before = _threads()
    blocking = _Uninterruptible()
    gw = _city(tmp_path, opened, "http://127.0.0.1:9100")
    client = TestClient(create_app(gw, fetcher=HttpFetcher(httpx.Client(transport=blocking))))
    client.__enter__()
    try:
        assert blocking.entered.wait(timeout=WAIT), "the sync never fetched"
        took = _exit_timed(client)
        print(f"\nlifespan shutdown with an uninterruptible fetch: {took:.2f}s")
        assert took >= SHUTDOWN_GRACE * 0.9  # it gave the work its grace, then left it
    finally:
        blocking.release.set()
        _wait_until_ended(before)
    assert trustsync.latest(gw) is None  # released after the stop: it wrote nothing


def _writing(since: set[threading.Thread]) -> bool:
    """A background thread started after ``since`` is inside ``Gateway.transaction``'s start or
    end (taking the write lock, or committing), read from its live stack."""
    frames = sys._current_frames()
    for thread in _threads() - since:
        frame = frames.get(thread.ident or -1) if thread.name.startswith("ecert-") else None
        while frame is not None:
            code = frame.f_code
            if code.co_name == "transaction" and code.co_filename.endswith("core.py"):
                return True
            frame = frame.f_back
    return False


def test_the_shutdown_leaves_behind_a_sync_blocked_mid_write(
    tmp_path: Path, opened: list[Gateway]
) -> None:
    """Another process holds SQLite's write lock (a long batch, say): the sync's next write
    waits for it, up to the 30 s busy timeout. Before, the shutdown waited as long."""
    before = _threads()
    gw = _city(tmp_path, opened, f"http://127.0.0.1:{free_port()}")  # refused: fails at once
    other = sqlite3.connect(tmp_path / "gateway.db", isolation_level=None, timeout=WAIT)
    client = TestClient(create_app(gw, fetcher=HttpFetcher()))
    client.__enter__()
    try:
        other.execute("BEGIN IMMEDIATE")
        deadline = time.monotonic() + WAIT
        while not _writing(before):
            if time.monotonic() > deadline:
                client.__exit__(None, None, None)
                raise AssertionError(f"no sync reached a write within {WAIT:.0f}s")
            time.sleep(0.02)
        took = _exit_timed(client)
        print(f"\nlifespan shutdown with a sync waiting on the write lock: {took:.2f}s")
    finally:
        other.execute("ROLLBACK")
        other.close()
        _wait_until_ended(before)
    with gw.sessions() as session:
        assert session.connection().exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
    assert trustsync.latest(gw) is None  # given the lock after the stop, it signed nothing


class _StopsMidSync:
    """A fetcher during whose first fetch the gateway starts stopping."""

    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop
        self.urls: list[str] = []

    def fetch(self, url: str) -> bytes:
        self.urls.append(url)
        self.stop.set()
        raise FetchError(f"GET {url} abandoned: the gateway is stopping")


def test_a_sync_told_to_stop_fetches_and_writes_nothing_more(
    tmp_path: Path, opened: list[Gateway]
) -> None:
    gw = _city(tmp_path, opened, "http://127.0.0.1:9100")
    stop = threading.Event()
    fetcher = _StopsMidSync(stop)
    with pytest.raises(Stopped):
        trustsync.sync_once(gw, fetcher, lifetime=3600, refresh=60, stop=stop)
    assert fetcher.urls == ["http://127.0.0.1:9100/trust/root/history"]
    assert trustsync.latest(gw) is None
    with pytest.raises(Stopped):
        trustsync.sync_once(gw, fetcher, lifetime=3600, refresh=60, stop=stop)
    assert len(fetcher.urls) == 1
