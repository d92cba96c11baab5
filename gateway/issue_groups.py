"""Issuances from many threads of one process, committed together (issue 13).

Each issuance alone is one transaction of ~9 statements under the agency's row lock: 8 clients
issuing at once queued on that lock, and a request cost ~3.5 ms of CPU, most of it statements
(issue 13's profile: 84 issuances a second per core on PostgreSQL, p99 154 ms). Here the
requests waiting at one moment for one agency share one transaction: the agency, its key and
the public URL read (and locked) once, one look-up of their idempotency keys, one of their
holders, one serial range, one slot allocation, one multi-row insert, one audit append, one
commit. A request alone is a group of one.

One thread runs the groups (``ecert-issue-groups``), started by the first request and ending
once nothing has waited for :data:`IDLE` seconds (so every wait is bounded and a closed gateway
leaves no thread behind). A request either waits in its own thread (:meth:`IssueGroups.issue`,
the routes and the CLI) or, from the event loop, on a future (:meth:`IssueGroups.issue_async`,
the fast path): the answers of a group are handed to each loop in one call. Before, every
request waited in a worker thread of its own and the first one led: a request cost two thread
hand-offs more, and the worker thread's own hop from the loop ~0.1 ms of the ~1 ms of CPU a
request took (issue 13's profile). A request waits at most :data:`QUEUE_WAIT` seconds to be
taken into a group; once taken, its group's transaction decides it.

The group thread waits up to :data:`LINGER` (3 ms) for as many requests as were waiting or being
issued at once since the last group was taken: clients answered ask again at once, and taking
only what had arrived made groups of ~3 from 8 clients (a group's statements cost ~2 ms of CPU
whatever its size, a credential ~0.25 ms). One client alone never waits: there was one about.

A request taken on an API key this process had checked before carries it (``recheck``): the
key is checked again in the group's transaction, one statement for the group, and a request
whose key was revoked, expired or replaced meanwhile is refused alone
(:class:`gateway.api_keys.KeyChanged`), nothing written for it.

What one request is answered is what it would be answered alone, because anything out of the
ordinary runs it alone (:func:`gateway.issuance.issue_alone`): a group that fails as a whole (a
conflict with another process after its retries, an answer that cannot be rendered, any
unexpected error) is rolled back and each of its requests then issued alone, in order. Within a
group: a bad request (its type, its subject, its agency's authorisation, a reused idempotency
key) is refused without touching the others; a request for a holder an earlier request of the
same group issues to is left for the next group, where the holder rule refuses it as it refuses
it alone; so is a second request with the same idempotency key (the next group replays it).

Deliberately not here: validation, numbering, signing and the rows written
(:mod:`gateway.issuance`), the holder rule's texts (:mod:`gateway.holder_rule`).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import weakref
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway import api_keys, holder_rule, issuance
from gateway.core import Gateway
from gateway.errors import Conflict
from gateway.issuance import IssueRequest, Prepared, credential_summary
from gateway.models import CredentialRow, IdempotencyRow
from gateway.state import StateChange
from trust.errors import FieldError

MAX_GROUP = 64  # requests in one transaction
LINGER = 0.003  # seconds the group thread waits for as many requests as were about lately
QUEUE_WAIT = 30.0  # seconds a request waits to be taken into a group
IDLE = 1.0  # seconds the group thread waits for a request before it ends
_POLL = 1.0  # seconds between looks while waiting (every wait is bounded)

Answer = tuple[CredentialRow, bool, dict[str, Any]]


@dataclass(eq=False)
class _Job:
    agency_id: str
    request: IssueRequest
    idempotency_key: str | None
    recheck: api_keys.Recheck | None = None
    # A request waiting in a thread is woken by ``wake``; one waiting on an event loop by its
    # ``future`` (set on ``loop``).
    wake: threading.Event = field(default_factory=threading.Event)
    loop: asyncio.AbstractEventLoop | None = None
    future: asyncio.Future[None] | None = None
    taken: bool = False  # in a group being run
    finished: bool = False
    answer: Answer | None = None
    error: BaseException | None = None

    def finish(self, answer: Answer | None = None, error: BaseException | None = None) -> None:
        self.answer, self.error, self.finished = answer, error, True


class _Again:
    """A request left for the next group (its holder or its key is another's in this one)."""


_AGAIN = _Again()
Outcome = Answer | BaseException | _Again


class IssueGroups:
    """One process's issuances, grouped (the module's docstring): :meth:`issue` and
    :meth:`issue_async`."""

    def __init__(self, gw: Gateway) -> None:
        self._gw = gw
        self._lock = threading.Lock()
        self._pending: deque[_Job] = deque()
        self._arrived = threading.Condition(self._lock)
        self._alive = 0  # requests waiting or in a group now
        self._peak = 0  # the most at once since the last group was taken: a group awaits them
        self._lingering = False  # the group thread is waiting for them
        self._idle = False  # the group thread is waiting for any request
        self._runner: threading.Thread | None = None
        self.groups = 0  # groups run (read by tests)
        self.largest = 0  # the most requests one group held

    def issue(
        self,
        *,
        agency_id: str,
        request: IssueRequest,
        idempotency_key: str | None,
        recheck: api_keys.Recheck | None = None,
    ) -> Answer:
        """Issue one credential as :func:`gateway.issuance.issue_alone` does, in a group,
        waiting in this thread; ``recheck``: the request's API key, checked again in the
        group's transaction."""
        job = _Job(agency_id, request, idempotency_key, recheck)
        self._enqueue(job)
        waited = 0.0
        while not job.finished:
            if job.wake.wait(_POLL):
                continue
            waited += _POLL
            if waited >= QUEUE_WAIT:
                self._give_up(job)
        return _outcome(job)

    async def issue_async(
        self,
        *,
        agency_id: str,
        request: IssueRequest,
        idempotency_key: str | None,
        recheck: api_keys.Recheck | None = None,
    ) -> Answer:
        """:meth:`issue` for a caller on an event loop: it waits on a future, no thread."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        job = _Job(agency_id, request, idempotency_key, recheck, loop=loop, future=future)
        self._enqueue(job)
        # A timer, not asyncio.wait: it costs the loop a heap entry, not a waiter a request.
        timer = loop.call_later(QUEUE_WAIT, self._expire, job)
        try:
            await future
        finally:
            timer.cancel()
        return _outcome(job)

    def _expire(self, job: _Job) -> None:
        """On the event loop, :data:`QUEUE_WAIT` seconds after ``job`` was queued: refused if
        it is still queued (its future says so), else left to its group."""
        assert job.future is not None
        try:
            self._give_up(job)
        except Conflict as exc:
            if not job.future.done():
                job.future.set_exception(exc)

    def _enqueue(self, job: _Job) -> None:
        with self._lock:
            self._pending.append(job)
            self._alive += 1
            self._peak = max(self._peak, self._alive)
            if self._runner is None:
                self._runner = threading.Thread(
                    target=self._serve, name="ecert-issue-groups", daemon=True
                )
                self._runner.start()
            elif self._idle or (self._lingering and self._all_there()):
                self._arrived.notify()  # only then: a wake-up costs the waiter a GIL hand-off

    def _give_up(self, job: _Job) -> None:
        """Refuse ``job``, still queued after :data:`QUEUE_WAIT` seconds (nothing issued for
        it); nothing when it was taken into a group meanwhile."""
        with self._lock:
            if job.taken or job.finished:
                return
            self._pending.remove(job)
            self._alive -= 1
        raise Conflict(
            f"签发请求排队超过 {QUEUE_WAIT:.0f} 秒，未签发；请重试 · expected the issuance to "
            f"start within {QUEUE_WAIT:.0f} s, found it still queued; nothing was issued, try "
            "again"
        )

    def _serve(self) -> None:
        """The group thread: groups of what waits, until nothing has for :data:`IDLE` s."""
        try:
            while True:
                with self._lock:
                    if not self._pending:
                        self._idle = True
                        try:
                            self._arrived.wait_for(lambda: bool(self._pending), IDLE)
                        finally:
                            self._idle = False
                        if not self._pending:
                            self._runner = None
                            return
                    # As many as were about at once since the last group: most of them ask
                    # again as soon as they are answered. Waited for at most LINGER.
                    if not self._all_there():
                        self._lingering = True
                        try:
                            self._arrived.wait_for(self._all_there, LINGER)
                        finally:
                            self._lingering = False
                    group = self._take()
                    self._peak = self._alive
                self._run(group)
        finally:
            with self._lock:
                if self._runner is threading.current_thread():  # it stopped on an error
                    self._runner = None
                    if self._pending:  # another thread takes over what still waits
                        self._runner = threading.Thread(
                            target=self._serve, name="ecert-issue-groups", daemon=True
                        )
                        self._runner.start()

    def _all_there(self) -> bool:
        return len(self._pending) >= min(MAX_GROUP, self._peak)

    def _take(self) -> list[_Job]:
        """The oldest waiting request and those after it for the same agency (under the lock)."""
        first = self._pending[0]
        group: list[_Job] = []
        keys: set[str] = set()
        left: deque[_Job] = deque()
        for job in self._pending:
            key = job.idempotency_key
            if len(group) < MAX_GROUP and job.agency_id == first.agency_id and key not in keys:
                job.taken = True
                group.append(job)
                if key is not None:
                    keys.add(key)
            else:
                left.append(job)
        self._pending = left
        self.groups += 1
        self.largest = max(self.largest, len(group))
        return group

    def _run(self, group: list[_Job]) -> None:
        """Decide every request of ``group``: answered, refused, or back in the queue."""
        outcomes: Sequence[Outcome] | None = None
        change: StateChange | None = None
        try:
            for attempt in range(issuance._RETRIES):
                try:
                    outcomes, change = _issue_together(self._gw, group)
                    break
                except IntegrityError:
                    # A slot, serial or key taken by another process at the same moment.
                    self._gw.slots.forget()
                    if attempt == issuance._RETRIES - 1:
                        raise
        except Exception:  # each alone: its own answer or error, as it would be alone
            outcomes = [_alone(self._gw, job) for job in group]
        except BaseException as exc:  # interrupted: nothing of the group is answered
            for job in group:
                job.finish(error=exc)
            self._answered(group)
            raise
        assert outcomes is not None
        try:
            self._gw.live.changed(change)  # committed: never issued again, whatever happens
        except Exception as exc:  # as alone: the caller hears of it
            outcomes = [o if isinstance(o, BaseException | _Again) else exc for o in outcomes]
        again = []
        for job, outcome in zip(group, outcomes, strict=True):
            if isinstance(outcome, _Again):
                job.taken = False
                again.append(job)
            elif isinstance(outcome, BaseException):
                job.finish(error=outcome)
            else:
                job.finish(answer=outcome)
        with self._lock:
            self._pending.extendleft(reversed(again))
        self._answered(group)

    def _answered(self, group: list[_Job]) -> None:
        """Wake the finished requests of ``group``: each thread, and each event loop once."""
        loops: dict[asyncio.AbstractEventLoop, list[_Job]] = {}
        finished = 0
        for job in group:
            if not job.finished:
                continue
            finished += 1
            if job.loop is None:
                job.wake.set()
            else:
                loops.setdefault(job.loop, []).append(job)
        with self._lock:
            self._alive -= finished
        for loop, jobs in loops.items():
            with contextlib.suppress(RuntimeError):  # a closed loop: no one waits for these
                loop.call_soon_threadsafe(_settle, jobs)


def _settle(jobs: list[_Job]) -> None:
    """On the event loop: the futures of finished requests."""
    for job in jobs:
        if job.future is not None and not job.future.done():
            job.future.set_result(None)


def _outcome(job: _Job) -> Answer:
    if job.error is not None:
        raise job.error
    assert job.answer is not None
    return job.answer


def _alone(gw: Gateway, job: _Job) -> Answer | BaseException:
    try:
        return issuance.issue_alone(
            gw,
            agency_id=job.agency_id,
            request=job.request,
            idempotency_key=job.idempotency_key,
            recheck=job.recheck,
        )
    except Exception as exc:
        return exc


def _issue_together(gw: Gateway, group: Sequence[_Job]) -> tuple[list[Outcome], StateChange | None]:
    """One transaction for ``group`` (one agency, distinct idempotency keys): each request's
    outcome, and the change to apply now it has committed. Raises, having written nothing,
    when the group as a whole fails."""
    outcomes: list[Outcome | None] = [None] * len(group)
    ctypes = {}
    for n, job in enumerate(group):
        try:
            ctypes[n] = gw.types.get(job.request.type)
        except Exception as exc:  # an unknown type: refused as it is alone
            outcomes[n] = exc
    lock = any(not ctype.several_live_per_holder for ctype in ctypes.values())
    now = gw.clock()
    with issuance.one_writer(gw), gw.transaction() as session:
        _keys_rechecked(session, group, outcomes, now)
        signer = issuance.load_signer(session, group[0].agency_id, lock=lock)
        keyed = {job.idempotency_key: n for n, job in enumerate(group) if job.idempotency_key}
        if keyed:
            seen = session.scalars(
                select(IdempotencyRow).where(
                    IdempotencyRow.agency_id == signer.agency.id,
                    IdempotencyRow.key.in_(list(keyed)),
                )
            ).all()
            for row in seen:
                n = keyed[row.key]
                if outcomes[n] is not None:
                    continue
                if row.request_hash != group[n].request.fingerprint():
                    outcomes[n] = Conflict("this Idempotency-Key was used for a different request")
                    continue
                replayed = session.get(CredentialRow, row.credential_id)
                assert replayed is not None  # foreign key
                outcomes[n] = (replayed, False, credential_summary(gw, replayed))
        ready: dict[int, Prepared] = {}
        for n, job in enumerate(group):
            if outcomes[n] is None:
                try:
                    ready[n] = issuance.prepare(gw, signer.agency, job.request, now)
                except Exception as exc:  # its type, subject or authorisation: refused alone
                    outcomes[n] = exc
        _one_per_holder(session, ready, outcomes, now)
        todo = [n for n in ready if outcomes[n] is None]
        change = None
        if todo:
            written, change = issuance._write(gw, session, signer, [ready[n] for n in todo], now)
            keys = [
                {"agency_id": signer.agency.id, "key": group[n].idempotency_key,
                 "request_hash": group[n].request.fingerprint(), "credential_id": row["id"],
                 "created_at": now}
                for n, row in zip(todo, written, strict=True)
                if group[n].idempotency_key is not None
            ]  # fmt: skip
            if keys:
                session.connection().execute(issuance._INSERT_IDEMPOTENCY, keys)
            for n, values in zip(todo, written, strict=True):
                issued = issuance.answered_row(values)
                # Rendered before the commit: should one fail, the group rolls back and each
                # request is issued alone, the failing one rolled back with its answer.
                outcomes[n] = (issued, True, credential_summary(gw, issued))
    assert all(o is not None for o in outcomes)
    return [o for o in outcomes if o is not None], change


def _keys_rechecked(
    session: Session, group: Sequence[_Job], outcomes: list[Outcome | None], now: int
) -> None:
    """The requests' keys checked again, in one statement, in the group's transaction: a key
    revoked (or expired, or replaced) since its request was taken refuses that request alone."""
    wanted = [(n, job.recheck) for n, job in enumerate(group) if job.recheck is not None]
    if not wanted:
        return
    verdicts = api_keys.recheck_many(session.connection(), [w for _, w in wanted], now=now)
    for (n, _), verdict in zip(wanted, verdicts, strict=True):
        if verdict is not None and outcomes[n] is None:
            outcomes[n] = verdict


def _one_per_holder(
    session: Session, ready: dict[int, Prepared], outcomes: list[Outcome | None], now: int
) -> None:
    """The holder rule over a group: a live holder is refused; a holder an earlier request
    of the group takes is left for the next group (where the rule sees that one)."""
    by_type: dict[str, list[int]] = {}
    for n, prepared in ready.items():
        if not prepared.ctype.several_live_per_holder:
            by_type.setdefault(prepared.ctype.code, []).append(n)
    for positions in by_type.values():
        ctype = ready[positions[0]].ctype
        holders = {n: holder_rule.holder_of(ctype, ready[n].subject) for n in positions}
        live = holder_rule.live_for(session, ctype=ctype, holders=holders.values(), now=now)
        taken: set[str] = set()
        for n in positions:
            holder = holders[n]
            if not holder:  # no holder code: the rule has nothing to compare (as alone)
                continue
            if holder in live:
                outcomes[n] = FieldError([holder_rule.already_holds(ctype, live_id=live[holder])])
            elif holder in taken:
                outcomes[n] = _AGAIN
            else:
                taken.add(holder)


_GROUPS: weakref.WeakKeyDictionary[Gateway, IssueGroups] = weakref.WeakKeyDictionary()
_GROUPS_LOCK = threading.Lock()


def groups_of(gw: Gateway) -> IssueGroups:
    """The process's :class:`IssueGroups` for ``gw``."""
    with _GROUPS_LOCK:
        found = _GROUPS.get(gw)
        if found is None:
            found = _GROUPS[gw] = IssueGroups(gw)
        return found


async def issue_answered_async(
    gw: Gateway,
    *,
    agency_id: str,
    request: IssueRequest,
    idempotency_key: str | None = None,
    recheck: api_keys.Recheck | None = None,
) -> Answer:
    """:func:`gateway.issuance.issue_answered` for a caller on an event loop (the fast path):
    the same checks and answer, awaited without a thread."""
    issuance.check_idempotency_key(idempotency_key)
    return await groups_of(gw).issue_async(
        agency_id=agency_id, request=request, idempotency_key=idempotency_key, recheck=recheck
    )
