"""what listing and searching an agency's credentials needs

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06

Reserved for issue 12; its schema change lands with the work that needs it.
"""

from __future__ import annotations

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
