"""The fetcher to peers: every fetch ends by its deadline or the stop, and no body, however
compressed, grows past the size bound in memory.

Sizes and decoding run in memory (``httpx.MockTransport``); deadlines and the stop need sockets:
a loopback peer that never answers (:mod:`tests.gateway.stalled_peer`).
"""

from __future__ import annotations

import gzip
import http.server
import socket
import threading
import time
import tracemalloc
import zlib
from collections.abc import Iterator

import httpx
import pytest

from gateway.peers import MAX_DOCUMENT, HttpFetcher
from tests.gateway.stalled_peer import DRIP, SILENT, StalledPeer
from trust.errors import FetchError

URL = "https://peer.example/trust/list"
BODY = b'{"trust": "list"}' * 1000
BOUND = 5.0  # seconds: what the gateway's shutdown may take in all


class _Chunks(httpx.SyncByteStream):
    """A body as the network delivers it: in chunks, read raw (not loaded up front)."""

    def __init__(self, body: bytes, size: int = 65536) -> None:
        self.body, self.size = body, size

    def __iter__(self) -> Iterator[bytes]:
        for start in range(0, len(self.body), self.size):
            yield self.body[start : start + self.size]


def _serving(body: bytes, *, chunk: int = 65536, **headers: str) -> HttpFetcher:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers=headers, stream=_Chunks(body, chunk))

    return HttpFetcher(httpx.Client(transport=httpx.MockTransport(answer)))


def _raw_deflate(data: bytes) -> bytes:
    packer = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return packer.compress(data) + packer.flush()


@pytest.mark.parametrize(
    ("coding", "wire"),
    [
        ("identity", BODY),
        ("gzip", gzip.compress(BODY)),
        ("x-gzip", gzip.compress(BODY)),
        ("deflate", zlib.compress(BODY)),  # RFC 9110 §8.4.1.2: the zlib format
        ("deflate", _raw_deflate(BODY)),  # what some servers send instead
    ],
    ids=["identity", "gzip", "x-gzip", "deflate-zlib", "deflate-raw"],
)
def test_a_body_is_decoded_from_its_content_encoding(coding: str, wire: bytes) -> None:
    assert _serving(wire, **{"Content-Encoding": coding}).fetch(URL) == BODY


def test_only_the_codings_decoded_here_are_asked_for() -> None:
    asked: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        asked.append(request.headers["Accept-Encoding"])
        return httpx.Response(200, content=b"ok")

    HttpFetcher(httpx.Client(transport=httpx.MockTransport(answer))).fetch(URL)
    assert asked == ["gzip, deflate"]


@pytest.mark.parametrize(
    ("wire", "headers", "message"),
    [
        (b"x", {"Content-Encoding": "br"}, "expected Content-Encoding gzip, deflate or none"),
        (gzip.compress(BODY)[:-20], {"Content-Encoding": "gzip"}, "ends before its end"),
        (b"not gzip at all", {"Content-Encoding": "gzip"}, "expected a gzip body"),
        (b"x" * (MAX_DOCUMENT + 1), {}, f"body over {MAX_DOCUMENT} bytes"),
        (gzip.compress(b"x" * (MAX_DOCUMENT + 1)), {"Content-Encoding": "gzip"}, "body over"),
    ],
    ids=["unknown-coding", "truncated-gzip", "garbage-gzip", "over-bound", "over-bound-gzip"],
)
def test_a_bad_body_is_a_fetch_error_saying_what_was_expected(
    wire: bytes, headers: dict[str, str], message: str
) -> None:
    with pytest.raises(FetchError, match=message):
        _serving(wire, **headers).fetch(URL)


def test_a_body_of_exactly_the_bound_is_kept() -> None:
    body = b"x" * MAX_DOCUMENT
    assert _serving(gzip.compress(body), **{"Content-Encoding": "gzip"}).fetch(URL) == body


def test_a_gzip_bomb_never_inflates_past_the_bound_in_memory() -> None:
    """Issue 8: the 8 MiB bound was checked after httpx inflated each network chunk, so one
    chunk of a gzip bomb grew about 1000 times in memory first. 96 MiB of zeros compress to
    about 96 KB; the fetch must refuse it holding no more than about the bound."""
    bomb = gzip.compress(bytes(96 * 1024 * 1024), compresslevel=9)
    assert len(bomb) < 200_000
    fetcher = _serving(bomb, chunk=len(bomb), **{"Content-Encoding": "gzip"})
    tracemalloc.start()
    try:
        with pytest.raises(FetchError, match=f"body over {MAX_DOCUMENT} bytes"):
            fetcher.fetch(URL)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * MAX_DOCUMENT, f"peak {peak / 2**20:.0f} MiB while fetching a gzip bomb"


@pytest.fixture(params=[SILENT, DRIP])
def stalled(request: pytest.FixtureRequest) -> Iterator[StalledPeer]:
    with StalledPeer(request.param, every=0.2) as peer:
        yield peer


