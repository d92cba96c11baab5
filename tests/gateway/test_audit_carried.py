"""Acts recorded together ride on one ORM row (issue 13, :func:`gateway.audit.record_many`), and
still become leaves in the order recorded, with the hashes their rows give, or not at all when
their (sub)transaction rolls back; acts recorded one by one keep their order around them."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from gateway import audit, auditlog
from gateway.core import Gateway
from gateway.models import AuditRow
from trust import merkle


def _new_leaves(gw: Gateway, before: int) -> list[AuditRow]:
    with gw.sessions() as session:
        return list(
            session.scalars(
                select(AuditRow).where(AuditRow.leaf_index >= before).order_by(AuditRow.leaf_index)
            )
        )


def _size(gw: Gateway) -> int:
    with gw.sessions() as session:
        return auditlog.compact_range(session).size


def _checked(gw: Gateway, before: int) -> list[str]:
    """The subjects of the leaves written since ``before``, after checking every stored leaf
    hash and the tree's root against the rows as read back."""
    with gw.sessions() as session:
        rows = list(session.scalars(select(AuditRow).order_by(AuditRow.leaf_index)))
        tree = auditlog.compact_range(session)
    hashes = [merkle.leaf_hash(auditlog.canonical(auditlog.leaf_of(r))) for r in rows]
    assert [r.leaf_hash for r in rows] == hashes
    assert [r.leaf_index for r in rows] == list(range(len(rows)))
    assert tree.root() == merkle.root(hashes)
    return [r.subject for r in rows[before:]]


def test_many_acts_of_one_transaction_are_leaves_in_the_order_recorded(gw: Gateway) -> None:
    before = _size(gw)
    with gw.transaction() as session:
        audit.record(session, at=0, actor="t", action="test.one", subject="first")
        audit.record_many(
            session,
            [audit.entry(at=i, actor="t", action="test.many", subject=f"s{i}", n=i)
             for i in range(700)],
        )  # fmt: skip
        audit.record(session, at=0, actor="t", action="test.one", subject="last")
        # one ORM row carries the 700, and one each the acts recorded alone
        assert sum(isinstance(o, AuditRow) for o in session.new) == 3
    assert _checked(gw, before) == ["first", *(f"s{i}" for i in range(700)), "last"]
    assert [r.detail for r in _new_leaves(gw, before)][1:4] == [{"n": 0}, {"n": 1}, {"n": 2}]


def test_a_flush_between_acts_keeps_their_order(gw: Gateway) -> None:
    before = _size(gw)
    with gw.transaction() as session:
        audit.record(session, at=1, actor="t", action="test.flush", subject="a")
        audit.record(session, at=1, actor="t", action="test.flush", subject="b")
        # a query flushes what waits: "a" and "b" are leaves before "c" is recorded
        assert session.scalar(select(func.count()).select_from(AuditRow)) == before + 2
        audit.record(session, at=1, actor="t", action="test.flush", subject="c")
        audit.record(session, at=1, actor="t", action="test.flush", subject="d")
    assert _checked(gw, before) == ["a", "b", "c", "d"]


@pytest.mark.parametrize("inner", ["released", "rolled back"])
def test_a_savepoint_keeps_or_drops_exactly_its_own_acts(gw: Gateway, inner: str) -> None:
    before = _size(gw)
    with gw.transaction() as session:
        audit.record(session, at=1, actor="t", action="test.sp", subject="before-1")
        audit.record(session, at=1, actor="t", action="test.sp", subject="before-2")
        savepoint = session.begin_nested()
        audit.record_many(
            session,
            [audit.entry(at=1, actor="t", action="test.sp", subject=f"inside-{n}")
             for n in (1, 2)],
        )  # fmt: skip
        if inner == "released":
            savepoint.commit()
        else:
            savepoint.rollback()
        audit.record(session, at=1, actor="t", action="test.sp", subject="after-1")
        audit.record(session, at=1, actor="t", action="test.sp", subject="after-2")
    inside = ["inside-1", "inside-2"] if inner == "released" else []
    assert _checked(gw, before) == ["before-1", "before-2", *inside, "after-1", "after-2"]


def test_acts_of_a_rolled_back_transaction_leave_nothing_behind(gw: Gateway) -> None:
    before = _size(gw)
    with gw.sessions() as session:
        audit.record_many(
            session,
            [audit.entry(at=1, actor="t", action="test.never", subject=f"n{i}") for i in range(5)],
        )
        session.rollback()
        # the same session, the next transaction: only what it records
        audit.record(session, at=1, actor="t", action="test.once", subject="x")
        audit.record(session, at=1, actor="t", action="test.once", subject="y")
        session.commit()
    assert _checked(gw, before) == ["x", "y"]
