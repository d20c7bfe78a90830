"""What a backchannel request asked the person to approve: its type and digest, never its text.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Batch mode: SQLite cannot drop columns in place (downgrade); PostgreSQL alters directly.
    with op.batch_alter_table("ciba_audit") as batch:
        batch.add_column(sa.Column("approval_type", sa.String(64), nullable=True))
        batch.add_column(sa.Column("approval_digest", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ciba_audit") as batch:
        batch.drop_column("approval_digest")
        batch.drop_column("approval_type")
