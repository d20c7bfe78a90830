"""Approval evidence: what a person approved and its proof, sealed, for the retention period.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-09
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "approval_evidence",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("client_id", sa.String(255), nullable=False),
        sa.Column("sub", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.Column("sealed", sa.Text(), nullable=False),
    )
    op.create_index("ix_approval_evidence_client_id", "approval_evidence", ["client_id"])
    op.create_index("ix_approval_evidence_expires_at", "approval_evidence", ["expires_at"])


def downgrade() -> None:
    op.drop_table("approval_evidence")
