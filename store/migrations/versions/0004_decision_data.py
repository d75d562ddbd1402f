"""Decision data for webhooks and datasets: the action as approved, and the edit distance.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("final_action", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("edit_distance", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("edit_ratio", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_column("edit_ratio")
        batch_op.drop_column("edit_distance")
        batch_op.drop_column("final_action")
