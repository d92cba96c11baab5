"""issue-batch rows recognised by their content (or an explicit ref), not by the file's name

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06

Issue 12: a register issued again under another file name (or another ``--batch-id``) was
issued again, because a row was known only as ``{batch id}:{ref}``. A credential issued from a
register now also records the row's identity, ``row_key`` (a hash of the type and the row's
``ref``, else of the type and subject; :mod:`gateway.batch_rows`), and its content,
``row_content`` (a hash of the type, subject and dates as the row gave them). A unique key on
``(agency_id, row_key)`` holds the rule whatever the file is called, however many runs race.

Both columns are NULL for credentials issued one by one and for those issued from a register
before this revision: a register run before it is still recognised by its batch id
(``batch_ref``), as it was. Nothing is backfilled: the raw row a hash is made of was never
stored.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("credentials") as batch:
        batch.add_column(sa.Column("row_key", sa.String(66), nullable=True))
        batch.add_column(sa.Column("row_content", sa.String(64), nullable=True))
    op.create_index("uq_credentials_row_key", "credentials", ["agency_id", "row_key"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_credentials_row_key", table_name="credentials")
    with op.batch_alter_table("credentials") as batch:
        batch.drop_column("row_content")
        batch.drop_column("row_key")
