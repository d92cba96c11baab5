"""witnesses of the audit log: what each peer's log looked like when last seen, and cosignatures

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06

Per peer, the head of its audit log this gateway last verified (``audit_witnessed_peers``);
alarms raised when a peer's log was found truncated, rolled back, rewritten, badly signed or
stale, standing until acknowledged (``audit_witness_alarms``); and the cosignatures peers gave
this gateway's own checkpoints (``audit_cosignatures``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_witnessed_peers",
        sa.Column("peer", sa.String(256), primary_key=True),
        sa.Column("tree_size", sa.BigInteger, nullable=True),
        sa.Column("root_hash", sa.String(43), nullable=True),
        sa.Column("checkpoint", sa.Text, nullable=True),
        sa.Column("checkpoint_iat", sa.BigInteger, nullable=True),
        sa.Column("first_seen_at", sa.BigInteger, nullable=True),
        sa.Column("verified_at", sa.BigInteger, nullable=True),
        sa.Column("cosigned_at", sa.BigInteger, nullable=True),
        sa.Column("last_attempt_at", sa.BigInteger, nullable=True),
        sa.Column("last_error", sa.String(500), nullable=True),
    )
    op.create_table(
        "audit_witness_alarms",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("peer", sa.String(256), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("message", sa.String(1000), nullable=False),
        sa.Column("message_en", sa.String(1000), nullable=False),
        sa.Column("tree_size", sa.BigInteger, nullable=True),
        sa.Column("root_hash", sa.String(43), nullable=True),
        sa.Column("checkpoint", sa.Text, nullable=True),
        sa.Column("seen_tree_size", sa.BigInteger, nullable=True),
        sa.Column("seen_root_hash", sa.String(43), nullable=True),
        sa.Column("raised_at", sa.BigInteger, nullable=False),
        sa.Column("last_seen_at", sa.BigInteger, nullable=False),
        sa.Column("times", sa.BigInteger, nullable=False),
        sa.Column("acked_at", sa.BigInteger, nullable=True),
        sa.Column("acked_by", sa.String(80), nullable=True),
    )
    op.create_index("ix_audit_witness_alarms_peer", "audit_witness_alarms", ["peer"])
    op.create_index("ix_audit_witness_alarms_acked_at", "audit_witness_alarms", ["acked_at"])
    op.create_table(
        "audit_cosignatures",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("witness", sa.String(256), nullable=False),
        sa.Column("tree_size", sa.BigInteger, nullable=False),
        sa.Column("root_hash", sa.String(43), nullable=False),
        sa.Column("iat", sa.BigInteger, nullable=False),
        sa.Column("token", sa.Text, nullable=False),
        sa.Column("received_at", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("witness", "tree_size", "root_hash"),
    )
    op.create_index("ix_audit_cosignatures_witness", "audit_cosignatures", ["witness"])


def downgrade() -> None:
    op.drop_index("ix_audit_cosignatures_witness", table_name="audit_cosignatures")
    op.drop_table("audit_cosignatures")
    op.drop_index("ix_audit_witness_alarms_acked_at", table_name="audit_witness_alarms")
    op.drop_index("ix_audit_witness_alarms_peer", table_name="audit_witness_alarms")
    op.drop_table("audit_witness_alarms")
    op.drop_table("audit_witnessed_peers")
