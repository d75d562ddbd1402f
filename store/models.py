"""Tables. The database is the truth; Slack messages, scheduler jobs and webhooks are views of these rows."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Float, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from bot.domain.cases import DECIDED, OPEN_STATUSES, CaseStatus
from bot.domain.outbox import DeadReason

__all__ = ["DECIDED", "OPEN_STATUSES", "CaseStatus", "DeadReason"]  # the column vocabulary, re-exported for store/

# SQLite only autoincrements INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit identity.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Stored as naive UTC on both databases, always handed back timezone-aware."""

    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None else None


class Base(DeclarativeBase):
    pass


class Case(Base):
    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(String(128), unique=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    payload_hash: Mapped[str] = mapped_column(String(64))
    tenant_id: Mapped[str | None] = mapped_column(String(128))
    skill: Mapped[str | None] = mapped_column(String(64))
    risk_level: Mapped[str | None] = mapped_column(String(16))
    model_name: Mapped[str | None] = mapped_column(String(256))

    queue: Mapped[str] = mapped_column(String(40))
    tier: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(16), default=CaseStatus.PENDING.value)
    version: Mapped[int] = mapped_column(Integer, default=1)
    channel: Mapped[str] = mapped_column(String(32))
    message_ts: Mapped[str | None] = mapped_column(String(32))

    sla_deadline: Mapped[datetime] = mapped_column(UTCDateTime)
    tier_deadline: Mapped[datetime] = mapped_column(UTCDateTime)
    # The next moment the sweep must look at this case (reminder or breach); NULL once nothing is due.
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reminded_tier: Mapped[int] = mapped_column(Integer, default=0)
    repeats: Mapped[int] = mapped_column(Integer, default=0)
    tier_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # NULL once this tier's reminder is sent (or if there is none).
    remind_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Past the last tier with every re-page spent: the ops channel was alerted. Still decidable.
    unhandled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The kill-switch mode in force for this case's context when it arrived (NULL: automation was on).
    paused_mode: Mapped[str | None] = mapped_column(String(16))

    claimed_by: Mapped[str | None] = mapped_column(String(32))
    claimed_by_name: Mapped[str | None] = mapped_column(String(256))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    outcome: Mapped[str | None] = mapped_column(String(16))
    final_text: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(Text)
    checklist: Mapped[list[str] | None] = mapped_column(JSON)
    decided_by: Mapped[str | None] = mapped_column(String(32))
    decided_by_team: Mapped[str | None] = mapped_column(String(32))
    decided_by_name: Mapped[str | None] = mapped_column(String(256))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_tier: Mapped[int | None] = mapped_column(Integer)
    # The structured action exactly as approved (as proposed, or as the reviewer edited it).
    final_action: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Levenshtein distance between draft and final text, and the same normalised to 0..1 (0: unchanged).
    edit_distance: Mapped[int | None] = mapped_column(Integer)
    edit_ratio: Mapped[float | None] = mapped_column(Float)

    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index(
            "ix_cases_due_at",
            "due_at",
            postgresql_where=text("due_at IS NOT NULL"),
            sqlite_where=text("due_at IS NOT NULL"),
        ),
        Index("ix_cases_queue_status", "queue", "status"),
        Index("ix_cases_decided_at", "decided_at"),
        Index("ix_cases_created_at", "created_at"),
    )


class SlackMessage(Base):
    """Which Slack message shows which case: the card, pages, reminders, thread notes."""

    __tablename__ = "slack_messages"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(String(128), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    tier: Mapped[int] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(32))
    ts: Mapped[str] = mapped_column(String(32))
    thread_ts: Mapped[str | None] = mapped_column(String(32))
    permalink: Mapped[str | None] = mapped_column(String(512))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        UniqueConstraint("channel", "ts", name="uq_slack_messages_channel_ts"),
        Index("ix_slack_messages_case_kind", "case_id", "kind"),
    )


class AuditEvent(Base):
    """Append-only. Each row hashes the previous row's hash with its own content; triggers refuse UPDATE and DELETE."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    case_id: Mapped[str | None] = mapped_column(String(128), index=True)
    action: Mapped[str] = mapped_column(String(40))
    actor_type: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[str | None] = mapped_column(String(64))
    actor_team: Mapped[str | None] = mapped_column(String(32))
    actor_name: Mapped[str | None] = mapped_column(String(256))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)

    __table_args__ = (Index("ix_audit_events_action_at", "action", "at"),)


class OutboxItem(Base):
    """Work that must be said outside (Slack posts and updates, pages, webhooks), written with the state change."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    dedupe_key: Mapped[str] = mapped_column(String(255), unique=True)
    case_id: Mapped[str | None] = mapped_column(String(128), index=True)
    # Items with the same ordering key are delivered one at a time, oldest first (cards in a channel).
    ordering_key: Mapped[str | None] = mapped_column(String(160))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claim_token: Mapped[str | None] = mapped_column(String(32))
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set when the item will never be delivered: cancelled by a decision, or given up after its deadline.
    dead_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Why it will never be delivered (DeadReason): cancelled, dead (refused for good, or out of time), dropped.
    dead_reason: Mapped[str | None] = mapped_column(String(16))
    # It kept failing at the head of its ordering line past the bounded wait: the items behind it may pass.
    line_released_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index(
            "ix_outbox_due",
            "next_attempt_at",
            postgresql_where=text("delivered_at IS NULL AND dead_at IS NULL"),
            sqlite_where=text("delivered_at IS NULL AND dead_at IS NULL"),
        ),
        Index(
            "ix_outbox_ordering_open",
            "ordering_key",
            "id",
            postgresql_where=text("delivered_at IS NULL AND dead_at IS NULL"),
            sqlite_where=text("delivered_at IS NULL AND dead_at IS NULL"),
        ),
    )


class SlackRequestKey(Base):
    """A signed Slack request body seen recently (its sha256): the same body again within Slack's 5-minute
    signature window is a replay or a retry, dropped on whichever replica it reaches."""

    __tablename__ = "slack_request_keys"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_slack_request_keys_seen_at", "seen_at"),)


class KillSwitch(Base):
    """A pause of the automation for a scope (`all`, `queue:billing`, `tenant:acme`, `model:…`, `skill:…`)."""

    __tablename__ = "kill_switches"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    scope: Mapped[str] = mapped_column(String(200))
    mode: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(32))
    created_by_name: Mapped[str | None] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    lifted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lifted_by: Mapped[str | None] = mapped_column(String(32))
    lifted_reason: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        # At most one active switch per scope, enforced by the database (two operators at once: one wins).
        Index(
            "uq_kill_switches_active_scope",
            "scope",
            unique=True,
            postgresql_where=text("lifted_at IS NULL"),
            sqlite_where=text("lifted_at IS NULL"),
        ),
    )


class DigestRun(Base):
    """One digest post, claimed by key (`all:2026-11-21`, `queue:billing:2026-11-21`) so only one process posts it."""

    __tablename__ = "digest_runs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    channel: Mapped[str] = mapped_column(String(32))
    window_start: Mapped[datetime] = mapped_column(UTCDateTime)
    window_end: Mapped[datetime] = mapped_column(UTCDateTime)
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime)
