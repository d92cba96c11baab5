"""join requests bounded per requester and in total, expiring, never displaced (issue 11)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06

A join request waiting at a region anchor (``subordinates`` with status ``pending``) gets an id
the operator rejects it by, the client address it came from (requests are bounded per
address) and when it expires (``gateway.join_requests.JOIN_LIFETIME``, 72 hours). Requests
already waiting expire 72 hours after they were made.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

JOIN_LIFETIME = 72 * 3600  # gateway.join_requests.JOIN_LIFETIME when this revision was made


def upgrade() -> None:
    with op.batch_alter_table("subordinates") as batch:
        batch.add_column(sa.Column("request_id", sa.String(40), nullable=True))
        batch.add_column(sa.Column("client_address", sa.String(64), nullable=True))
        batch.add_column(sa.Column("expires_at", sa.BigInteger, nullable=True))
    subordinates = sa.table(
        "subordinates",
        sa.column("status", sa.String),
        sa.column("requested_at", sa.BigInteger),
        sa.column("expires_at", sa.BigInteger),
    )
    op.execute(
        subordinates.update()
        .where(subordinates.c.status == "pending")
        .values(expires_at=subordinates.c.requested_at + JOIN_LIFETIME)
    )


def downgrade() -> None:
    with op.batch_alter_table("subordinates") as batch:
        batch.drop_column("expires_at")
        batch.drop_column("client_address")
        batch.drop_column("request_id")
