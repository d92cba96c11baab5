"""paper reference codes and the channel of a use record

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06

A reference code may be printed on paper (``reference_codes.paper``): long-lived, resolved any
number of times by authenticated counters, each resolution a use. A use record says how the
credential was shown (``reference_uses.channel``: ``code``, ``paper`` or ``presentation``);
existing records were all made by dynamic codes. A use seen at another city's counter is reported
to the issuing gateway as a signed message; ``use_reports`` keeps each until it is delivered, so
a peer that is down gets it later.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("reference_codes") as batch:
        batch.add_column(sa.Column("paper", sa.Boolean, nullable=False, server_default=sa.false()))
    with op.batch_alter_table("reference_uses") as batch:
        batch.add_column(sa.Column("channel", sa.String(16), nullable=False, server_default="code"))
    op.create_table(
        "use_reports",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("to_entity", sa.String(256), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.BigInteger, nullable=False),
        sa.Column("delivered_at", sa.BigInteger, nullable=True),
        sa.Column("last_error", sa.String(300), nullable=True),
    )
    op.create_index("ix_use_reports_next_attempt_at", "use_reports", ["next_attempt_at"])


def downgrade() -> None:
    op.drop_table("use_reports")
    with op.batch_alter_table("reference_uses") as batch:
        batch.drop_column("channel")
    with op.batch_alter_table("reference_codes") as batch:
        batch.drop_column("paper")
