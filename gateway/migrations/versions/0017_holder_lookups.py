"""holder look-ups in one index; the delegated copies' index holds only the copies

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07

The holder rule (issue 12, ``gateway.holder_rule``) asks for a holder's live credentials that
are not delegated copies: ``holder_code IN (…) AND delegated_from IS NULL``. With statistics of
a smaller table (a gateway that has grown since its last ANALYZE) PostgreSQL's planner took
``delegated_from IS NULL`` to match a dozen rows and read every credential through
``ix_credentials_delegated_from`` to AND it with the holder index: 4,000 index entries read for
a group of 8 issuances at 4,000 credentials, growing with the table (issue 13's profile:
a fifth of an issuing group's time at 12,000). SQLite without statistics did the same. The
index now holds only the copies (``WHERE delegated_from IS NOT NULL``): it still finds a
credential's copies, and no plan can read every credential through it. Likewise, for a holder
who holds credentials, the planner could AND the holder index with every credential of the type
(``ix_credentials_agency_type``); the holder index is now ``(holder_code, type)``, which answers
both conditions alone and still serves a search by holder code.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

_ONLY_COPIES = sa.text("delegated_from IS NOT NULL")


def upgrade() -> None:
    op.drop_index("ix_credentials_holder_code", table_name="credentials")
    op.create_index("ix_credentials_holder_code", "credentials", ["holder_code", "type"])
    op.drop_index("ix_credentials_delegated_from", table_name="credentials")
    op.create_index(
        "ix_credentials_delegated_from",
        "credentials",
        ["delegated_from"],
        postgresql_where=_ONLY_COPIES,
        sqlite_where=_ONLY_COPIES,
    )


def downgrade() -> None:
    op.drop_index("ix_credentials_delegated_from", table_name="credentials")
    op.create_index("ix_credentials_delegated_from", "credentials", ["delegated_from"])
    op.drop_index("ix_credentials_holder_code", table_name="credentials")
    op.create_index("ix_credentials_holder_code", "credentials", ["holder_code"])
