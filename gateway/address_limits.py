"""Per-address rate limits (issue 11): an ASGI middleware that spends a client address's budget
for the paths that have one, before the app reads a byte of the request's body.

Deliberately not here: the budgets themselves (``gateway.ratelimit``) and the budgets of keys,
counters and peers, which need to know who is asking (``gateway.deps``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

import orjson

from gateway.errors import TooManyRequests
from gateway.ratelimit import Limiter

# The budgets the middleware spends per client address, by "METHOD path".
PER_ADDRESS: Mapping[str, str] = {
    "POST /api/v1/verify": "verify",  # the API and the /v page's scans
    # One for the request before its body is read; the route spends one more a QR past the first.
    "POST /api/v1/verify/batch": "verify_batch",
    "POST /api/v1/verify/image": "image",  # the /v page's photo uploads
    "POST /wallet/api/qr/image": "image",  # the web wallet's and /counter's photo uploads
    "POST /api/v1/credentials": "issue_address",
    "POST /federation/reference_resolve": "peer_address",
    "POST /federation/use_report": "peer_address",
    # Each of these may cost the gateway an outgoing fetch (the requester's entity configuration,
    # the witness's trust chain) before it can tell a forger: bounded per address first.
    "POST /federation/join": "peer_address",
    "POST /audit/cosignature": "peer_address",
}

# Set by a layer in front of this one that has already spent the request's budget (the verify
# fast path, :mod:`gateway.fast_verify`, when it hands a request on): not spent twice.
SPENT = "ecert.address_budget_spent"
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def client_address(scope: Mapping[str, Any]) -> str:
    """The peer address of the connection (behind a proxy, run uvicorn with its
    ``--forwarded-allow-ips`` so that this is the client's)."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


class PerAddress:
    """ASGI middleware: each ``(method, path)`` of ``paths`` spends its rule's budget for the
    client address before the app reads a byte of the body; a spent budget answers 429 with
    ``Retry-After`` in the house error shape (the §8.9 form under ``/federation/``)."""

    def __init__(self, app: ASGIApp, *, limiter: Limiter, paths: Mapping[str, str]) -> None:
        self.app = app
        self.limiter = limiter
        self.paths = paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.limiter.enabled and not scope.get(SPENT):
            rule = self.paths.get(f"{scope['method']} {scope['path']}")
            if rule is not None:
                try:
                    self.limiter.hit(rule, client_address(scope))
                except TooManyRequests as exc:
                    await refuse(scope, send, exc)
                    return
        await self.app(scope, receive, send)


async def refuse(scope: Scope, send: Send, exc: TooManyRequests) -> None:
    """The 429 answer of a spent per-address budget (also the verify fast path's)."""
    federation = str(scope["path"]).startswith("/federation/")
    if federation:
        body: dict[str, Any] = {
            "error": "temporarily_unavailable",
            "error_description": f"{exc.message_zh}：{exc.message_en}",
        }
    else:
        body = {
            "detail": {
                "code": "too_many_requests",
                "message": exc.message_zh,
                "message_en": exc.message_en,
            }
        }
    content = orjson.dumps(body)
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(content)).encode()),
        (b"retry-after", str(exc.retry_after).encode()),
    ]
    if federation:  # as the §8.9 answers (routes/federation)
        headers.append((b"access-control-allow-origin", b"*"))
    await send({"type": "http.response.start", "status": 429, "headers": headers})
    await send({"type": "http.response.body", "body": content})
