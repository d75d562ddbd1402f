"""SLA paging: tier start, reminder and unhandled times on cases; permalinks of posted messages.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

import store.models

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("tier_started_at", store.models.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("remind_due_at", store.models.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("unhandled_at", store.models.UTCDateTime(), nullable=True))
    with op.batch_alter_table("slack_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("permalink", sa.String(length=512), nullable=True))
        batch_op.create_index("ix_slack_messages_case_kind", ["case_id", "kind"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("slack_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_slack_messages_case_kind")
        batch_op.drop_column("permalink")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_column("unhandled_at")
        batch_op.drop_column("remind_due_at")
        batch_op.drop_column("tier_started_at")
