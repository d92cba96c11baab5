"""The verify fast path (issue 13): ``POST /api/v1/verify`` and ``POST /api/v1/verify/batch``
answered by a bare ASGI layer in front of the FastAPI app, with the least work a request.

Through FastAPI a verify cost ~290 µs of CPU of which the signature check is ~45 µs: routing,
~10 middleware layers, pydantic and the dependencies took most of the rest. This layer does the
same steps once each, in the same order as the app's layers do them:

1. only a ``POST`` to one of the two paths with ``Content-Type: application/json`` and at most
   one ``Content-Length`` within the body bound is taken; anything else goes to the app untouched;
2. the per-address budget ``verify`` (``verify_batch`` for a batch, one a QR) is spent
   (:mod:`gateway.address_limits`), before a byte of the body is read: 429 with
   ``Retry-After``, as the app answers it, counted and logged as the app's are; a batch of
   more QRs than that budget ever admits at once is handed to the app, whose route answers 422;
3. the body is read up to its bound and parsed with orjson; a body that is exactly what
   ``VerifyBody`` / ``VerifyBatchBody`` accept is verified here (:func:`decide`), the answer is
   ``verification_json`` + ``verify_extras`` (a revoked or suspended answer reads its record in
   a worker thread, as the route does), with ``nosniff`` and ``X-Request-ID``, counted and logged
   under the route's template (:func:`gateway.observe.answered`). A VALID answer is written from
   a byte template of its issuer and type (:mod:`gateway.valid_answers`): the same bytes, for
   less work than building the answer's dictionaries and serialising them.

A request it does not answer itself after it has started reading (a body over the bound, bad
JSON, any input ``VerifyBody`` refuses, a remote key's compromise that needs the issuing city's
confirmation, a client gone mid-body) is handed to the app with the body read so far replayed
and the budget marked spent (:data:`gateway.address_limits.SPENT`): the app then answers it
exactly as it answers any request, 413 and 422 texts included, because it is the same code.

Deliberately not here: the checks' texts (the app's), the verification itself
(:mod:`verify.verifier`), the OpenAPI document (the FastAPI routes in
:mod:`gateway.routes.verify` stay and document both endpoints).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import orjson

from gateway import observe, verify_extras
from gateway.address_limits import SPENT, client_address, refuse
from gateway.confirmations import Confirmer
from gateway.core import Gateway
from gateway.errors import TooManyRequests
from gateway.fast_path import Answer, FastPath, Handed, read_body, replay
from gateway.freshness import verifier_bound
from gateway.http_errors import ASGIApp, Message, Receive, Scope, Send
from gateway.schemas import BATCH_MAX_QRS, QR_MAX_CHARS, verification_json
from gateway.valid_answers import ValidAnswers
from verify.reasons import Reason
from verify.result import VerificationResult
from verify.verifier import verify_many, verify_scanned

log = logging.getLogger("ecert.http")

SINGLE = "/api/v1/verify"
BATCH = "/api/v1/verify/batch"
RULE = "verify"  # the per-address budget of single verifies
BATCH_RULE = "verify_batch"  # the per-address budget of batches, one a QR
# Set when a batch's QRs past the first were spent here before the request was handed on (a
# remote key's compromise to confirm): the route does not spend them again.
BATCH_SPENT = "ecert.batch_budget_spent"
_KEY_NOT_VALID = Reason.KEY_NOT_VALID_AT_ISSUANCE
_DETAILED = frozenset(verify_extras.DETAILED)


def needs_confirmation(result: VerificationResult) -> bool:
    """True when ``result`` is a remote issuer's compromised key that the issuing city may yet
    confirm (:meth:`gateway.confirmations.Confirmer.ask`): the one answer that needs network."""
    if result.reason is not _KEY_NOT_VALID:  # first: almost every answer stops here
        return False
    remote = result.issuer is not None and result.issuer.expires_at is not None
    return remote and bool(result.token)


def decide(
    gw: Gateway, confirmer: Confirmer, scanned: str, *, confirmed: set[bytes] | None = None
) -> VerificationResult:
    """The verification of ``scanned`` from the live in-memory state: CPU only, no I/O."""
    state = gw.state
    now = gw.clock()
    confirmer.revalidate(state.trust, state.version, now)
    return verify_scanned(
        scanned, trust=state.trust, statuses=state.statuses, now=now,
        confirmed=confirmer.confirmed if confirmed is None else confirmed,
        max_status_age=verifier_bound(gw),
    )  # fmt: skip


def decide_all(gw: Gateway, confirmer: Confirmer, texts: Sequence[str]) -> list[VerificationResult]:
    """:func:`decide` for each of ``texts`` from one reading of the live state, the clock and
    the verifier's bound: a batch is answered at one instant, from one snapshot."""
    state = gw.state
    now = gw.clock()
    confirmer.revalidate(state.trust, state.version, now)
    return verify_many(
        texts, trust=state.trust, statuses=state.statuses, now=now,
        confirmed=confirmer.confirmed, max_status_age=verifier_bound(gw),
    )  # fmt: skip


