"""agency operators who sign in to the console (password + TOTP) and their sessions

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06

``console_operators``: one row per operator of an agency (``ecert agency operator add``), with
an argon2id password hash, an RFC 6238 TOTP secret and the last time step accepted (a code is
used once), consecutive failed sign-ins and a disabled time. ``console_sessions``: signed-in
sessions by the SHA-256 of their opaque id, with idle and absolute expiry and revocation.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "console_operators",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("agency_id", sa.String(40), sa.ForeignKey("agencies.id"), nullable=False),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(256), nullable=False),
        sa.Column("totp_secret", sa.String(64), nullable=False),
        sa.Column("totp_last_step", sa.BigInteger, nullable=True),
        sa.Column("failed_attempts", sa.BigInteger, nullable=False),
        sa.Column("disabled_at", sa.BigInteger, nullable=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("last_sign_in_at", sa.BigInteger, nullable=True),
    )
    op.create_index("ix_console_operators_agency_id", "console_operators", ["agency_id"])
    op.create_table(
        "console_sessions",
        sa.Column("id_hash", sa.String(64), primary_key=True),
        sa.Column(
            "operator_id", sa.String(40), sa.ForeignKey("console_operators.id"), nullable=False
        ),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("last_seen_at", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
        sa.Column("revoked_at", sa.BigInteger, nullable=True),
    )
    op.create_index("ix_console_sessions_operator_id", "console_sessions", ["operator_id"])


def downgrade() -> None:
    op.drop_index("ix_console_sessions_operator_id", table_name="console_sessions")
    op.drop_table("console_sessions")
    op.drop_index("ix_console_operators_agency_id", table_name="console_operators")
    op.drop_table("console_operators")