def test_a_peer_that_never_answers_is_abandoned_at_the_fetch_deadline(
    stalled: StalledPeer,
) -> None:
    """A peer dripping a byte every 0.2 s never trips a read timeout: only the whole fetch's
    deadline ends it (it held a sync for ever)."""
    fetcher = HttpFetcher(deadline=1.0)
    start = time.monotonic()
    with pytest.raises(FetchError, match=r"GET .* failed: .*(deadline of 1s|no progress)"):
        fetcher.fetch(f"{stalled.url}/trust/list")
    took = time.monotonic() - start
    fetcher.close()
    assert stalled.received() == 1
    assert 0.9 < took < 1.0 + BOUND / 2, f"the fetch took {took:.2f}s with a 1s deadline"


def test_the_stop_aborts_a_fetch_in_flight(stalled: StalledPeer) -> None:
    fetcher = HttpFetcher()  # the default 10 s deadline: only the stop ends it sooner
    outcome: list[BaseException | bytes] = []

    def fetch() -> None:
        try:
            outcome.append(fetcher.fetch(f"{stalled.url}/trust/list"))
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=fetch, daemon=True)
    worker.start()
    stalled.wait_for_request(timeout=10)
    stopped = time.monotonic()
    fetcher.stop.set()
    worker.join(timeout=BOUND)
    took = time.monotonic() - stopped
    fetcher.close()
    assert not worker.is_alive(), "the fetch went on after the stop"
    assert took < BOUND / 2, f"the fetch ended {took:.2f}s after the stop"  # its deadline: 10 s
    (error,) = outcome
    assert isinstance(error, FetchError), error
    assert "the gateway is stopping" in str(error)


def test_once_stopped_nothing_is_sent() -> None:
    with StalledPeer() as peer:
        fetcher = HttpFetcher()
        fetcher.stop.set()
        with pytest.raises(FetchError, match="abandoned: the gateway is stopping"):
            fetcher.fetch(f"{peer.url}/trust/list")
        with pytest.raises(FetchError, match="abandoned: the gateway is stopping"):
            fetcher.post_text(f"{peer.url}/federation/join", "x", content_type="text/plain")
        fetcher.close()
        assert peer.received() == 0


class _HangingResolver:
    """``socket.getaddrinfo`` as a resolver that does not answer until let go."""

    def __init__(self) -> None:
        self.asked = threading.Event()
        self.release = threading.Event()

    def __call__(self, host: str, *args: object, **kwargs: object) -> list[object]:
        self.asked.set()
        self.release.wait(BOUND * 2)
        raise OSError(f"{host}: the resolver gave up")


@pytest.fixture
def hanging_resolver(monkeypatch: pytest.MonkeyPatch) -> Iterator[_HangingResolver]:
    resolver = _HangingResolver()
    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    try:
        yield resolver
    finally:
        resolver.release.set()


def test_a_host_name_that_never_resolves_ends_at_the_fetch_deadline(
    hanging_resolver: _HangingResolver,
) -> None:
    """``getaddrinfo`` takes no timeout: a hanging resolver held a fetch past its deadline."""
    fetcher = HttpFetcher(deadline=0.5)
    start = time.monotonic()
    with pytest.raises(FetchError, match=r"deadline of 0.5s"):
        fetcher.fetch("http://peer.invalid:8000/trust/list")
    took = time.monotonic() - start
    fetcher.close()
    assert hanging_resolver.asked.is_set()
    assert took < 0.5 + BOUND / 2, f"the fetch took {took:.2f}s with a 0.5s deadline"


def test_the_stop_aborts_a_fetch_waiting_on_the_resolver(
    hanging_resolver: _HangingResolver,
) -> None:
    fetcher = HttpFetcher()
    outcome: list[BaseException | bytes] = []

    def fetch() -> None:
        try:
            outcome.append(fetcher.fetch("http://peer.invalid:8000/trust/list"))
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=fetch, daemon=True)
    worker.start()
    assert hanging_resolver.asked.wait(BOUND)
    stopped = time.monotonic()
    fetcher.stop.set()
    worker.join(timeout=BOUND)
    took = time.monotonic() - stopped
    fetcher.close()
    assert not worker.is_alive(), "the fetch went on after the stop"
    assert took < BOUND / 2, f"the fetch ended {took:.2f}s after the stop"  # its deadline: 10 s
    (error,) = outcome
    assert isinstance(error, FetchError)
    assert "the gateway is stopping" in str(error)


class _Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"hello"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_a_host_name_is_resolved_and_each_address_tried_in_turn(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first address refuses (nothing listens on it), the second answers."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    port = server.server_address[1]
    answers = [  # nothing listens on 127.0.0.2 at that port: refused at once
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.2", port)),
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port)),
    ]
    asked: list[str] = []

    def resolve(host: str, *args: object, **kwargs: object) -> list[object]:
        asked.append(host)
        return list(answers)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        fetcher = HttpFetcher(deadline=BOUND)
        assert fetcher.fetch(f"http://peer.test:{port}/hello") == b"hello"
        fetcher.close()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(BOUND)
    assert asked[0] == "peer.test"  # then only the addresses it gave (numeric: no lookup)
    assert set(asked[1:]) <= {"127.0.0.2", "127.0.0.1"}
