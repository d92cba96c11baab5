"""what listing and searching an agency's credentials needs

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06

``GET /api/v1/credentials`` and ``ecert credentials list`` (issue 12, ``gateway.credential_query``)
read one agency's credentials newest first, a page at a time by keyset on ``(issued_at, id)``,
and find those expiring within some days. Two indexes serve that without reading every
credential of the agency: ``(agency_id, issued_at, id)``, which gives the order and the page's
start, and the issue-date filters; ``(agency_id, valid_until)`` for the expiry filters. A
search by the holder's code uses the index on ``holder_code`` (0001), one by 证照标识 the unique
``identifier``; a search by part of a name reads the agency's rows in the first index's order
and stops once a page is full.
"""

from __future__ import annotations

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_credentials_agency_issued", "credentials", ["agency_id", "issued_at", "id"])
    op.create_index(
        "ix_credentials_agency_valid_until", "credentials", ["agency_id", "valid_until"]
    )


def downgrade() -> None:
    op.drop_index("ix_credentials_agency_valid_until", table_name="credentials")
    op.drop_index("ix_credentials_agency_issued", table_name="credentials")