async def answers(gw: Gateway, results: Sequence[VerificationResult]) -> list[dict[str, Any]]:
    """The HTTP answers of ``results``: ``verification_json`` and the gateway's extras, those
    that need a record read in one worker thread (never on the event loop)."""
    who = verify_extras.held_answered_by(gw)  # once for the lot: the same for every answer
    out: list[dict[str, Any]] = []
    missing = []
    for result in results:
        answer = verification_json(result)
        if who is None or result.reason in _DETAILED:
            missing.append(len(out))
        else:  # verify_extras.extras_without_io, inline: the verify hot path
            answer["answered_by"] = who
            answer["status_detail"] = None
        out.append(answer)
    if missing:
        read = await asyncio.to_thread(
            lambda: [verify_extras.extras(gw, results[i]) for i in missing]
        )
        for i, extra in zip(missing, read, strict=True):
            out[i].update(extra)
    return out


async def answer_bytes(
    gw: Gateway, results: Sequence[VerificationResult], valid: ValidAnswers
) -> list[bytes]:
    """The serialised HTTP answers of ``results``, each what ``orjson.dumps`` makes of
    :func:`answers`' entry: a VALID answer from ``valid``'s templates, any other built and
    serialised (a revoked or suspended one reads its record in a worker thread)."""
    who = verify_extras.held_answered_by(gw)
    out: list[bytes | None] = []
    rest: list[VerificationResult] = []
    for result in results:
        done = valid.render(result, who) if who is not None else None
        out.append(done)
        if done is None:
            rest.append(result)
    if not rest:
        return cast(list[bytes], out)  # every entry rendered above
    built = iter(await answers(gw, rest))
    return [done if done is not None else orjson.dumps(next(built)) for done in out]


def qr_of(body: object) -> str | None:
    """The text of a body ``VerifyBody`` accepts as it is, else None (the app answers it)."""
    if type(body) is not dict or len(body) != 1:
        return None
    qr = body.get("qr")
    return qr if type(qr) is str and 0 < len(qr) <= QR_MAX_CHARS else None


def qrs_of(body: object) -> list[str] | None:
    """The texts of a body ``VerifyBatchBody`` accepts as it is, else None."""
    if type(body) is not dict or len(body) != 1:
        return None
    qrs = body.get("qrs")
    if type(qrs) is not list or not 0 < len(qrs) <= BATCH_MAX_QRS:
        return None
    for qr in qrs:
        if type(qr) is not str or not 0 < len(qr) <= QR_MAX_CHARS:
            return None
    return qrs


@dataclass(frozen=True)
class _Route:
    """What :func:`gateway.observe.route_template` reads of a route: its path template."""

    path: str


_ROUTES = {SINGLE: _Route(SINGLE), BATCH: _Route(BATCH)}


class _Refused(Exception):
    """The per-address budget refused the request: its 429 is sent."""


