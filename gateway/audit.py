"""Append-only record of who did what and when (全过程留痕): :func:`record` one act,
:func:`record_many` acts made together.

Every call becomes one leaf of this gateway's Merkle audit log (:mod:`gateway.auditlog`) in the
same transaction as the act it records: the row is added to the session like any other, and
when the session flushes, the rows it adds are given their leaf index and hash in the order
they were recorded, under the tree state's lock (one locked read per flush, however many rows:
a batch of 5,000 credentials takes the lock once, after its signing). A transaction that rolls
back records nothing.

Issue 13: an ORM object a leaf cost ~14 µs to make and add and more to take out again at the
flush. Acts recorded together (:func:`record_many`, a batch's issuances) are one ORM row, the
*carrier*, and plain entries that ride on it: the flush writes the carrier, then its entries,
in order. A rollback drops the carrier and with it its entries. Nothing is kept on the session.

Details hold ids and hashes only, never personal data (names, ID numbers, free-text reasons):
:func:`text_hash` turns a text that may hold some into a SHA-256 hex digest.

Deliberately not here: the tree, proofs and checkpoints (``gateway.auditlog``,
``gateway.auditheads``).
"""

from __future__ import annotations

import hashlib
import weakref
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import event, insert, inspect
from sqlalchemy.orm import Session, UOWTransaction

from gateway import auditlog
from gateway.models import AuditRow


def entry(*, at: int, actor: str, action: str, subject: str, **detail: Any) -> dict[str, Any]:
    """One act as :func:`record_many` takes it; an actor or subject longer than its column (an
    entity id may be 256 characters) is recorded as its hash, ``sha256:<hex>``, never cut or
    refused."""
    return {
        "at": at,
        "actor": _fitting(actor, MAX_ACTOR),
        "action": action,
        "subject": _fitting(subject, MAX_SUBJECT),
        "detail": detail,
    }


def record(
    session: Session, *, at: int, actor: str, action: str, subject: str, **detail: Any
) -> None:
    """Record one act (:func:`entry` says how it is written)."""
    record_many(session, [entry(at=at, actor=actor, action=action, subject=subject, **detail)])


def record_many(session: Session, entries: Sequence[dict[str, Any]]) -> None:
    """Record acts made together, in order (a batch's issuances): the first is an ORM row, the
    rest ride on it and are written right after it at the flush. A rollback drops it and them."""
    if not entries:
        return
    carrier = AuditRow(**entries[0])
    if len(entries) > 1:
        _RIDERS[carrier] = list(entries[1:])
    session.add(carrier)


# The acts riding on each carrier not yet flushed (gone with a carrier a rollback drops).
_RIDERS: weakref.WeakKeyDictionary[AuditRow, list[dict[str, Any]]] = weakref.WeakKeyDictionary()
_COLUMNS = ("at", "actor", "action", "subject", "detail")


MAX_ACTOR, MAX_SUBJECT = 80, 128  # the columns' lengths


def _fitting(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"sha256:{text_hash(text)}"


def text_hash(text: str) -> str:
    """SHA-256 (hex) of a free text that may hold personal data (a reason, a name)."""
    return hashlib.sha256(text.encode()).hexdigest()


@event.listens_for(Session, "before_flush")
def _leaves(session: Session, _flush: UOWTransaction, _objects: Iterable[Any] | None) -> None:
    # (Read through the state's dict: reading an attribute never set would set it to None.)
    carriers = [
        o for o in session.new if isinstance(o, AuditRow) and "leaf_index" not in inspect(o).dict
    ]
    if not carriers:
        return
    carriers.sort(key=lambda row: inspect(row).insert_order or 0)
    entries: list[dict[str, Any]] = []
    for row in carriers:
        given = row.__dict__
        entries.append({k: given[k] for k in _COLUMNS})
        entries.extend(_RIDERS.pop(row, ()))
        session.expunge(row)  # written below, in one executemany, not by the unit of work
    if auditlog.has_leaves(session):
        auditlog.assign(session, entries)
    else:  # a schema before 0012: plain rows, which its backfill makes leaves in id order
        session.connection().execute(insert(AuditRow).inline(), entries)
