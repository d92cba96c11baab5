"""API-key lifecycle: expiry, last use and rotation (issue 11)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06

An API key may expire (``expires_at``), records when it was last used (``last_used_at``,
written at most once a minute) and, once rotated, names the key that replaced it
(``replaced_by``); its ``revoked_at`` may then lie ahead (the grace period). Existing keys keep
working as they did: no expiry, no last use yet.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("expires_at", sa.BigInteger, nullable=True))
        batch.add_column(sa.Column("last_used_at", sa.BigInteger, nullable=True))
        batch.add_column(sa.Column("replaced_by", sa.String(40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("replaced_by")
        batch.drop_column("last_used_at")
        batch.drop_column("expires_at")
