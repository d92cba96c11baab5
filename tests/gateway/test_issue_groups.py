"""Issuances waiting at one moment share one transaction (issue 13: 8 clients queued on the
agency's row lock, one transaction of ~9 statements each), and each is answered as it would be
alone. Groups are formed deterministically here: the first issuance is held inside its
transaction until the others are queued behind it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import func, inspect, select

from gateway import api_keys, issuance, issue_groups
from gateway.core import Gateway
from gateway.errors import Conflict
from gateway.models import CredentialRow
from tests.conftest import Agency
from tests.gateway.helpers import on_own_loop
from tests.gateway.test_issuance_speed import TYPE, licence, statements
from trust.errors import FieldError

WAIT = 30.0  # seconds any step of these tests may take at most


def _request(n: int, **changes: str) -> issuance.IssueRequest:
    return issuance.IssueRequest(TYPE, licence(n, **changes))


@contextmanager
def held_first(gw: Gateway, waiting: int) -> Iterator[Callable[..., Future[Any]]]:
    """Submit issuances; the first holds its transaction open until ``waiting`` more are queued
    behind it, so those form the next group together."""
    groups = issue_groups.groups_of(gw)
    release = threading.Event()
    real = issuance.load_signer
    calls = 0

    def slow_first(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            assert release.wait(WAIT), "the others never queued"
        return real(*args, **kwargs)

    def queued() -> int:
        with groups._lock:
            return len(groups._pending)

    pool = ThreadPoolExecutor(waiting + 1)
    first = True

    def submit(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Future[Any]:
        nonlocal first
        future = pool.submit(fn, *args, **kwargs)
        if first:  # the leader must be inside its transaction before the others arrive
            first = False
            for _ in range(int(WAIT * 100)):
                if calls:
                    break
                threading.Event().wait(0.01)
            assert calls, "the first issuance never started"
        return future

    setattr(issuance, "load_signer", slow_first)  # noqa: B010 - restored below
    try:
        yield submit
        for _ in range(int(WAIT * 100)):
            if queued() >= waiting:
                break
            threading.Event().wait(0.01)
        assert queued() >= waiting, f"expected {waiting} queued, found {queued()}"
        release.set()
    finally:
        setattr(issuance, "load_signer", real)  # noqa: B010
        pool.shutdown(wait=True)


def _issue(
    gw: Gateway, agency: Agency, request: issuance.IssueRequest, key: str | None = None
) -> Any:
    return issuance.issue_answered(gw, agency_id=agency.id, request=request, idempotency_key=key)


def _wrong_check_digit(code: str) -> str:
    return code[:-1] + ("0" if code[-1] != "0" else "1")


def _count(gw: Gateway) -> int:
    with gw.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(CredentialRow)) or 0)


def test_waiting_issuances_share_one_transaction_and_each_is_answered(
    gw: Gateway, amr: Agency
) -> None:
    groups = issue_groups.groups_of(gw)
    with statements(gw) as seen, held_first(gw, 8) as submit:
        futures = [submit(_issue, gw, amr, _request(n)) for n in range(9)]
    answers = [f.result(WAIT) for f in futures]
    assert groups.largest == 8, (groups.groups, groups.largest)
    assert all(created for _, created, _ in answers)
    serials = sorted(row.serial for row, _, _ in answers)
    assert len(set(serials)) == 9
    assert [int(s) for s in serials] == list(range(int(serials[0]), int(serials[0]) + 9))
    for row, _, summary in answers:
        assert summary["id"] == row.id
        assert summary["status"] == "valid"
    assert _count(gw) == 9
    # Two transactions' statements, not nine: the group of eight ran as few as one alone.
    inserts = [
        s
        for s in seen
        if s.lstrip().upper().startswith(("INSERT INTO CREDENTIALS", "COPY CREDENTIALS"))
    ]
    assert len(inserts) == 2, inserts
    assert len(seen) <= 2 * 12, seen


def test_a_bad_request_in_a_group_is_refused_alone(gw: Gateway, amr: Agency) -> None:
    with held_first(gw, 3) as submit:
        futures = [
            submit(_issue, gw, amr, _request(0)),
            submit(_issue, gw, amr, _request(1)),
            submit(_issue, gw, amr, _request(2, uscc=_wrong_check_digit(licence(2)["uscc"]))),
            submit(_issue, gw, amr, _request(3)),
        ]
    assert [futures[n].result(WAIT)[1] for n in (0, 1, 3)] == [True, True, True]
    with pytest.raises(FieldError) as refused:
        futures[2].result(WAIT)
    assert [e["code"] for e in refused.value.errors] == ["uscc_checksum"], refused.value.errors
    assert _count(gw) == 3


def test_one_holder_twice_in_a_group_is_issued_once(gw: Gateway, amr: Agency) -> None:
    with held_first(gw, 2) as submit:
        futures = [
            submit(_issue, gw, amr, _request(0)),
            submit(_issue, gw, amr, _request(7)),
            submit(_issue, gw, amr, _request(7, name="同一主体另一名称有限公司")),
        ]
    issued, _, _ = futures[1].result(WAIT)
    with pytest.raises(FieldError) as refused:
        futures[2].result(WAIT)
    (error,) = refused.value.errors
    assert error["code"] == "holder_has_live"
    assert issued.id in error["message_en"]
    assert issued.id in error["message"]
    assert _count(gw) == 2


def test_one_idempotency_key_twice_in_a_group_issues_once_and_replays(
    gw: Gateway, amr: Agency
) -> None:
    with held_first(gw, 3) as submit:
        futures = [
            submit(_issue, gw, amr, _request(0)),
            submit(_issue, gw, amr, _request(5), "key-5"),
            submit(_issue, gw, amr, _request(5), "key-5"),
            submit(_issue, gw, amr, _request(6), "key-5"),
        ]
    first, created, _ = futures[1].result(WAIT)
    again, replayed_created, summary = futures[2].result(WAIT)
    assert created
    assert not replayed_created
    assert again.id == first.id == summary["id"]
    with pytest.raises(Conflict, match="different request"):
        futures[3].result(WAIT)
    assert _count(gw) == 2


def test_a_group_that_cannot_be_answered_is_issued_alone_and_skips_no_serial(
    gw: Gateway, amr: Agency, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = issuance.credential_summary

    def fails_for_one(gw_: Gateway, row: CredentialRow) -> dict[str, Any]:
        if row.holder_name == licence(2)["name"]:
            raise ValueError("cannot render this one")
        return real(gw_, row)

    monkeypatch.setattr(issuance, "credential_summary", fails_for_one)
    monkeypatch.setattr(issue_groups, "credential_summary", fails_for_one)
    with held_first(gw, 3) as submit:
        futures = [submit(_issue, gw, amr, _request(n)) for n in range(4)]
    with pytest.raises(ValueError, match="cannot render"):
        futures[2].result(WAIT)
    rows = [futures[n].result(WAIT)[0] for n in (0, 1, 3)]
    assert _count(gw) == 3
    serials = sorted(int(r.serial) for r in rows)
    assert serials == list(range(serials[0], serials[0] + 3))  # the failed one left no gap


def test_groups_run_on_the_group_thread_which_ends_when_idle(
    gw: Gateway, amr: Agency, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No request's own thread runs a group (before, the first request led, and served the
    # others' groups until its own was answered): the group thread does, and ends once nothing
    # has waited for IDLE seconds, so a closed gateway leaves no thread behind.
    monkeypatch.setattr(issue_groups, "MAX_GROUP", 1)
    monkeypatch.setattr(issue_groups, "IDLE", 0.05)
    ran_on: list[str] = []
    real = issue_groups._issue_together

    def noting(gw_: Gateway, group: Any) -> Any:
        ran_on.append(threading.current_thread().name)
        return real(gw_, group)

    monkeypatch.setattr(issue_groups, "_issue_together", noting)
    with held_first(gw, 3) as submit:
        futures = [submit(_issue, gw, amr, _request(n)) for n in range(4)]
    assert all(f.result(WAIT)[1] for f in futures)
    assert ran_on == ["ecert-issue-groups"] * 4
    groups = issue_groups.groups_of(gw)
    runner = groups._runner
    assert runner is not None
    runner.join(WAIT)
    assert not runner.is_alive(), "the group thread outlived its idle bound"
    assert groups._runner is None
    assert _issue(gw, amr, _request(9))[1]  # and a new one starts for the next request
    assert groups._runner is not runner
    assert groups._alive == 0


def test_a_request_on_an_event_loop_waits_on_a_future_not_a_thread(
    gw: Gateway, amr: Agency
) -> None:
    # The fast path's requests await their group on the loop: 8 of them at once take no
    # thread each, form one group, and are answered together.
    groups = issue_groups.groups_of(gw)
    counts: list[int] = []

    async def eight() -> list[Any]:
        counts.append(threading.active_count())
        answered = await asyncio.gather(
            *(
                issue_groups.issue_answered_async(gw, agency_id=amr.id, request=_request(n))
                for n in range(8)
            )
        )
        counts.append(threading.active_count())
        return list(answered)

    answers = on_own_loop(eight)
    assert all(created for _, created, _ in answers)
    assert len({row.id for row, _, _ in answers}) == 8
    before, after = counts
    assert after <= before + 1, counts  # the group thread at most
    assert groups.largest >= 2, (groups.groups, groups.largest)
    assert _count(gw) == 8


@pytest.mark.parametrize("waiting", ["in a thread", "on an event loop"])
def test_a_request_not_taken_in_time_is_refused_and_nothing_is_issued(
    gw: Gateway, amr: Agency, monkeypatch: pytest.MonkeyPatch, waiting: str
) -> None:
    # Every wait is bounded: a request still queued (not in a group) after QUEUE_WAIT seconds
    # is refused with a 409 that says nothing was issued, and leaves the queue.
    monkeypatch.setattr(issue_groups, "QUEUE_WAIT", 0.2)
    monkeypatch.setattr(issue_groups, "_POLL", 0.05)
    groups = issue_groups.groups_of(gw)
    inside, release = threading.Event(), threading.Event()
    real = issuance.load_signer

    def held(*args: Any, **kwargs: Any) -> Any:
        inside.set()
        assert release.wait(WAIT)
        return real(*args, **kwargs)

    def second() -> Any:
        if waiting == "in a thread":
            return _issue(gw, amr, _request(1))
        return on_own_loop(
            lambda: issue_groups.issue_answered_async(gw, agency_id=amr.id, request=_request(1))
        )

    monkeypatch.setattr(issuance, "load_signer", held)
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(_issue, gw, amr, _request(0))
        assert inside.wait(WAIT)  # the first's group taken, held in its transaction
        with pytest.raises(Conflict, match="nothing was issued"):
            second()
        with groups._lock:
            assert list(groups._pending) == []
        release.set()
        assert first.result(WAIT)[1]
    assert _count(gw) == 1
    assert groups._alive == 0


def _new_key(gw: Gateway, agency: Agency, scope: str) -> str:
    with gw.transaction() as session:
        now = gw.clock()
        return api_keys.new_api_key(
            session, agency_id=agency.id, scopes=[scope], now=now, expires_at=None, label=scope
        )


def test_a_key_revoked_since_its_request_was_taken_refuses_that_request_alone(
    gw: Gateway, amr: Agency
) -> None:
    # A request taken on a key the process knew is checked again inside the group's
    # transaction: revoked meanwhile, it is refused (KeyChanged) and nothing is issued for it;
    # the others of its group are issued.
    doomed = _new_key(gw, amr, "issue")

    def keyed(n: int, presented: str) -> Any:
        recheck = api_keys.Recheck(presented, "issue", amr.id)
        return issuance.issue_answered(gw, agency_id=amr.id, request=_request(n), recheck=recheck)

    # Revoked after the process took the request on it (here: before, as the leader's held
    # transaction would keep SQLite's writer waiting).
    api_keys.revoke_key(gw, key_id=doomed.split("_", 2)[1], actor="test")
    with held_first(gw, 2) as submit:
        futures = [
            submit(keyed, n, key) for n, key in enumerate((amr.api_key, doomed, amr.api_key))
        ]
    assert futures[0].result(WAIT)[1]
    assert futures[2].result(WAIT)[1]
    with pytest.raises(api_keys.KeyChanged, match="revoked"):
        futures[1].result(WAIT)
    assert _count(gw) == 2
    assert issue_groups.groups_of(gw).largest == 2  # the refused one was in the group


def test_a_key_without_the_scope_or_of_another_agency_is_refused_alone(
    gw: Gateway, amr: Agency
) -> None:
    reader = _new_key(gw, amr, "read")
    for recheck in (
        api_keys.Recheck(reader, "issue", amr.id),
        api_keys.Recheck(amr.api_key, "issue", "another-agency"),
        api_keys.Recheck(amr.api_key[:-2] + "zz", "issue", amr.id),  # not its secret
    ):
        with pytest.raises(api_keys.KeyChanged):
            issuance.issue_answered(gw, agency_id=amr.id, request=_request(5), recheck=recheck)
    assert _count(gw) == 0


def test_a_leader_waits_for_as_many_requests_as_were_about_lately(
    gw: Gateway, amr: Agency, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 8 clients issuing one after another formed groups of ~3: each leader took what had
    # arrived, while the rest of the clients' requests were on their way. A leader now waits
    # (at most LINGER) for as many as were about at once since the last group was taken.
    monkeypatch.setattr(issue_groups, "LINGER", WAIT)  # here: until they are all there
    groups = issue_groups.groups_of(gw)
    groups._peak = 3
    with ThreadPoolExecutor(3) as pool:
        futures = [pool.submit(_issue, gw, amr, _request(n)) for n in range(3)]
        assert all(f.result(WAIT)[1] for f in futures)
    assert (groups.groups, groups.largest) == (1, 3)


def test_a_leader_waits_no_longer_than_linger(
    gw: Gateway, amr: Agency, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(issue_groups, "LINGER", 0.05)
    groups = issue_groups.groups_of(gw)
    groups._peak = 8  # 8 were about lately; now one request comes alone
    assert _issue(gw, amr, _request(0))[1]
    assert (groups.groups, groups.largest, groups._peak) == (1, 1, 1)


def test_the_answered_row_reads_as_the_orm_built_one(gw: Gateway, amr: Agency) -> None:
    row, _, _ = _issue(gw, amr, _request(0))
    columns = [c.key for c in CredentialRow.__mapper__.column_attrs]
    with gw.sessions() as session:
        stored = session.get(CredentialRow, row.id)
        assert stored is not None
        values = {k: getattr(stored, k) for k in columns}
    built = CredentialRow(**values)
    fast = issuance.answered_row(dict(values))
    assert {k: getattr(fast, k) for k in columns} == {k: getattr(built, k) for k in columns}
    assert inspect(fast).transient
    assert issuance.credential_summary(gw, fast) == issuance.credential_summary(gw, built)
