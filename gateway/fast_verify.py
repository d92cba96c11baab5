"""The verify fast path (issue 13): ``POST /api/v1/verify`` and ``POST /api/v1/verify/batch``
answered by a bare ASGI layer in front of the FastAPI app, with the least work a request.

Through FastAPI a verify cost ~290 µs of CPU of which the signature check is ~45 µs: routing,
~10 middleware layers, pydantic and the dependencies took most of the rest. This layer does the
same steps once each, in the same order as the app's layers do them:

1. only a ``POST`` to one of the two paths with ``Content-Type: application/json`` and at most
   one ``Content-Length`` within the body bound is taken; anything else goes to the app untouched;
2. the per-address budget ``verify`` (``verify_batch`` for a batch, one a QR) is spent
   (:mod:`gateway.address_limits`), before a byte of the body is read: 429 with
   ``Retry-After``, as the app answers it; a batch of more QRs than that budget ever admits at
   once is handed to the app, whose route answers 422;
3. the body is read up to its bound and parsed with orjson; a body that is exactly what
   ``VerifyBody`` / ``VerifyBatchBody`` accept is verified here (:func:`decide`), the answer is
   ``verification_json`` + ``verify_extras`` (a revoked or suspended answer reads its record in
   a worker thread, as the route does), with ``nosniff`` and ``X-Request-ID``, counted and logged
   under the route's template (:func:`gateway.observe.answered`). A VALID answer is written from
   a byte template of its issuer and type (:class:`ValidAnswers`): the same bytes, for less work
   than building the answer's dictionaries and serialising them.

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
import functools
import logging
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, cast

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
from trust.snapshot import IssuerRecord, TypeInfo
from verify.reasons import Reason
from verify.result import CredentialView, VerificationResult
from verify.result_json import iso
from verify.verifier import VALID_DETAIL, verify_many, verify_scanned

log = logging.getLogger("ecert.http")

SINGLE = "/api/v1/verify"
BATCH = "/api/v1/verify/batch"
RULE = "verify"  # the per-address budget of single verifies
BATCH_RULE = "verify_batch"  # the per-address budget of batches, one a QR
# Set when a batch's QRs past the first were spent here before the request was handed on (a
# remote key's compromise to confirm): the route does not spend them again.
BATCH_SPENT = "ecert.batch_budget_spent"
_KEY_NOT_VALID = Reason.KEY_NOT_VALID_AT_ISSUANCE
_VALID = Reason.VALID
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


# --- VALID answers from byte templates ----------------------------------------------------------

# The parts of a VALID answer that change from one certificate or moment to the next, in the
# order ``verification_json`` writes them; everything between them depends only on the issuer,
# the type and the answering city (``answered_by``), and is held as bytes.
_SLOTS = 10
_NULL = b"null"
_HELD_TEMPLATES = 1024  # templates kept (issuer × type × city identity); a city has far fewer
_HELD_LABELS = 256  # field names a template keeps the rendering of


@functools.lru_cache(maxsize=4096)
def _iso_json(ts: int) -> bytes:
    """``iso(ts)`` as JSON; cached like ``iso``: an answer's times repeat (issue 13)."""
    return orjson.dumps(iso(ts))


class _Template(NamedTuple):
    """One issuer's VALID answers of one type, as answered by one city: the constant pieces
    around the :data:`_SLOTS` changing values, and each field name's rendering up to its
    value (``{"name":…,"label":…,"value":``)."""

    issuer: IssuerRecord
    info: TypeInfo
    who: dict[str, str]
    pieces: tuple[bytes, ...]  # empty: no template (the answer is built as a dictionary)
    fields: dict[str, bytes]
    # The last answer's tail (see ValidAnswers.render): (its times, its bytes), in one slot.
    tail: list[tuple[tuple[int | None, ...], bytes]]


def _probe(info: TypeInfo, issuer: IssuerRecord, values: dict[str, Any]) -> dict[str, Any]:
    """``verification_json`` of a VALID answer of ``info`` from ``issuer`` with ``values``."""
    view = CredentialView(info, None, values, 0, 0, None)
    return verification_json(VerificationResult(_VALID, VALID_DETAIL, 0, view, issuer, 0, 0))


