"""CIBA audit records and subject links (id_token_hint).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ciba_audit",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("client_id", sa.String(255), nullable=False),
        sa.Column("requested_at", sa.Float(), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("detail", sa.String(64), nullable=True),
        sa.Column("subject", sa.String(128), nullable=True),
        sa.Column("acr", sa.String(128), nullable=True),
        sa.Column("delivery_mode", sa.String(8), nullable=True),
        sa.Column("finished_at", sa.Float(), nullable=True),
        sa.Column("tokens_issued_at", sa.Float(), nullable=True),
    )
    op.create_index("ix_ciba_audit_client_id", "ciba_audit", ["client_id"])
    op.create_index("ix_ciba_audit_requested_at", "ciba_audit", ["requested_at"])
    op.create_table(
        "subject_links",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("client_id", sa.String(255), nullable=False),
        sa.Column("identity", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
    )
    op.create_index("ix_subject_links_expires_at", "subject_links", ["expires_at"])


def downgrade() -> None:
    op.drop_table("subject_links")
    op.drop_table("ciba_audit")
