"""agency operators who sign in to the console (password + TOTP) and their sessions

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06

Reserved for issue 12; its schema change lands with the work that needs it.
"""

from __future__ import annotations

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
