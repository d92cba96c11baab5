"""counters (OpenID4VP verifiers)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06

Issue 9 part C: counters ask wallets for presentations. ``verifiers`` holds each counter
(name, role, the SHA-256 of its API key secret); its federation key is a ``federation_keys``
row owned by its id, as an agency's is. Nothing existing changes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "verifiers",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("role", sa.String(64), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("verifiers")
