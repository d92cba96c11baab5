"""What one app saw: requests by route template and status, their durations, verify answers by
reason (Prometheus), and one JSON line a request (the access log).

:class:`Observe` is the app's outermost ASGI middleware. For each HTTP request it takes the
request id (``X-Request-ID`` when it is sane, else a new one) and echoes it in the answer; when
the answer has been sent it counts the request under its *route template*
(``/api/v1/credentials/{credential_id}``, never the raw path: ids would grow the label set
without bound, and raw paths carry reference codes), and, when the access log is on, writes
one line: time, request id, method, route, status, duration in ms and the client address
hashed with a key made at start (lines of one process can be told apart, no address can be
read back). Nothing else of the request is written: no query string, header, body, token,
key, QR text or personal data.

Cost (issue 13 measures verify throughput): per request a clock read, a dict lookup for the
route's metric children, two increments and one ``os.write`` of ~200 bytes when the log is on.

Counters live in this app's own registry (:class:`Observed`), read by ``GET /metrics`` with the
gateway's scrape-time metrics (:mod:`gateway.metrics`): one process's requests, as Prometheus
expects of a process it scrapes. Deliberately not here: metrics read from the database or the
live state at scrape time (:mod:`gateway.metrics`), and the server's own logging (uvicorn's
access log stays off).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
import sys
import time
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from prometheus_client import CollectorRegistry, Counter, Histogram

from gateway.address_limits import client_address
from gateway.settings import Settings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

SCOPE_KEY = "ecert.observed"  # the request's Observed, for routes that count (verify reasons)
REQUEST_ID_HEADER = b"x-request-id"
# A caller's id is taken as is only when it is short and plain (a proxy's UUID, a trace id):
# anything else could smuggle text into log lines or answers.
_SANE_ID = re.compile(rb"[A-Za-z0-9._:-]{8,64}")
UNMATCHED = "unmatched"  # the route label of a request no route took (404s of every path)
# Seconds; verify answers in about a millisecond, an image decode or a federation sync in tenths.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
MAX_ROUTES = 512  # bound on (method, route) label pairs: the routes an app has, with room
MAX_REASONS = 64  # bound on verify reason labels (the fixed list has fewer)
# A client may send any token as its method: others are counted as OTHER (bounded labels).
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class Observed:
    """One app's request counters, in a registry of its own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.requests = Counter(
            "ecert_http_requests",
            "HTTP requests answered, by method, route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "ecert_http_request_duration_seconds",
            "Time from a request's start to its answer's last byte, by method and route template",
            ["method", "route"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.verify_answers = Counter(
            "ecert_verify_answers",
            "Verification answers by reason code (VALID, EXPIRED, REVOKED …)",
            ["reason"],
            registry=self.registry,
        )
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._reasons: dict[str, Any] = {}  # reason -> its counter child

    def record(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            if len(self._children) >= MAX_ROUTES:  # never: every label comes from a template
                key = (method, UNMATCHED, status)
                route = UNMATCHED
            children = self._children.setdefault(
                key,
                (
                    self.requests.labels(method, route, str(status)),
                    self.duration.labels(method, route),
                ),
            )
        children[0].inc()
        children[1].observe(seconds)

    def verify_answered(self, reason: str, answers: int = 1) -> None:
        """Count ``answers`` verification answers of ``reason`` (a batch's, in one step)."""
        child = self._reasons.get(reason)
        if child is None:
            if len(self._reasons) >= MAX_REASONS:
                return
            child = self._reasons.setdefault(reason, self.verify_answers.labels(reason))
        child.inc(answers)


def verify_answered(scope: Scope, reason: str) -> None:
    """Count one verification answer of ``reason`` for the app serving ``scope``."""
    observed = scope.get(SCOPE_KEY)
    if isinstance(observed, Observed):
        observed.verify_answered(reason)


def of(scope: Scope) -> Observed | None:
    """The Observed of the app serving ``scope`` (set by :class:`Observe`)."""
    observed = scope.get(SCOPE_KEY)
    return observed if isinstance(observed, Observed) else None


def route_template(scope: Scope) -> str:
    """The template of the route that took the request (``/statuslists/{list_id}``), the mount
    path of a mounted app (``/static``), else :data:`UNMATCHED`."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else UNMATCHED


class AccessLog:
    """Writes one JSON line a request to a file descriptor (stderr, or a file opened for
    appending: each line is one ``write``, so processes sharing the file do not interleave)."""

    def __init__(self, fd: int, *, owned: bool = False) -> None:
        self.fd = fd
        self.owned = owned
        self._key = secrets.token_bytes(16)  # this process's: hashes cannot be joined later

    @classmethod
    def to_file(cls, path: Path) -> AccessLog:
        return cls(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640), owned=True)

    @classmethod
    def to_stderr(cls) -> AccessLog:
        return cls(sys.stderr.fileno())

    def client(self, address: str) -> str:
        return hashlib.blake2b(address.encode(), key=self._key, digest_size=8).hexdigest()

    def write(self, entry: dict[str, Any]) -> None:
        with contextlib.suppress(OSError):  # a full disk or closed stderr must not fail a request
            os.write(self.fd, orjson.dumps(entry) + b"\n")

    def close(self) -> None:
        if self.owned:
            os.close(self.fd)


def access_log_for(settings: Settings, *, default: str) -> AccessLog | None:
    """The access log ``settings`` ask for (``ECERT_ACCESS_LOG``, else ``default``): ``None``
    when off; else one to ``ECERT_ACCESS_LOG_FILE`` (appended) or to stderr."""
    if (settings.access_log or default) != "json":
        return None
    if settings.access_log_file is not None:
        return AccessLog.to_file(settings.access_log_file)
    return AccessLog.to_stderr()


def sane_id(value: bytes) -> bool:
    """True when a caller's request id may be used as it is."""
    return _SANE_ID.fullmatch(value) is not None


def new_id() -> bytes:
    """A new random request id (16 hex digits)."""
    return secrets.token_hex(8).encode()


def request_id(scope: Scope) -> bytes:
    """The caller's ``X-Request-ID`` when it is sane, else a new random one (16 hex digits)."""
    for name, value in scope.get("headers") or ():
        if name == REQUEST_ID_HEADER:
            return value if sane_id(value) else new_id()
    return new_id()


class Observe:
    """ASGI middleware: request id in and out, counters, and the access log when given one."""

    def __init__(self, app: ASGIApp, *, observed: Observed, access_log: AccessLog | None) -> None:
        self.app = app
        self.observed = observed
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        rid = request_id(scope)
        scope[SCOPE_KEY] = self.observed
        status = 500  # what the server answers if the app raises before it starts answering

        async def with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message["headers"] = [*(message.get("headers") or ()), (REQUEST_ID_HEADER, rid)]
            await send(message)

        try:
            await self.app(scope, receive, with_id)
        finally:
            answered(self.observed, self.access_log, scope, rid, status, started)


def answered(
    observed: Observed,
    access_log: AccessLog | None,
    scope: Scope,
    rid: bytes,
    status: int,
    started: float,
) -> None:
    """Count one answered request under its route template and write its access-log line (by
    :class:`Observe`, and by the verify fast path, :mod:`gateway.fast_verify`, for the requests it
    answers itself)."""
    seconds = time.perf_counter() - started
    method = scope["method"] if scope["method"] in METHODS else "OTHER"
    route = route_template(scope)
    observed.record(method, route, status, seconds)
    if access_log is not None:
        access_log.write(
            {
                "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
                "request_id": rid.decode(),
                "method": method,
                "route": route,
                "status": status,
                "duration_ms": round(seconds * 1000, 3),
                "client": access_log.client(client_address(scope)),
            }
        )
