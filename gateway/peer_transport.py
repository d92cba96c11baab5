"""The HTTP transport to peers: every socket operation of a fetch is bounded by the fetch's
total deadline and by the gateway's stop.

httpx bounds each socket operation (``httpx.Timeout``: 5 s a read), not a whole request: a peer
that sends one byte every four seconds never trips a read timeout and holds a fetch, and the
sync waiting on it, for ever. Here, while a thread is inside :func:`bounded`, every connect,
write and read its fetch does is given at most what is left of the fetch's deadline, and a
blocked read wakes every :data:`SLICE` seconds to look at the stop, so a fetch ends soon after
the gateway starts stopping whatever the peer does. httpx's sync client does every socket
operation of a request in the thread that sent it, so the bound is the calling thread's.

:class:`BoundedTransport` is httpx's default transport (an httpcore connection pool, keep-alive,
TLS with httpx's default context) over that bounded network backend, for direct connections
only: the environment's proxy settings are not used (a proxy transport would escape the bound).

Host names are resolved under the same bound: ``getaddrinfo`` takes no timeout, so it runs in a
daemon thread of its own that the fetch waits for only as long as its deadline and the stop
allow (a resolver that hangs is left to end on its own), then each address it gave is tried in
turn, as ``socket.create_connection`` would.
Deliberately not here: what is fetched, status codes, size bounds, content decoding
(:mod:`gateway.peers`).
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

SLICE = 0.1  # seconds a blocked read waits before it looks at the stop again


@dataclass(frozen=True)
class _Bound:
    deadline: float  # time.monotonic()
    seconds: float
    stop: threading.Event

    def until(self, timeout: float | None) -> float:
        """When an operation given ``timeout`` must end: its own bound or the fetch's."""
        if timeout is None:
            return self.deadline
        return min(self.deadline, time.monotonic() + timeout)

    def left(self, until: float, timeout: float | None, late: type[Exception]) -> float:
        """Seconds left until ``until``; raises once the gateway stops or no time is left."""
        if self.stop.is_set():
            raise httpcore.ReadError("the gateway is stopping: the fetch was abandoned")
        left = until - time.monotonic()
        if left > 0:
            return left
        if until >= self.deadline:
            raise late(f"the fetch took longer than its deadline of {self.seconds:g}s")
        raise late(f"no progress within {timeout:g}s")


_local = threading.local()


def _current() -> _Bound | None:
    bound: _Bound | None = getattr(_local, "bound", None)
    return bound


@contextmanager
def bounded(seconds: float, stop: threading.Event) -> Iterator[None]:
    """Bound every socket operation this thread does inside the block: ``seconds`` in all,
    and none past ``stop`` (raised as httpcore, then httpx, errors)."""
    previous = _current()
    _local.bound = _Bound(time.monotonic() + seconds, seconds, stop)
    try:
        yield
    finally:
        _local.bound = previous


class _BoundedStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        bound = _current()
        if bound is None:
            return self._inner.read(max_bytes, timeout)
        until = bound.until(timeout)
        while True:
            left = bound.left(until, timeout, httpcore.ReadTimeout)
            try:
                return self._inner.read(max_bytes, min(left, SLICE))
            except httpcore.ReadTimeout:
                continue  # nothing arrived within the slice: look at the stop and clock again

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        bound = _current()
        if bound is not None:
            timeout = bound.left(bound.until(timeout), timeout, httpcore.WriteTimeout)
        self._inner.write(buffer, timeout)

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: Any,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        bound = _current()
        if bound is not None:
            timeout = bound.left(bound.until(timeout), timeout, httpcore.ConnectTimeout)
        return _BoundedStream(self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _resolve(host: str, port: int, bound: _Bound, timeout: float | None) -> list[str]:
    """The addresses of ``host``, in the resolver's order, found within the fetch's bound."""
    if _is_address(host):
        return [host]
    found: list[list[str] | OSError] = []
    done = threading.Event()

    def lookup() -> None:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            found.append(list(dict.fromkeys(str(info[4][0]) for info in infos)))
        except OSError as exc:
            found.append(exc)
        done.set()

    threading.Thread(target=lookup, name=f"resolve {host}", daemon=True).start()
    until = bound.until(timeout)
    while not done.is_set():  # each slice, look at the stop and the clock again
        done.wait(min(bound.left(until, timeout, httpcore.ConnectTimeout), SLICE))
    (result,) = found
    if isinstance(result, OSError):
        raise httpcore.ConnectError(f"cannot resolve {host}: {result}")
    if not result:
        raise httpcore.ConnectError(f"cannot resolve {host}: no address")
    return result


class _BoundedBackend(httpcore.NetworkBackend):
    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        bound = _current()
        if bound is None:
            stream = self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
            return _BoundedStream(stream)
        refused: httpcore.ConnectError | None = None
        for address in _resolve(host, port, bound, timeout):
            left = bound.left(bound.until(timeout), timeout, httpcore.ConnectTimeout)
            try:
                stream = self._inner.connect_tcp(address, port, left, local_address, socket_options)
            except httpcore.ConnectError as exc:  # the next address, as create_connection does
                refused = exc
                continue
            return _BoundedStream(stream)
        assert refused is not None  # _resolve gave at least one address
        raise refused

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        return _BoundedStream(self._inner.connect_unix_socket(path, timeout, socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


# httpcore's errors as httpx's (what httpx's own transport does), so callers catch one family.
_TIMEOUTS = (httpcore.TimeoutException,)
_ERRORS = (
    httpcore.NetworkError,
    httpcore.ProtocolError,
    httpcore.UnsupportedProtocol,
    httpcore.ProxyError,
)


@contextmanager
def _as_httpx(request: httpx.Request) -> Iterator[None]:
    try:
        yield
    except _TIMEOUTS as exc:
        raise httpx.TimeoutException(str(exc), request=request) from exc
    except _ERRORS as exc:
        raise httpx.TransportError(str(exc), request=request) from exc


class _Body(httpx.SyncByteStream):
    def __init__(self, inner: Iterable[bytes], request: httpx.Request) -> None:
        self._inner = inner
        self._request = request

    def __iter__(self) -> Iterator[bytes]:
        with _as_httpx(self._request):
            yield from self._inner

    def close(self) -> None:
        close = getattr(self._inner, "close", None)
        if close is not None:
            with _as_httpx(self._request):
                close()


class BoundedTransport(httpx.BaseTransport):
    """httpx's default transport, direct connections only, over the bounded backend."""

    def __init__(self) -> None:
        limits = httpx.Limits()
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_BoundedBackend(),
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.SyncByteStream)
        core = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with _as_httpx(request):
            response = self._pool.handle_request(core)
        assert isinstance(response.stream, Iterable)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_Body(response.stream, request),
            extensions=response.extensions,
        )

    def close(self) -> None:
        self._pool.close()
