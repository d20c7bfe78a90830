"""Who at the client asked for a backchannel request (``requested_by``), for its audit trail.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ciba_audit") as batch:
        batch.add_column(sa.Column("requested_by", sa.String(200), nullable=True))
        batch.create_index("ix_ciba_audit_requested_by", ["requested_by"])


def downgrade() -> None:
    with op.batch_alter_table("ciba_audit") as batch:
        batch.drop_index("ix_ciba_audit_requested_by")
        batch.drop_column("requested_by")
