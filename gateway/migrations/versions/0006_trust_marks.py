"""trust marks granting verifier roles

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06

OpenID Federation 1.0 trust marks: ``issued_trust_marks`` holds each mark a region's anchor
granted (by the SHA-256 of the signed mark, so its status endpoint finds it; revoking keeps the
row), ``verifier_trust_marks`` the marks a city's counters hold, one per type, carried in their
Entity Configurations. Nothing existing changes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "issued_trust_marks",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("subject", sa.String(256), nullable=False),
        sa.Column("trust_mark_type", sa.String(512), nullable=False),
        sa.Column("role", sa.String(64), nullable=False),
        sa.Column("token", sa.Text, nullable=False),
        sa.Column("iat", sa.BigInteger, nullable=False),
        sa.Column("exp", sa.BigInteger, nullable=True),
        sa.Column("issued_by", sa.String(80), nullable=False),
        sa.Column("revoked_at", sa.BigInteger, nullable=True),
        sa.Column("revoked_by", sa.String(80), nullable=True),
    )
    op.create_index("ix_issued_trust_marks_subject", "issued_trust_marks", ["subject"])
    op.create_table(
        "verifier_trust_marks",
        sa.Column("verifier_id", sa.String(40), sa.ForeignKey("verifiers.id"), primary_key=True),
        sa.Column("trust_mark_type", sa.String(512), primary_key=True),
        sa.Column("role", sa.String(64), nullable=False),
        sa.Column("token", sa.Text, nullable=False),
        sa.Column("exp", sa.BigInteger, nullable=True),
        sa.Column("added_at", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("verifier_trust_marks")
    op.drop_index("ix_issued_trust_marks_subject", table_name="issued_trust_marks")
    op.drop_table("issued_trust_marks")
