"""wallet issuance (OpenID4VCI pre-authorised code flow): offers and nonces

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06

Issue 9: an agency may hand a credential to the holder's wallet. ``wallet_offers`` holds each
offer by the SHA-256 of its pre-authorised code (the code and the tx_code PIN are never
stored), when it expires, how many wrong PINs it has seen, and the access token it was redeemed
for; ``wallet_nonces`` the ``c_nonce`` values of the Nonce Endpoint, each used at most once.
Nothing existing changes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "wallet_offers",
        sa.Column("code_hash", sa.String(64), primary_key=True),
        sa.Column("credential_id", sa.String(40), sa.ForeignKey("credentials.id"), nullable=False),
        sa.Column("configuration_id", sa.String(64), nullable=False),
        sa.Column("pin_hash", sa.String(64), nullable=False),
        sa.Column("pin_failures", sa.Integer, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
        sa.Column("redeemed_at", sa.BigInteger, nullable=True),
        sa.Column("token_hash", sa.String(64), nullable=True, unique=True),
        sa.Column("token_expires_at", sa.BigInteger, nullable=True),
        sa.Column("delivered_at", sa.BigInteger, nullable=True),
        sa.Column("holder_kid", sa.String(64), nullable=True),
    )
    op.create_index("ix_wallet_offers_credential_id", "wallet_offers", ["credential_id"])
    op.create_table(
        "wallet_nonces",
        sa.Column("nonce_hash", sa.String(64), primary_key=True),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
        sa.Column("used_at", sa.BigInteger, nullable=True),
    )
    op.create_index("ix_wallet_nonces_expires_at", "wallet_nonces", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_wallet_nonces_expires_at", table_name="wallet_nonces")
    op.drop_table("wallet_nonces")
    op.drop_index("ix_wallet_offers_credential_id", table_name="wallet_offers")
    op.drop_table("wallet_offers")
