"""Append-only record of who did what and when (全过程留痕): the one entry point, :func:`record`.

Every call becomes one leaf of this gateway's Merkle audit log (:mod:`gateway.auditlog`) in the
same transaction as the act it records: the row is added to the session like any other, and
when the session flushes, the rows it adds are given their leaf index and hash in the order
they were recorded, under the tree state's lock (one locked read per flush, however many rows:
a batch of 5,000 credentials takes the lock once, after its signing). A transaction that rolls
back records nothing.

Details hold ids and hashes only, never personal data (names, ID numbers, free-text reasons):
:func:`text_hash` turns a text that may hold some into a SHA-256 hex digest.

Deliberately not here: the tree, proofs and checkpoints (``gateway.auditlog``,
``gateway.auditheads``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session, UOWTransaction

from gateway import auditlog
from gateway.models import AuditRow


def record(
    session: Session, *, at: int, actor: str, action: str, subject: str, **detail: Any
) -> None:
    """Record one act; an actor or subject longer than its column (an entity id may be 256
    characters) is recorded as its hash, ``sha256:<hex>``, never cut or refused."""
    session.add(
        AuditRow(
            at=at,
            actor=_fitting(actor, MAX_ACTOR),
            action=action,
            subject=_fitting(subject, MAX_SUBJECT),
            detail=detail,
        )
    )


MAX_ACTOR, MAX_SUBJECT = 80, 128  # the columns' lengths


def _fitting(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"sha256:{text_hash(text)}"


def text_hash(text: str) -> str:
    """SHA-256 (hex) of a free text that may hold personal data (a reason, a name)."""
    return hashlib.sha256(text.encode()).hexdigest()


@event.listens_for(Session, "before_flush")
def _leaves(session: Session, _flush: UOWTransaction, _objects: Iterable[Any] | None) -> None:
    # (Read through the state's dict: reading an attribute never set would set it to None.)
    rows = [
        o for o in session.new if isinstance(o, AuditRow) and "leaf_index" not in inspect(o).dict
    ]
    if rows and auditlog.has_leaves(session):
        rows.sort(key=lambda row: inspect(row).insert_order or 0)
        auditlog.assign(session, rows)
