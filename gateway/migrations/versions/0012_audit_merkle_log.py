"""the audit log as an append-only Merkle tree and its signed checkpoints (issue 11)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06

Each ``audit_log`` row becomes a leaf of an RFC 9162 Merkle tree: ``leaf_index`` (dense from 0,
unique) and ``leaf_hash`` = SHA-256(0x00 || canonical JSON of the row). ``audit_tree`` holds the
tree's size and compact range (one row, locked by each writer), ``audit_nodes`` the roots of
complete subtrees of 2**8, 2**16 … leaves (so proofs never rehash the whole log), and
``audit_checkpoints`` the signed tree heads published. Existing rows are backfilled as the first
leaves, in id order. The hashing is written out here (not imported) so that this revision keeps
meaning what it meant when it ran.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_NODE_STEP = 8  # cached levels: 8, 16, 24 … (as gateway.auditlog.NODE_STEP)


def _leaf_hash(index: int, row: Any) -> bytes:
    detail = row.detail if isinstance(row.detail, dict) else json.loads(row.detail or "{}")
    leaf = {
        "index": index,
        "at": row.at,
        "actor": row.actor,
        "action": row.action,
        "subject": row.subject,
        "detail": detail,
    }
    data = json.dumps(leaf, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(b"\x00" + data.encode()).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def upgrade() -> None:
    with op.batch_alter_table("audit_log") as batch:
        batch.add_column(sa.Column("leaf_index", sa.BigInteger, nullable=True))
        batch.add_column(sa.Column("leaf_hash", sa.LargeBinary(32), nullable=True))
    op.create_table(
        "audit_tree",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("hashes", sa.JSON, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "audit_nodes",
        sa.Column("level", sa.Integer, primary_key=True),
        sa.Column("position", sa.BigInteger, primary_key=True),
        sa.Column("hash", sa.LargeBinary(32), nullable=False),
    )
    op.create_table(
        "audit_checkpoints",
        sa.Column("tree_size", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("root_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("jws", sa.Text, nullable=False),
        sa.Column("signed_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_audit_checkpoints_signed_at", "audit_checkpoints", ["signed_at"])

    bind = op.get_bind()
    log = sa.table(
        "audit_log",
        sa.column("id", sa.Integer),
        sa.column("at", sa.BigInteger),
        sa.column("actor", sa.String),
        sa.column("action", sa.String),
        sa.column("subject", sa.String),
        sa.column("detail", sa.JSON),
        sa.column("leaf_index", sa.BigInteger),
        sa.column("leaf_hash", sa.LargeBinary),
    )
    rows = bind.execute(sa.select(log).order_by(log.c.id)).all()
    stack: list[bytes] = []  # the compact range, largest subtree first
    nodes: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for index, row in enumerate(rows):
        merged = _leaf_hash(index, row)
        updates.append({"row_id": row.id, "leaf_index": index, "leaf_hash": merged})
        size, level = index, 0
        while size & 1:
            merged = _node(stack.pop(), merged)
            size >>= 1
            level += 1
            if level % _NODE_STEP == 0:
                nodes.append({"level": level, "position": size, "hash": merged})
        stack.append(merged)
    if updates:
        bind.execute(
            log.update()
            .where(log.c.id == sa.bindparam("row_id"))
            .values(leaf_index=sa.bindparam("leaf_index"), leaf_hash=sa.bindparam("leaf_hash")),
            updates,
        )
    if nodes:
        bind.execute(sa.insert(sa.table("audit_nodes", *map(sa.column, nodes[0]))), nodes)
    bind.execute(
        sa.insert(
            sa.table(
                "audit_tree",
                sa.column("id", sa.Integer),
                sa.column("size", sa.BigInteger),
                sa.column("hashes", sa.JSON),
                sa.column("updated_at", sa.BigInteger),
            )
        ),
        [{"id": 1, "size": len(rows), "hashes": [h.hex() for h in stack], "updated_at": 0}],
    )
    with op.batch_alter_table("audit_log") as batch:
        batch.alter_column("leaf_index", existing_type=sa.BigInteger, nullable=False)
        batch.alter_column("leaf_hash", existing_type=sa.LargeBinary(32), nullable=False)
        batch.create_unique_constraint("uq_audit_log_leaf_index", ["leaf_index"])


def downgrade() -> None:
    op.drop_index("ix_audit_checkpoints_signed_at", table_name="audit_checkpoints")
    op.drop_table("audit_checkpoints")
    op.drop_table("audit_nodes")
    op.drop_table("audit_tree")
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_constraint("uq_audit_log_leaf_index", type_="unique")
        batch.drop_column("leaf_hash")
        batch.drop_column("leaf_index")
