"""The issuance fast path (issue 13): ``POST /api/v1/credentials`` answered by a bare ASGI layer
in front of the FastAPI app, awaiting its group's thread without a thread of its own.

Through FastAPI an issuance cost ~1.7 ms of event-loop CPU before and after its transaction:
routing, ~10 middleware layers, pydantic, and a worker-thread hop for each of the key check and
the endpoint (three before the scope check became async). This layer does the same steps once
each, in the order the app's layers do them:

1. only a ``POST`` with ``Content-Type: application/json``, at most one ``Content-Length``
   within the body bound, one ``Authorization: Bearer …``, at most one ``Idempotency-Key`` the
   route accepts, and no ``Origin`` is taken; anything else goes to the app untouched;
2. the per-address budget ``issue_address`` is spent before a byte of the body is read
   (:mod:`gateway.address_limits`): 429 as the app answers it;
3. the body is read up to its bound, parsed with orjson and validated by ``IssueBody`` itself;
   a lock-out of the key or the address is looked up (:mod:`gateway.auth_guard`);
4. the key is checked: one that authenticated before in this process is recognised by its
   secret's hash (:class:`gateway.api_keys.KnownKeys`) and checked again inside the issuing
   transaction with the others of its group, one statement for all; any other is checked in a
   worker thread (:func:`gateway.api_keys.authenticate`). Then its scope, its budgets
   ``api_key`` and ``issue``, its last use noted (written in a worker thread when due), the
   credential issued (:func:`gateway.issue_groups.issue_answered_async`: grouped with others
   waiting, awaited on a future, no thread of its own) and its answer built and serialised
   through ``IssuedCredential``, as the route's response model does;
5. an error the issuance raises on purpose (a refused subject, a conflict, a spent budget) is
   answered by the app's own exception handler for it, so its status, body and headers are the
   app's; ``nosniff`` and ``X-Request-ID`` are added, the answer counted and logged under the
   route's template (:func:`gateway.observe.answered`).

Handed to the app, with the body read so far replayed and the per-address budget marked spent
(:data:`gateway.address_limits.SPENT`): a body over the bound, bad JSON, anything ``IssueBody``
refuses or deeply nested, a wallet offer, a key that does not authenticate or lacks the
``issue`` scope, a locked-out key or address, a client gone mid-body. The app then answers
each exactly as it answers any request (its 401, 403, 413, 422 and 429 texts), because it is the
same code; none of them has written anything.

Deliberately not here: the checks' texts (the app's), issuing (:mod:`gateway.issuance`), the
OpenAPI document (the FastAPI route in :mod:`gateway.routes.credentials` stays and documents
the endpoint).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
import orjson
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from gateway import api_keys, auth_guard, credential_views, issue_groups, observe
from gateway.address_limits import PER_ADDRESS, SPENT, client_address, refuse
from gateway.api_keys import LastUse
from gateway.errors import TooManyRequests
from gateway.fast_path import Answer, FastPath, Handed, read_body, replay
from gateway.http_errors import ASGIApp, Message, Receive, Scope, Send
from gateway.routes.credentials import issue_request
from gateway.schemas import IssueBody, IssuedCredential
from trust.errors import EcertError

log = logging.getLogger("ecert.http")

PATH = "/api/v1/credentials"
RULE = PER_ADDRESS[f"POST {PATH}"]
SCOPE = "issue"
MAX_IDEMPOTENCY_KEY = 200  # the route's Header(max_length=200)
# Brackets a body may hold and still be taken here: an issuance body has a few; a deeply
# nested one goes to the app, whose JSON parser decides what it answers (a house 400).
MAX_BRACKETS = 64
_REPLAYED = (b"idempotent-replayed", b"true")

Handlers = Mapping[Any, Callable[..., Any]]


@dataclass(frozen=True)
class _Route:
    """What :func:`gateway.observe.route_template` reads of a route: its path template."""

    path: str


_ROUTE = _Route(PATH)


@dataclass(frozen=True)
class _Issued:
    created: bool
    content: bytes


def issue_body(data: bytes) -> IssueBody | None:
    """The body ``IssueBody`` accepts as it is (no wallet offer), else None (the app answers)."""
    if data.count(b"[") + data.count(b"{") > MAX_BRACKETS:
        return None
    try:
        parsed = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    if type(parsed) is not dict:
        return None
    try:
        body = IssueBody.model_validate(parsed)
    except ValidationError:
        return None
    return None if body.wallet_offer else body


def render(answer: dict[str, Any]) -> bytes:
    """The route's answer bytes: through its response model, then as ``JSONResponse`` renders."""
    content = IssuedCredential.model_validate(answer).model_dump(mode="json")
    return json.dumps(
        content, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
    ).encode("utf-8")


