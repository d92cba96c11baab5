"""one credential per register row: a unique key on (agency_id, batch_ref)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

Issue 8: two ``ecert issue-batch`` runs of one register at once (two processes, one
PostgreSQL) issued some rows twice, because nothing in the database said a row is issued once.
This adds that key. ``batch_ref`` is NULL for credentials not issued from a register; SQLite and
PostgreSQL treat NULLs as distinct in a unique index, so those never collide.

A database that already holds such duplicates keeps every credential: each one was signed and
may have been handed out, and whether to revoke it is the agency's decision, not a
migration's. Of each set of credentials issued for one row, the first issued (by ``issued_at``,
then 流水号) keeps the row's ``batch_ref``, so re-running the register still skips that row; the
later ones get ``batch_ref`` NULL (their tokens and status are unchanged) and one audit log entry
each: action ``credential.batch_duplicate``, subject the credential id, detail
``{"batch_ref": …, "kept": <the id that kept it>}``, for the agency to review them.
"""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

ACTION = "credential.batch_duplicate"
ACTOR = "migration:0003"
_STEP = 500  # ids per UPDATE … WHERE id IN (…)

credentials = sa.table(
    "credentials",
    sa.column("id", sa.String),
    sa.column("agency_id", sa.String),
    sa.column("batch_ref", sa.String),
    sa.column("issued_at", sa.BigInteger),
    sa.column("serial", sa.String),
    sa.column("version", sa.String),
)
audit_log = sa.table(
    "audit_log",
    sa.column("at", sa.BigInteger),
    sa.column("actor", sa.String),
    sa.column("action", sa.String),
    sa.column("subject", sa.String),
    sa.column("detail", sa.JSON),
)


def _detach_duplicates(bind: sa.Connection) -> int:
    """Give every credential but the first of each (agency, batch_ref) a NULL batch_ref."""
    c = credentials.c
    repeated = (
        sa.select(c.agency_id, c.batch_ref)
        .where(c.batch_ref.is_not(None))
        .group_by(c.agency_id, c.batch_ref)
        .having(sa.func.count() > 1)
        .subquery()
    )
    rows = bind.execute(
        sa.select(c.id, c.agency_id, c.batch_ref)
        .join(
            repeated,
            sa.and_(c.agency_id == repeated.c.agency_id, c.batch_ref == repeated.c.batch_ref),
        )
        .order_by(c.agency_id, c.batch_ref, c.issued_at, c.serial, c.version, c.id)
    ).all()
    now = int(time.time())
    detached: list[str] = []
    entries: list[dict[str, Any]] = []
    kept: dict[tuple[str, str], str] = {}
    for cid, agency_id, ref in rows:
        first = kept.setdefault((agency_id, ref), cid)
        if first != cid:
            detached.append(cid)
            entries.append(
                {"at": now, "actor": ACTOR, "action": ACTION, "subject": cid,
                 "detail": {"batch_ref": ref, "kept": first}}
            )  # fmt: skip
    for start in range(0, len(detached), _STEP):
        bind.execute(
            sa.update(credentials)
            .where(c.id.in_(detached[start : start + _STEP]))
            .values(batch_ref=None)
        )
    if entries:
        bind.execute(sa.insert(audit_log), entries)
    return len(detached)


def upgrade() -> None:
    _detach_duplicates(op.get_bind())
    op.drop_index("ix_credentials_batch_ref", table_name="credentials")
    op.create_index(
        "uq_credentials_batch_row", "credentials", ["agency_id", "batch_ref"], unique=True
    )


def downgrade() -> None:
    # The detached duplicates stay detached: the audit log says which row each was issued for.
    op.drop_index("uq_credentials_batch_row", table_name="credentials")
    op.create_index("ix_credentials_batch_ref", "credentials", ["batch_ref"], unique=False)
