"""Fetching from peers over HTTP: the one-method ``Fetcher`` the pure layer resolves through.

Every foreign error (connection refused, timeout, HTTP status, oversized body) becomes a
``trust.errors.FetchError`` naming the URL, so callers fall back to the last good data.

Every fetch is bounded in time and size, whatever the peer does:
- in time: :data:`DEADLINE` seconds for the whole fetch, connect to last byte, besides httpx's
  per-operation timeouts; and none past :attr:`HttpFetcher.stop`, which the gateway sets when
  it shuts down (:mod:`gateway.peer_transport` enforces both on the sockets);
- in size: :data:`MAX_DOCUMENT` bytes *after* decoding. The body is read raw and inflated here
  with ``zlib``'s ``max_length`` (RFC 9110 §8.4.1: gzip, deflate), so a compressed chunk can
  never grow past the bound in memory: httpx's own decoders inflate a whole network chunk
  before the size could be checked (a gzip bomb: about 1000 times its size).
"""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Iterator

import httpx

from gateway.peer_transport import BoundedTransport, bounded
from trust.errors import FetchError

MAX_DOCUMENT = 8 * 1024 * 1024
TIMEOUT = httpx.Timeout(5.0, connect=2.0)
DEADLINE = 10.0  # seconds for one whole fetch (or post)
ACCEPT_ENCODING = "gzip, deflate"  # the codings decoded here, and no others
_GZIP_WBITS = 16 + zlib.MAX_WBITS  # RFC 1952 framing
_DEFLATE_WBITS = (zlib.MAX_WBITS, -zlib.MAX_WBITS)  # RFC 1950 (RFC 9110 §8.4.1.2), raw as seen


class HttpFetcher:
    """GET with bounded time and size; ``client`` may be injected (tests route it in-process).

    ``stop``, once set, fails every fetch at once and aborts those in flight: the gateway sets
    it when it shuts down (:mod:`gateway.app`)."""

    def __init__(
        self,
        client: httpx.Client | None = None,
        *,
        max_bytes: int = MAX_DOCUMENT,
        deadline: float = DEADLINE,
        stop: threading.Event | None = None,
    ) -> None:
        self.client = client or httpx.Client(
            transport=BoundedTransport(), timeout=TIMEOUT, follow_redirects=False, trust_env=False
        )
        self.max_bytes = max_bytes
        self.deadline = deadline
        self.stop = stop or threading.Event()

    def fetch(self, url: str) -> bytes:
        self._refuse_when_stopping("GET", url)
        started = time.monotonic()
        try:
            with (
                bounded(self.deadline, self.stop),
                self.client.stream("GET", url, headers={"Accept-Encoding": ACCEPT_ENCODING}) as r,
            ):
                if r.status_code != 200:
                    raise FetchError(f"GET {url} answered HTTP {r.status_code}")
                if r.is_stream_consumed:  # an in-memory transport's: read and decoded already
                    return _decoded(iter([r.content]), "identity", url, self.max_bytes)
                coding = r.headers.get("Content-Encoding", "identity").strip().lower()
                return _decoded(self._raw(r, url, started), coding, url, self.max_bytes)
        except httpx.HTTPError as exc:
            raise FetchError(f"GET {url} failed: {exc}") from exc

    def _raw(self, response: httpx.Response, url: str, started: float) -> Iterator[bytes]:
        """The raw body, looking at the stop and the deadline between chunks too (an injected
        client's transport may not be bounded)."""
        for chunk in response.iter_raw():
            self._refuse_when_stopping("GET", url)
            if time.monotonic() - started > self.deadline:
                raise FetchError(f"GET {url}: took longer than its deadline of {self.deadline}s")
            yield chunk

    def _refuse_when_stopping(self, method: str, url: str) -> None:
        if self.stop.is_set():
            raise FetchError(f"{method} {url} abandoned: the gateway is stopping")

    def post_text(self, url: str, content: str, *, content_type: str) -> str:
        self._refuse_when_stopping("POST", url)
        try:
            with bounded(self.deadline, self.stop):
                response = self.client.post(
                    url, content=content, headers={"Content-Type": content_type}
                )
        except httpx.HTTPError as exc:
            raise FetchError(f"POST {url} failed: {exc}") from exc
        if response.status_code >= 400:
            raise FetchError(
                f"POST {url} answered HTTP {response.status_code}: {response.text[:300]}"
            )
        return response.text

    def post(
        self, url: str, content: str, *, content_type: str, deadline: float | None = None
    ) -> tuple[int, bytes]:
        """POST ``content``; the answer's status and body, whatever the status (a peer's
        refusal is for the caller to read), bounded like :meth:`fetch` and by ``deadline``
        seconds when that is shorter."""
        self._refuse_when_stopping("POST", url)
        started = time.monotonic()
        seconds = self.deadline if deadline is None else min(deadline, self.deadline)
        headers = {"Content-Type": content_type, "Accept-Encoding": ACCEPT_ENCODING}
        try:
            with (
                bounded(seconds, self.stop),
                self.client.stream("POST", url, content=content, headers=headers) as r,
            ):
                if r.is_stream_consumed:  # an in-memory transport's: read and decoded already
                    return r.status_code, _decoded(iter([r.content]), "", url, self.max_bytes)
                coding = r.headers.get("Content-Encoding", "identity").strip().lower()
                body = _decoded(self._raw(r, url, started), coding, url, self.max_bytes)
                return r.status_code, body
        except httpx.HTTPError as exc:
            raise FetchError(f"POST {url} failed: {exc}") from exc

    def close(self) -> None:
        self.client.close()


