"""join requests bounded per requester and in total, expiring, never displaced (issue 11)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06

Reserved in the chain now so that the three parts of issue 11 can each fill in their own
revision; until then it changes nothing.
"""

from __future__ import annotations

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
