"""witnesses of the audit log: what each peer's log looked like when last seen, and cosignatures

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06

Reserved in the chain now so that the witness part of issue 11 can fill in its own revision;
until then it changes nothing.
"""

from __future__ import annotations

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
