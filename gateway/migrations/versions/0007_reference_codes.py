"""reference codes (亮证码) and their use records

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06

A holder's wallet asks for a short-lived reference code for one delivered credential
(``reference_codes``, by the code's SHA-256), proving its key with a single-use proof
(``holder_proof_ids``); a counter resolves the code once, and every resolution is recorded
(``reference_uses``); wrong codes a counter tries are counted for throttling
(``reference_failures``). Nothing existing changes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "holder_proof_ids",
        sa.Column("jti_hash", sa.String(64), primary_key=True),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_holder_proof_ids_expires_at", "holder_proof_ids", ["expires_at"])
    op.create_table(
        "reference_codes",
        sa.Column("code_hash", sa.String(64), primary_key=True),
        sa.Column("credential_id", sa.String(40), sa.ForeignKey("credentials.id"), nullable=False),
        sa.Column("holder_kid", sa.String(64), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
        sa.Column("used_at", sa.BigInteger, nullable=True),
        sa.Column("used_by", sa.String(40), nullable=True),
    )
    op.create_index("ix_reference_codes_credential_id", "reference_codes", ["credential_id"])
    op.create_index("ix_reference_codes_expires_at", "reference_codes", ["expires_at"])
    op.create_table(
        "reference_uses",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("credential_id", sa.String(40), sa.ForeignKey("credentials.id"), nullable=False),
        sa.Column("verifier_id", sa.String(40), nullable=False),
        sa.Column("verifier_entity", sa.String(256), nullable=False),
        sa.Column("verifier_name", sa.String(128), nullable=False),
        sa.Column("city_name", sa.String(64), nullable=False),
        sa.Column("city_code", sa.String(6), nullable=False),
        sa.Column("at", sa.BigInteger, nullable=False),
        sa.Column("purpose", sa.String(800), nullable=False),
        sa.Column("fields", sa.JSON, nullable=False),
        sa.Column("reason_code", sa.String(40), nullable=False),
    )
    op.create_index("ix_reference_uses_credential_id", "reference_uses", ["credential_id"])
    op.create_table(
        "reference_failures",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("verifier_id", sa.String(40), nullable=False),
        sa.Column("at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_reference_failures_verifier_id", "reference_failures", ["verifier_id"])
    op.create_index("ix_reference_failures_at", "reference_failures", ["at"])


def downgrade() -> None:
    op.drop_table("reference_failures")
    op.drop_table("reference_uses")
    op.drop_table("reference_codes")
    op.drop_table("holder_proof_ids")
