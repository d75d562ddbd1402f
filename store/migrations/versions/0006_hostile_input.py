"""Hostile input: dead letters kept apart from cancellations, a bounded wait at the head of an ordering line,
and the Slack request bodies seen recently (replays are dropped on every replica).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

import store.models

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        # Why an item will never be delivered: cancelled (a decision made it pointless), dead (Slack or the
        # receiver refused it for good, or it ran out of time), dropped (an operator dropped it).
        batch_op.add_column(sa.Column("dead_reason", sa.String(length=16), nullable=True))
        # Set when an item kept failing at the head of its ordering line past the bounded wait: the items
        # behind it may pass from then on.
        batch_op.add_column(sa.Column("line_released_at", store.models.UTCDateTime(), nullable=True))
    # Existing dead rows: the only reasons before this revision were cancellations and give-ups.
    op.execute(
        "UPDATE outbox SET dead_reason = CASE WHEN last_error LIKE 'cancelled%' THEN 'cancelled' ELSE 'dead' END "
        "WHERE dead_at IS NOT NULL"
    )
    op.create_table(
        "slack_request_keys",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("seen_at", store.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    with op.batch_alter_table("slack_request_keys", schema=None) as batch_op:
        batch_op.create_index("ix_slack_request_keys_seen_at", ["seen_at"], unique=False)


def downgrade() -> None:
    op.drop_table("slack_request_keys")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("line_released_at")
        batch_op.drop_column("dead_reason")