def _template(issuer: IssuerRecord, info: TypeInfo, who: dict[str, str]) -> _Template:
    """The template of ``verification_json`` + the extras of a VALID answer: that answer
    serialised once with a random marker in each changing place, then cut at the markers. No
    pieces when a marker is not found exactly once (a name in the trust data holding one: the
    answer is then built as a dictionary, as ever)."""
    marks = [f"\x00{secrets.token_hex(8)}\x00" for _ in range(_SLOTS)]
    answer = _probe(info, issuer, {})
    credential = answer["credential"] = dict(answer["credential"])  # a fresh dict: ours
    freshness = answer["freshness"] = dict(answer["freshness"])
    at = iter(marks)
    for name in ("identifier", "fields", "issued_at", "valid_from", "valid_until"):
        credential[name] = next(at)
    answer["checked_at"] = next(at)
    for name in ("trust", "status", "status_age_seconds", "status_max_age_seconds"):
        freshness[name] = next(at)
    answer["answered_by"] = who
    answer["status_detail"] = None
    rest = orjson.dumps(answer)
    pieces = []
    for mark in marks:
        cut = orjson.dumps(mark)
        if rest.count(cut) != 1:
            return _Template(issuer, info, who, (), {}, [((), b"")])
        piece, _, rest = rest.partition(cut)
        pieces.append(piece)
    pieces.append(rest)
    return _Template(issuer, info, who, tuple(pieces), {}, [((), b"")])


_NO_TEMPLATE = _Template(cast(IssuerRecord, None), cast(TypeInfo, None), {}, (), {}, [((), b"")])


def _field_head(template: _Template, name: str) -> bytes:
    """``{"name":…,"label":…,"value":`` of field ``name`` as ``verification_json`` writes it."""
    head = template.fields.get(name)
    if head is None:
        field = _probe(template.info, template.issuer, {name: None})["credential"]["fields"][0]
        head = orjson.dumps(field)[: -len(b"null}")]
        if len(template.fields) < _HELD_LABELS:
            template.fields[name] = head
    return head


def _fields_json(template: _Template, values: Any) -> bytes:
    """The ``fields`` of an answer: each field's held head, its value, ``}``."""
    heads = template.fields
    parts = []
    for name, value in values.items():
        head = heads.get(name)
        if head is None:
            head = _field_head(template, name)
        parts.append(head + orjson.dumps(value) + b"}")
    return b"[" + b",".join(parts) + b"]"


def _tail(
    p: tuple[bytes, ...], checked_at: int, trust: int | None, status_as_of: int,
    max_age: int | None,
) -> bytes:  # fmt: skip
    """A VALID answer from its ``checked_at`` on (the template's pieces 5 to 10)."""
    return b"".join((
        p[5], _iso_json(checked_at),
        p[6], _NULL if trust is None else _iso_json(trust),
        p[7], _iso_json(status_as_of),
        p[8], b"%d" % max(0, checked_at - status_as_of),
        p[9], _NULL if max_age is None else b"%d" % max_age,
        p[10],
    ))  # fmt: skip


class ValidAnswers:
    """The bytes of VALID answers (``orjson.dumps`` of ``verification_json`` + the extras,
    byte for byte) from templates held per issuer, type and answering city, matched by
    identity: a new trust snapshot or city record is a new object and gets a new template."""

    def __init__(self) -> None:
        self._held: dict[tuple[int, int, int], _Template] = {}
        self._last = _NO_TEMPLATE

    def render(self, result: VerificationResult, who: dict[str, str]) -> bytes | None:
        """The answer to ``result``, or None when no template applies (not VALID, …)."""
        cred = result.credential
        issuer = result.issuer
        status_as_of = result.status_as_of
        if (
            result.reason is not _VALID
            or cred is None
            or issuer is None
            or status_as_of is None
            or result.detail != VALID_DETAIL
        ):
            return None
        info = cred.type_info
        template = self._last  # most answers are of the issuer and type of the one before
        if not (template.issuer is issuer and template.info is info and template.who is who):
            key = (id(issuer), id(info), id(who))
            found = self._held.get(key)
            # Held beside the objects themselves: an id is not reused while its entry is held.
            if found is None or not (
                found.issuer is issuer and found.info is info and found.who is who
            ):
                if len(self._held) >= _HELD_TEMPLATES:
                    self._held.clear()
                found = self._held[key] = _template(issuer, info, who)
            template = self._last = found
        if not template.pieces:
            return None  # no template for these (see _template)
        checked_at = result.checked_at
        until = cred.valid_until
        p = template.pieces
        # From ``checked_at`` on, an answer depends only on when it was made and on the
        # snapshot's times: the same for a whole batch, and for every answer of a second.
        when = (checked_at, result.trust_as_of, status_as_of, result.status_max_age)
        held = template.tail[0]
        if held[0] == when:
            tail = held[1]
        else:
            tail = _tail(p, *when)
            template.tail[0] = (when, tail)  # replaced whole: a reader sees one or the other
        return b"".join((
            p[0], _NULL if cred.identifier is None else orjson.dumps(cred.identifier),
            p[1], _fields_json(template, cred.values),
            p[2], _iso_json(cred.issued_at),
            p[3], _iso_json(cred.valid_from),
            p[4], _NULL if until is None else _iso_json(until),
            tail,
        ))  # fmt: skip


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
        await self._answer(scope, receive, send, path, rid)

    async def _answer(
        self, scope: Scope, receive: Receive, send: Send, path: str, rid: bytes | None
    ) -> None:
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