class FastVerify(FastPath):
    """ASGI: the verify fast path in front of ``app`` (the gateway's FastAPI app)."""

    def __init__(self, app: ASGIApp, *, confirmer: Confirmer, **shared: Any) -> None:
        super().__init__(app, **shared)
        self.confirmer = confirmer
        self.valid = ValidAnswers()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if path != SINGLE and path != BATCH:
            await self.app(scope, receive, send)
            return
        content_type = declared = rid = None
        types = lengths = 0
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type, types = value, types + 1
            elif name == b"content-length":
                declared, lengths = value, lengths + 1
            elif name == observe.REQUEST_ID_HEADER and rid is None:
                rid = value
        if not self.plain_json(types, content_type, lengths, declared):
            await self.app(scope, receive, send)  # the app's own checks answer these
            return
        # From here on in this coroutine, not one of its own: the verify hot path.
        started = time.perf_counter()
        sent = Answer(send, rid)
        read: list[Message] = []
        try:
            content: bytes | None = None
            if self.limiter.enabled:
                try:
                    self.limiter.hit(RULE if path == SINGLE else BATCH_RULE, client_address(scope))
                except TooManyRequests as exc:
                    await refuse(scope, sent, exc)  # counted and logged below, as the app's
                    raise _Refused from None
            try:
                body = orjson.loads(await read_body(receive, read, self.body_limit))
            except orjson.JSONDecodeError:
                raise Handed from None
            if path == SINGLE:  # inline, not a coroutine of its own: the hot path
                result = self._one(scope, body)
                who = verify_extras.held_answered_by(self.gw)
                if who is not None:
                    content = self.valid.render(result, who)
                if content is None:
                    content = orjson.dumps((await answers(self.gw, [result]))[0])
            else:
                content = await self._many(scope, sent, body)
            await sent.json(200, content)
        except _Refused:
            pass
        except Handed:
            scope[SPENT] = True
            await self.app(scope, replay(read, receive), send)
            return
        except Exception:
            log.exception("verify fast path failed on %s", path)
            await sent.internal()
        observe.answered(
            self.observed, self.access_log, scope, sent.request_id, sent.status, started
        )

    def _one(self, scope: Scope, body: object) -> VerificationResult:
        """The verification of a single verify's body, counted (:class:`Handed` when the app
        answers it)."""
        qr = qr_of(body)
        if qr is None:
            raise Handed
        result = decide(self.gw, self.confirmer, qr)
        reason = result.reason
        if reason is _KEY_NOT_VALID and needs_confirmation(result):
            raise Handed  # the route asks the issuing city (rare; network, in a thread)
        scope["route"] = _ROUTES[SINGLE]
        self.observed.verify_answered(reason.value)
        return result

    async def _many(self, scope: Scope, sent: Answer, body: object) -> bytes:
        """The answer to a batch's body; :class:`_Refused` when its budget refused it (429
        sent), :class:`Handed` when the app answers it."""
        texts = qrs_of(body)
        if texts is None:
            raise Handed
        most = self.limiter.most(BATCH_RULE)
        if most is not None and len(texts) > most:
            raise Handed  # more than the budget ever admits: the route's 422
        if len(texts) > 1 and self.limiter.enabled:
            try:  # one a QR: the request's own was spent above
                self.limiter.hit(BATCH_RULE, client_address(scope), cost=len(texts) - 1)
            except TooManyRequests as exc:
                scope["route"] = _ROUTES[BATCH]  # the route's refusal, as the app's
                await refuse(scope, sent, exc)
                raise _Refused from None
            scope[BATCH_SPENT] = True
        results = decide_all(self.gw, self.confirmer, texts)
        reasons: dict[Reason, int] = {}
        for result in results:
            reason = result.reason
            reasons[reason] = reasons.get(reason, 0) + 1
        # Only a compromised key's answer may need one (needs_confirmation): looked at then.
        if _KEY_NOT_VALID in reasons and any(needs_confirmation(r) for r in results):
            raise Handed  # the route asks the issuing city (rare; network, in a thread)
        scope["route"] = _ROUTES[BATCH]
        for reason, answered in reasons.items():  # a lock and a sum a reason, not a QR
            self.observed.verify_answered(reason.value, answered)
        out = await answer_bytes(self.gw, results, self.valid)
        return b'{"results":[' + b",".join(out) + b"]}"