def _decoded(raw: Iterator[bytes], coding: str, url: str, limit: int) -> bytes:
    """The body decoded from ``coding``, never holding more than ``limit`` + 1 bytes of it."""
    body = bytearray()
    if coding in ("identity", ""):
        for chunk in raw:
            body += chunk
            _check_size(body, url, limit)
        return bytes(body)
    if coding in ("gzip", "x-gzip"):
        inflater = zlib.decompressobj(_GZIP_WBITS)
    elif coding == "deflate":
        inflater = None  # zlib-wrapped or raw: decided by the first bytes
    else:
        raise FetchError(
            f"GET {url}: expected Content-Encoding gzip, deflate or none, found {coding!r}"
        )
    try:
        for chunk in raw:
            if inflater is None:
                inflater = zlib.decompressobj(_deflate_wbits(chunk))
            _inflate(inflater, chunk, body, url, limit)
        if inflater is not None:
            _inflate(inflater, b"", body, url, limit)  # what zlib still holds back
            if not inflater.eof:
                raise FetchError(f"GET {url}: the {coding} body ends before its end of stream")
    except zlib.error as exc:
        raise FetchError(f"GET {url}: expected a {coding} body, found bad data: {exc}") from exc
    return bytes(body)


def _deflate_wbits(first: bytes) -> int:
    """RFC 1950 header (CMF, FLG: method 8 and a multiple of 31), else raw deflate."""
    zlib_header = len(first) >= 2 and first[0] & 0x0F == 8 and (first[0] << 8 | first[1]) % 31 == 0
    return _DEFLATE_WBITS[0] if zlib_header else _DEFLATE_WBITS[1]


def _inflate(
    inflater: zlib._Decompress, data: bytes, body: bytearray, url: str, limit: int
) -> None:
    """Inflate ``data`` onto ``body``, at most one byte past ``limit`` at a time."""
    while not inflater.eof:
        out = inflater.decompress(data, limit + 1 - len(body))
        body += out
        _check_size(body, url, limit)
        data = inflater.unconsumed_tail
        if not data and not out:
            return


def _check_size(body: bytearray, url: str, limit: int) -> None:
    if len(body) > limit:
        raise FetchError(f"GET {url}: body over {limit} bytes")
