"""The FastAPI application of one city gateway.

Error answers have one shape: ``{"detail": {"code", "message" (zh-CN), "message_en",
"errors"?}}``. Request bodies are bounded before they are read.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from gateway import (
    address_limits,
    auditheads,
    cluster,
    error_texts,
    fast_issue,
    fast_verify,
    http_errors,
    notify,
    observe,
    openapi_doc,
    public_docs,
    ratelimit,
    trustexport,
    trustsync,
    use_reports,
)
from gateway.api_keys import LastUse
from gateway.background import Background, Stopped
from gateway.confirmations import Confirmer
from gateway.core import Gateway
from gateway.delegated_copies import DelegationRefused
from gateway.deps import SERVICES, Services
from gateway.errors import (
    Conflict,
    Forbidden,
    NotAcceptable,
    NotFound,
    TooManyRequests,
    Unauthorised,
    Unprocessable,
)
from gateway.live import StateHolder
from gateway.peers import HttpFetcher
from gateway.public_docs import CORS_HEADERS
from gateway.publish import publisher_for
from gateway.routes import (
    audit,
    console,
    credential_batch,
    credential_search,
    credentials,
    delegations,
    docs,
    federation,
    metrics,
    oid4vci,
    oid4vp,
    pages,
    public,
    references,
    types,
    verify,
    wallet,
    witness,
)
from gateway.statements import StatementCache
from gateway.trustsync import SyncHealth
from gateway.witness import KeyCache, witness_all
from trust.errors import DataError, EcertError, FetchError, FieldError
from trust.holder_proof import HolderProofRefused
from trust.oid4vci import InvalidToken, Oid4vciError
from trust.oid4vp import ResponseRefused

log = logging.getLogger("ecert.http")
_jitter = random.Random()  # noqa: S311 - spreads refreshes over time; not a secret

JSON_BODY_LIMIT = 256 * 1024
# The shutdown's bounds (issue 8: SIGTERM or SIGINT to exit within 5 s): requests in flight get
# REQUEST_GRACE seconds once the server is told to stop (cli/serve.py), then background work
# gets SHUTDOWN_GRACE seconds to end once the app stops (its lifespan, below).
REQUEST_GRACE = 1
SHUTDOWN_GRACE = 1.0
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class BodyLimit:
    """Refuse request bodies over a bound (413), whether or not Content-Length is sent."""

    def __init__(self, app: ASGIApp, *, json_limit: int, upload_limit: int) -> None:
        self.app = app
        self.json_limit = json_limit
        self.upload_limit = upload_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.upload_limit if scope["path"].endswith("/image") else self.json_limit
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _too_large(send, limit)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                raise http_errors.BodyTooLarge(limit)  # answered 413 by the app's handlers
            return message

        try:
            await self.app(scope, counted, send)
        except http_errors.BodyTooLarge:  # raised where no handler answers it
            await _too_large(send, limit)


async def _too_large(send: Send, limit: int) -> None:
    response = JSONResponse(
        status_code=413,
        content=_problem(
            "too_large", f"请求内容过大（上限 {limit} 字节）", f"request body over {limit} bytes"
        ),
    )
    await response({"type": "http"}, _no_receive, send)


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}


def _problem(code: str, zh: str, en: str, **extra: Any) -> dict[str, Any]:
    return {"detail": {"code": code, "message": zh, "message_en": en, **extra}}


_STATUS: list[tuple[type[EcertError], int, str]] = [
    (Unauthorised, 401, "unauthorised"),
    (HolderProofRefused, 401, "holder_unauthorised"),
    (Forbidden, 403, "forbidden"),
    (NotFound, 404, "not_found"),
    (Conflict, 409, "conflict"),
    (FetchError, 503, "unavailable"),
    (DataError, 400, "bad_request"),
]


def _install_errors(app: FastAPI) -> None:
    @app.exception_handler(FieldError)
    async def field_error(request: Request, exc: FieldError) -> JSONResponse:
        return JSONResponse(
            status_code=422,
            content=_problem(
                "invalid_input", "输入有误，请检查各字段", str(exc), errors=exc.errors
            ),
            headers=public_docs.cors_for(request),
        )

    @app.exception_handler(Unprocessable)
    async def unprocessable(request: Request, exc: Unprocessable) -> JSONResponse:
        return JSONResponse(
            status_code=422,
            content=_problem("unprocessable", exc.message_zh, exc.message_en),
            headers=public_docs.cors_for(request),
        )

    @app.exception_handler(Oid4vciError)
    async def oid4vci_error(request: Request, exc: Oid4vciError) -> JSONResponse:
        # RFC 6749 §5.2 / RFC 6750 §3.1 / OpenID4VCI §8.3.1.2: the OAuth error shape, with our
        # zh-CN and English messages beside it; readable by a browser wallet in another origin.
        headers = {"Cache-Control": "no-store", **public_docs.cors_for(request)}
        status = 400
        if isinstance(exc, InvalidToken):
            status = 401
            headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
        return JSONResponse(
            status_code=status,
            content={
                "error": exc.error,
                "error_description": exc.message_en,
                "message": exc.message_zh,
                "message_en": exc.message_en,
            },
            headers=headers,
        )

    @app.exception_handler(ResponseRefused)
    async def oid4vp_refused(request: Request, exc: ResponseRefused) -> JSONResponse:
        # OpenID4VP §8.2 response endpoint: an OAuth-style error, zh-CN and English beside it.
        return JSONResponse(
            status_code=400,
            content={
                "error": exc.error,
                "error_description": exc.message_en,
                "message": exc.message_zh,
                "message_en": exc.message_en,
            },
            headers={"Cache-Control": "no-store", **public_docs.cors_for(request)},
        )

    @app.exception_handler(DelegationRefused)
    async def delegation_refused(request: Request, exc: DelegationRefused) -> JSONResponse:
        # 403 with the reason code a counter would get for the delegate (委托用证).
        return JSONResponse(
            status_code=403,
            content=_problem(
                "delegation_refused", exc.message_zh, exc.message_en, reason=exc.reason.value
            ),
            headers=public_docs.cors_for(request),
        )

    @app.exception_handler(TooManyRequests)
    async def too_many(_: Request, exc: TooManyRequests) -> JSONResponse:
        # RFC 6585 §4: 429 with Retry-After.
        return JSONResponse(
            status_code=429,
            content=_problem("too_many_requests", exc.message_zh, exc.message_en),
            headers={"Retry-After": str(exc.retry_after)},
        )

    @app.exception_handler(NotAcceptable)
    async def not_acceptable(_: Request, exc: NotAcceptable) -> JSONResponse:
        # RFC 9110 §15.5.7: say which media types are served; readable cross-origin (CORS).
        return JSONResponse(
            status_code=406,
            content=_problem(
                "not_acceptable",
                exc.message_zh,
                exc.message_en,
                served=exc.served,
                accept=exc.accept,
            ),
            headers=CORS_HEADERS,
        )

    @app.exception_handler(EcertError)
    async def ecert_error(request: Request, exc: EcertError) -> JSONResponse:
        for kind, status, code in _STATUS:
            if isinstance(exc, kind):
                headers = public_docs.cors_for(request)
                if status == 401:
                    headers["WWW-Authenticate"] = "Bearer"
                zh, en = error_texts.split(exc)
                return JSONResponse(
                    status_code=status, content=_problem(code, zh, en), headers=headers
                )
        log.exception("unclassified error", exc_info=exc)
        return JSONResponse(status_code=500, content=_problem("internal", "内部错误", str(exc)))

    @app.exception_handler(RequestValidationError)
    async def request_invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {
                "field": ".".join(str(p) for p in e["loc"] if p != "body") or "body",
                "code": e["type"],
                "message": f"字段无效：{e['msg']}，实际为 {http_errors.found_in(e)}",
                "message_en": f"{e['msg']}, found {http_errors.found_in(e)}",
            }
            for e in exc.errors()
        ]
        en = "; ".join(f"{e['field']}: {e['message_en']}" for e in errors)
        return JSONResponse(
            status_code=422,
            content=_problem("invalid_input", "请求格式有误", en, errors=errors),
            headers=public_docs.cors_for(request),
        )


async def _refresher(live: StateHolder, interval: float, work: Background) -> None:
    """Pick up changes made by other processes sharing the database (and keep lists fresh),
    every ``interval`` seconds."""
    while True:
        await asyncio.sleep(interval)
        try:
            await work.run(live.refresh_if_changed)
        except Stopped:
            return
        except Exception:  # keep serving the last good state; say so in the log
            log.exception("state refresh failed; still serving the previous state")


async def _federation_sync(
    gw: Gateway,
    fetcher: HttpFetcher,
    health: SyncHealth,
    work: Background,
    leadership: cluster.Leadership,
) -> None:
    """Keep peers' trust data fresh: status lists by their ttl, the trust list every
    ``federation_refresh`` seconds (jittered; backing off while peers keep failing); and every
    ``use_report_retry`` seconds, the use reports whose retry is due (:mod:`gateway.use_reports`:
    each report's own back-off decides which).

    Only the process of the city that leads (:mod:`gateway.cluster`) does any of it; the others
    try to take the lead on every wake-up (every 2 s at most, ±20 %), so when the leader dies
    another takes over within one wake-up of PostgreSQL dropping the dead leader's session."""
    interval = gw.settings.federation_refresh
    tick = min(interval, 2.0)
    due = 0.0
    reports_due = asyncio.get_running_loop().time() + gw.settings.use_report_retry
    stop = work.stop_event
    peer_keys = KeyCache()  # witnessed peers' federation keys, reused between syncs
    while True:
        await asyncio.sleep(tick * (0.8 + 0.4 * _jitter.random()))
        try:
            health.leader = await work.run(leadership.lead)
            if not health.leader:
                due = 0.0  # a process that takes over the lead syncs at once
                continue
            if not await work.run(trustsync.federated, gw):
                continue
            loop_now = asyncio.get_running_loop().time()
            if loop_now >= due:
                await work.run(trustexport.prepare, gw)  # renew the root when due
                await work.run(auditheads.current, gw)  # a signed head if the log grew
                report = await work.run(
                    trustsync.sync_once,
                    gw,
                    fetcher,
                    lifetime=gw.settings.trust_list_lifetime,
                    refresh=max(1, int(interval)),
                    stop=stop,
                )
                health.record(report, gw.clock())
                if gw.settings.audit_witness:  # then witness peers' audit logs (gateway.witness)
                    await work.run(witness_all, gw, fetcher, stop=stop, cache=peer_keys)
                due = loop_now + trustsync.next_sync_in(
                    interval, health.consecutive_failures, _jitter.random()
                )
            await work.run(trustsync.refresh_status_lists, gw, fetcher, stop=stop)
            if loop_now >= reports_due:  # uses of other cities' credentials, undelivered
                await work.run(use_reports.deliver_due, gw, fetcher)
                reports_due = loop_now + gw.settings.use_report_retry
        except Stopped:
            return
        except Exception as exc:  # a peer's garbage must never stop the loop: log, keep last good
            health.error(str(exc), gw.clock())
            log.exception("federation sync failed; serving the last good trust data")


class GatewayApp(FastAPI):
    """The gateway's FastAPI app; ``front``, when set, takes every request first (the verify
    fast path, :mod:`gateway.fast_verify`) and hands the rest to :meth:`FastAPI.__call__`."""

    front: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.front is not None:
            await self.front(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


def create_app(
    gw: Gateway,
    *,
    fetcher: HttpFetcher | None = None,
    access_log_default: str = "off",
    verify_fast_path: bool = True,
    issue_fast_path: bool = True,
) -> FastAPI:
    """The app of ``gw``. ``access_log_default`` (``json`` or ``off``) applies when the
    settings leave ``ECERT_ACCESS_LOG`` unset (:mod:`gateway.observe`). ``verify_fast_path``
    off leaves every verify to the FastAPI routes, ``issue_fast_path`` off every issuance (tests
    compare the two)."""
    peers = fetcher or HttpFetcher()
    health = SyncHealth()
    access_log = observe.access_log_for(gw.settings, default=access_log_default)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        trustexport.prepare(gw)  # the keys and root reads need, before any read
        gw.reload()
        peers.stop.clear()  # this app's stop: its fetcher aborts on it, its syncs check it
        work = Background(peers.stop)
        tasks = [asyncio.create_task(_refresher(gw.live, gw.settings.refresh_interval, work))]
        # Other processes' state changes, told at once on PostgreSQL (gateway.notify).
        listener = None
        if gw.engine.dialect.name == "postgresql":
            listener = notify.StateListener(gw.settings.db_url, gw.live.refresh_if_changed)
            listener.start()
        leadership = cluster.Leadership(gw.settings.db_url)
        if gw.settings.federation_sync:
            tasks.append(asyncio.create_task(_federation_sync(gw, peers, health, work, leadership)))
        try:
            yield
        finally:
            # Bounded whatever the work is doing (issue 8, "a shutdown that ends"): the stop
            # aborts fetches in flight, the loops end at once, and a step still running in its
            # thread gets SHUTDOWN_GRACE seconds to finish its write before it is left behind.
            peers.stop.set()
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await work.stop(SHUTDOWN_GRACE)
            leadership.close()  # another process takes the lead on its next try
            health.leader = False
            if listener is not None:  # a daemon thread: left to end with the process past this
                listener.stop(timeout=notify.WAIT + SHUTDOWN_GRACE / 2)
            if access_log is not None:
                access_log.close()

    app = GatewayApp(
        title="ecert-gateway 电子证照网关",
        version="0.1.0",
        description=(
            "Issue, show and verify signed electronic certificates (电子证照) across cities. "
            "签发、亮证、核验跨城市电子证照。"
        ),
        lifespan=lifespan,
        docs_url=None,  # /docs and /redoc offline: gateway.routes.docs
        redoc_url=None,
    )
    services = Services(
        gateway=gw,
        publisher=publisher_for(gw),
        confirmer=Confirmer(
            clock=gw.clock, fetcher=peers, anchors=functools.partial(trustsync.trust_anchors, gw)
        ),
        fetcher=peers,
        sync_health=health,
        statements=StatementCache(),
        limiter=ratelimit.limiter_for(gw.settings),
        last_use=LastUse(),
    )
    setattr(app.state, SERVICES, services)
    _install_errors(app)
    http_errors.install(app)
    for module in (
        audit,
        credential_batch,  # POST /api/v1/credentials/batch
        credential_search,
        console,
        credentials,
        types,
        verify,
        public,
        federation,
        oid4vci,
        oid4vp,
        references,
        delegations,
        wallet,
        witness,
        metrics,
        pages,
        docs,
    ):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=pages.WEB / "static"), name="static")
    openapi_doc.install(app)
    # Per-address budgets, spent before a body is read (gateway.address_limits).
    app.add_middleware(
        address_limits.PerAddress, limiter=services.limiter, paths=address_limits.PER_ADDRESS
    )
    app.add_middleware(
        BodyLimit,
        json_limit=JSON_BODY_LIMIT,
        upload_limit=gw.settings.max_request_bytes,
    )
    app.add_middleware(http_errors.NoSniff)  # the 413 above says it too
    # Outermost: counts and logs every answer, the 413s and 429s above included.
    observed = observe.Observed()
    app.add_middleware(observe.Observe, observed=observed, access_log=access_log)
    _build_routes_now(app)
    inner: ASGIApp = functools.partial(FastAPI.__call__, app)
    shared: dict[str, Any] = {"gw": gw, "limiter": services.limiter, "observed": observed,
                              "access_log": access_log, "body_limit": JSON_BODY_LIMIT}  # fmt: skip
    if issue_fast_path:
        # In front of the app too: plain JSON issuances with an API key (gateway.fast_issue).
        inner = fast_issue.FastIssue(
            inner, last_use=services.last_use, handlers=app.exception_handlers, **shared
        )
    if verify_fast_path:
        # In front of the app and every layer above, FastAPI's own included (issue 13): plain
        # JSON verifies are answered there, the rest handed on (gateway.fast_verify). The app
        # still documents both routes.
        inner = fast_verify.FastVerify(inner, confirmer=services.confirmer, **shared)
    if issue_fast_path or verify_fast_path:
        app.front = inner
    return app


def _build_routes_now(app: FastAPI) -> None:
    """Build every route's dependencies while one thread creates the app, not on its first
    request. FastAPI builds an included router's routes lazily, under a lock of that app's
    own; the routers (and the parameter objects of their endpoints) are module-level, shared
    by every app in a process, and pydantic's schema generation on one shared object from
    two threads at once is not safe: tests that serve several gateways in one process saw
    requests fail with a pydantic warning (``UnsupportedFieldAttributeWarning``) that way."""
    pending: list[Any] = list(app.router.routes)
    while pending:  # a router included in an included router (/console's /api) is a branch too
        route = pending.pop()
        for build in ("effective_candidates", "effective_low_priority_routes"):
            method = getattr(route, build, None)
            if callable(method):
                built = method()
                if build == "effective_candidates":
                    pending.extend(c for c in built if hasattr(c, "effective_candidates"))