class FastIssue(FastPath):
    """ASGI: the issuance fast path in front of ``app`` (the module's docstring)."""

    def __init__(
        self, app: ASGIApp, *, last_use: LastUse, handlers: Handlers, **shared: Any
    ) -> None:
        super().__init__(app, **shared)
        self.last_use = last_use
        self.handlers = handlers
        self.known = api_keys.KnownKeys()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != PATH:
            await self.app(scope, receive, send)
            return
        content_type = declared = authorization = key = rid = None
        types = lengths = auths = keys = 0
        origin = False
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type, types = value, types + 1
            elif name == b"content-length":
                declared, lengths = value, lengths + 1
            elif name == b"authorization":
                authorization, auths = value, auths + 1
            elif name == b"idempotency-key":
                key, keys = value, keys + 1
            elif name == b"origin":
                origin = True
            elif name == observe.REQUEST_ID_HEADER and rid is None:
                rid = value
        if (
            not self.plain_json(types, content_type, lengths, declared)
            or auths != 1
            or authorization is None
            or not authorization.startswith(b"Bearer ")
            or keys > 1
            or origin
        ):
            await self.app(scope, receive, send)  # the app's own checks answer these
            return
        idempotency_key = None if key is None else key.decode("latin-1")
        if idempotency_key is not None and len(idempotency_key) > MAX_IDEMPOTENCY_KEY:
            await self.app(scope, receive, send)  # the route's header check: 422
            return
        presented = authorization.decode("latin-1").removeprefix("Bearer ").strip()
        await self._answer(scope, receive, send, presented, idempotency_key, rid)

    async def _answer(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        presented: str,
        idempotency_key: str | None,
        rid: bytes | None,
    ) -> None:
        started = time.perf_counter()
        sent = Answer(send, rid)
        read: list[Message] = []
        try:
            address = client_address(scope)
            if self.limiter.enabled:
                try:
                    self.limiter.hit(RULE, address)
                except TooManyRequests as exc:
                    await refuse(scope, sent, exc)
                    return
            body = issue_body(await read_body(receive, read, self.body_limit))
            if body is None:
                raise Handed
            try:
                auth_guard.refuse_if_locked(
                    self.limiter, kind="apikey", key_id=api_keys.key_id_of(presented),
                    address=address,
                )  # fmt: skip
            except TooManyRequests:
                raise Handed from None  # the app counts and answers it
            scope["route"] = _ROUTE
            try:
                issued = await self._issue(presented, body, idempotency_key)
            except EcertError as exc:
                await self._refused(scope, receive, sent, exc)
            else:
                if issued.created:
                    await sent.json(201, issued.content)
                else:
                    await sent.json(200, issued.content, _REPLAYED)
        except Handed:
            scope.pop("route", None)
            scope[SPENT] = True
            await self.app(scope, replay(read, receive), send)
            return
        except Exception:
            log.exception("issuance fast path failed")
            await sent.internal()
        observe.answered(
            self.observed, self.access_log, scope, sent.request_id, sent.status, started
        )

    async def _issue(self, presented: str, body: IssueBody, idempotency_key: str | None) -> _Issued:
        """Step 4 of the module's docstring; ``Handed`` when the key does not authenticate or
        lacks the scope (nothing spent, nothing written). Worker threads (anyio's, as the app's
        sync routes use) only for a key not seen before and a last use due to be written."""
        gw = self.gw
        principal = self.known.recognise(presented)
        recheck = None
        if principal is None:
            principal = await anyio.to_thread.run_sync(self._authenticate, presented)
        else:  # checked again in the issuing transaction, with the others of its group
            recheck = api_keys.Recheck(presented, SCOPE, principal.agency_id)
        if SCOPE not in principal.scopes:
            raise Handed
        self.limiter.hit("api_key", principal.key_id)
        now = gw.clock()
        if self.last_use.due(principal, now):
            await anyio.to_thread.run_sync(self.last_use.write, gw, principal, now)
        self.limiter.hit(SCOPE, principal.key_id)
        try:
            row, created, summary = await issue_groups.issue_answered_async(
                gw,
                agency_id=principal.agency_id,
                request=issue_request(body),
                idempotency_key=idempotency_key,
                recheck=recheck,
            )
        except api_keys.KeyChanged:
            self.known.forget(presented)
            raise Handed from None  # the app's check says why (its 401 or 403)
        return _Issued(created, render(credential_views.issued(gw, row, summary=summary)))

    def _authenticate(self, presented: str) -> api_keys.Principal:
        """The full key check (in a worker thread), learnt when it passes; ``Handed`` if not."""
        gw = self.gw
        try:
            with gw.engine.connect() as connection:
                principal = api_keys.authenticate(connection, presented, now=gw.clock())
        except api_keys.KeyRefused:
            raise Handed from None
        self.known.learn(presented, principal)
        return principal

    async def _refused(self, scope: Scope, receive: Receive, send: Send, exc: EcertError) -> None:
        """``exc`` answered by the app's own exception handler for it."""
        for kind in type(exc).__mro__:
            handler = self.handlers.get(kind)
            if handler is not None:
                response: Response = await handler(Request(scope, receive), exc)
                await response(scope, receive, send)
                return
        raise exc  # pragma: no cover - the app handles every EcertError
