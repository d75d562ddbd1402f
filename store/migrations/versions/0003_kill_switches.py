"""Kill switches, and the automation state a case arrived under.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

import store.models

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kill_switches",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("scope", sa.String(length=200), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=32), nullable=False),
        sa.Column("created_by_name", sa.String(length=256), nullable=True),
        sa.Column("created_at", store.models.UTCDateTime(), nullable=False),
        sa.Column("lifted_at", store.models.UTCDateTime(), nullable=True),
        sa.Column("lifted_by", sa.String(length=32), nullable=True),
        sa.Column("lifted_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("kill_switches", schema=None) as batch_op:
        batch_op.create_index(
            "uq_kill_switches_active_scope",
            ["scope"],
            unique=True,
            postgresql_where=sa.text("lifted_at IS NULL"),
            sqlite_where=sa.text("lifted_at IS NULL"),
        )
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("paused_mode", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_column("paused_mode")
    op.drop_table("kill_switches")
