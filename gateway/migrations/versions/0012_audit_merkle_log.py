"""the audit log as an append-only Merkle tree, signed checkpoints and witnesses (issue 11)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06

Reserved in the chain now so that the three parts of issue 11 can each fill in their own
revision; until then it changes nothing.
"""

from __future__ import annotations

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
