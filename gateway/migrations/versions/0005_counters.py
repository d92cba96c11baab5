"""counters (OpenID4VP verifiers) and their presentation requests

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06

Counters ask wallets for presentations. ``verifiers`` holds each counter
(name, role, the SHA-256 of its API key secret); its federation key is a ``federation_keys``
row owned by its id, as an agency's is. ``presentation_requests`` holds each OpenID4VP request
a counter made: what it asked, the signed request object, the SHA-256 of its nonce, when it
expires and, once answered, the result. Nothing existing changes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "verifiers",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("role", sa.String(64), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "presentation_requests",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("verifier_id", sa.String(40), sa.ForeignKey("verifiers.id"), nullable=False),
        sa.Column("credential_type", sa.String(64), nullable=False),
        sa.Column("fields", sa.JSON, nullable=False),
        sa.Column("purpose", sa.String(800), nullable=False),
        sa.Column("nonce_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("state", sa.String(64), nullable=False, unique=True),
        sa.Column("token", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
        sa.Column("answered_at", sa.BigInteger, nullable=True),
        sa.Column("reason_code", sa.String(40), nullable=True),
        sa.Column("result", sa.JSON, nullable=True),
    )
    op.create_index(
        "ix_presentation_requests_verifier_id", "presentation_requests", ["verifier_id"]
    )
    op.create_index("ix_presentation_requests_expires_at", "presentation_requests", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_presentation_requests_expires_at", table_name="presentation_requests")
    op.drop_index("ix_presentation_requests_verifier_id", table_name="presentation_requests")
    op.drop_table("presentation_requests")
    op.drop_table("verifiers")
