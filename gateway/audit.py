"""Append-only record of who did what and when (全过程留痕): the one entry point, :func:`record`.

Every call becomes one leaf of this gateway's Merkle audit log (:mod:`gateway.auditlog`) in the
same transaction as the act it records: the row is added to the session like any other, and
when the session flushes, the rows it adds are given their leaf index and hash in the order
they were recorded, under the tree state's lock (one locked read per flush, however many rows:
a batch of 5,000 credentials takes the lock once, after its signing). A transaction that rolls
back records nothing.

Issue 13: an ORM object a leaf cost ~14 µs to make and add and more to take out again at the
flush. The first act recorded in a (sub)transaction is an ORM row, the *carrier*; the acts
recorded after it, while it waits in the same (sub)transaction, are plain entries that ride on
it: the flush writes the carrier, then its entries, in the order recorded. A rollback drops the
carrier and with it its entries; an act recorded in another (sub)transaction, or after a flush,
starts a carrier of its own.

Details hold ids and hashes only, never personal data (names, ID numbers, free-text reasons):
:func:`text_hash` turns a text that may hold some into a SHA-256 hex digest.

Deliberately not here: the tree, proofs and checkpoints (``gateway.auditlog``,
``gateway.auditheads``).
"""

from __future__ import annotations

import hashlib
import weakref
from collections.abc import Iterable
from typing import Any

from sqlalchemy import event, insert, inspect
from sqlalchemy.orm import Session, UOWTransaction

from gateway import auditlog
from gateway.models import AuditRow


def record(
    session: Session, *, at: int, actor: str, action: str, subject: str, **detail: Any
) -> None:
    """Record one act; an actor or subject longer than its column (an entity id may be 256
    characters) is recorded as its hash, ``sha256:<hex>``, never cut or refused."""
    entry = {
        "at": at,
        "actor": _fitting(actor, MAX_ACTOR),
        "action": action,
        "subject": _fitting(subject, MAX_SUBJECT),
        "detail": detail,
    }
    here = session.get_nested_transaction() or session.get_transaction()
    latest = session.info.get(_LATEST)
    if latest is not None:
        carrier, where, entries = latest
        if where is here and inspect(carrier).pending:
            entries.append(entry)
            return
    carrier = AuditRow(**entry)
    session.add(carrier)
    entries = []
    carried: weakref.WeakKeyDictionary[AuditRow, list[dict[str, Any]]] = session.info.setdefault(
        _CARRIED, weakref.WeakKeyDictionary()
    )
    carried[carrier] = entries
    session.info[_LATEST] = (
        carrier,
        session.get_nested_transaction() or session.get_transaction(),
        entries,
    )


# session.info keys: each waiting carrier's entries; the latest carrier, its (sub)transaction
# and entries (an act recorded there, while it waits, rides on it).
_CARRIED, _LATEST = "ecert.audit.carried", "ecert.audit.latest"
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
    carried = session.info.get(_CARRIED, {})
    session.info.pop(_LATEST, None)  # flushed: the next act starts a carrier of its own
    entries: list[dict[str, Any]] = []
    for row in carriers:
        given = row.__dict__
        entries.append({k: given[k] for k in _COLUMNS})
        entries.extend(carried.pop(row, ()))
        session.expunge(row)  # written below, in one executemany, not by the unit of work
    if auditlog.has_leaves(session):
        auditlog.assign(session, entries)
    else:  # a schema before 0012: plain rows, which its backfill makes leaves in id order
        session.connection().execute(insert(AuditRow).inline(), entries)
