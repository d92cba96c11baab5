"""delegated use (委托用证)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06

A holder delegates a credential to an agent's wallet (``delegations``): the delegate's name, the
purposes, until when, and the delegated copy the agent receives, a credential row of its own
status list entry that names its original (``credentials.delegated_from``). A use record says
when a delegate showed the credential (``reference_uses.delegation_id``, ``delegate_name``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("credentials") as batch:
        batch.add_column(sa.Column("delegated_from", sa.String(40), nullable=True))
        batch.create_index("ix_credentials_delegated_from", ["delegated_from"])
    with op.batch_alter_table("reference_uses") as batch:
        batch.add_column(sa.Column("delegation_id", sa.String(40), nullable=True))
        batch.add_column(sa.Column("delegate_name", sa.String(64), nullable=True))
    op.create_table(
        "delegations",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("credential_id", sa.String(40), sa.ForeignKey("credentials.id"), nullable=False),
        sa.Column(
            "copy_id", sa.String(40), sa.ForeignKey("credentials.id"), nullable=False, unique=True
        ),
        sa.Column("delegate_name", sa.String(64), nullable=False),
        sa.Column("purposes", sa.JSON, nullable=False),
        sa.Column("until", sa.BigInteger, nullable=False),
        sa.Column("delegator_kid", sa.String(64), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("revoked_at", sa.BigInteger, nullable=True),
    )
    op.create_index("ix_delegations_credential_id", "delegations", ["credential_id"])


def downgrade() -> None:
    op.drop_index("ix_delegations_credential_id", table_name="delegations")
    op.drop_table("delegations")
    with op.batch_alter_table("reference_uses") as batch:
        batch.drop_column("delegate_name")
        batch.drop_column("delegation_id")
    with op.batch_alter_table("credentials") as batch:
        batch.drop_index("ix_credentials_delegated_from")
        batch.drop_column("delegated_from")
