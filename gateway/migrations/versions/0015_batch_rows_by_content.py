"""issue-batch rows recognised by their content (or an explicit ref), not by the file's name

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06

Reserved for issue 12; its schema change lands with the work that needs it.
"""

from __future__ import annotations

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
