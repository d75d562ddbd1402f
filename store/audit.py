"""The audit trail: append-only rows, each chained to the one before by SHA-256."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, Text, bindparam, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.audit import Actor, AuditAction
from store.db import stream_by_id
from store.models import AuditEvent

GENESIS_HASH = "0" * 64
# Any constant works; it only has to be the same in every replica.
_AUDIT_LOCK_KEY = 0x41554454  # "AUDT"


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _content(event: AuditEvent) -> dict[str, Any]:
    return {
        "case_id": event.case_id,
        "action": event.action,
        "actor_type": event.actor_type,
        "actor_id": event.actor_id,
        "actor_team": event.actor_team,
        "actor_name": event.actor_name,
        "at": event.at.isoformat(timespec="microseconds"),
        "details": event.details,
    }


def compute_hash(prev_hash: str, event: AuditEvent) -> str:
    return hashlib.sha256((prev_hash + canonical_json(_content(event))).encode("utf-8")).hexdigest()


_EVENTS = cast(Table, AuditEvent.__table__)  # declared with the ORM: always a Table, typed as any FromClause
_CONTENT_COLUMNS = ("case_id", "action", "actor_type", "actor_id", "actor_team", "actor_name", "at", "details")
_LOCK = text("SELECT pg_advisory_xact_lock(:key)")
_HEAD = select(_EVENTS.c.hash).order_by(_EVENTS.c.id.desc()).limit(1)
_APPEND = insert(_EVENTS).returning(_EVENTS.c.id)


def _chained_in_sql() -> Any:
    """One INSERT that reads the head and hashes sha256(prev_hash || content) itself: byte for byte
    compute_hash, as `content` is canonical_json(_content(event)) made in Python (verify_chain rechecks it)."""
    head = select(func.coalesce(_HEAD.scalar_subquery(), GENESIS_HASH).label("prev")).subquery("head")
    content = bindparam("content", type_=Text())
    digest = func.encode(func.sha256(func.convert_to(head.c.prev.concat(content), "UTF8")), "hex")
    values = select(*(bindparam(name, type_=_EVENTS.c[name].type) for name in _CONTENT_COLUMNS), head.c.prev, digest)
    return (
        insert(_EVENTS)
        .from_select([*_CONTENT_COLUMNS, "prev_hash", "hash"], values)
        .returning(_EVENTS.c.id, _EVENTS.c.prev_hash, _EVENTS.c.hash)
    )


# Statements built once, values bound at execution: no ORM unit of work per event.
_APPEND_CHAINED_IN_SQL = _chained_in_sql()


async def append_audit(
    session: AsyncSession,
    *,
    action: AuditAction,
    actor: Actor,
    at: datetime,
    case_id: str | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event inside the caller's transaction, so it commits with the state change it records.

    On PostgreSQL this takes the chain's lock until commit: make it the transaction's last statement."""
    event = AuditEvent(
        case_id=case_id,
        action=AuditAction(action).value,
        actor_type=actor.type.value,
        actor_id=actor.id,
        actor_team=actor.team,
        actor_name=actor.name,
        at=at,
        # Round-trip through canonical JSON so what we hash is exactly what the database gives back.
        details=json.loads(canonical_json(details or {})),
    )
    if session.get_bind().dialect.name == "postgresql":
        await _append_postgresql(session, event)
    else:
        await _append_sqlite(session, event)
    return event


async def _append_postgresql(session: AsyncSession, event: AuditEvent) -> None:
    # One chain across replicas: appenders take turns until their transaction ends. The INSERT is a statement
    # of its own, so its snapshot starts after the lock and sees the previous holder's row; and it is the only
    # one before the commit, so each appender holds the lock as briefly as it can.
    await session.execute(_LOCK, {"key": _AUDIT_LOCK_KEY})
    values = {name: getattr(event, name) for name in _CONTENT_COLUMNS}
    stored = await session.execute(_APPEND_CHAINED_IN_SQL, {**values, "content": canonical_json(_content(event))})
    event.id, event.prev_hash, event.hash = stored.one()


async def _append_sqlite(session: AsyncSession, event: AuditEvent) -> None:
    # Our transactions begin IMMEDIATE: nobody else writes until we commit.
    event.prev_hash = (await session.execute(_HEAD)).scalar() or GENESIS_HASH
    event.hash = compute_hash(event.prev_hash, event)
    values = {name: getattr(event, name) for name in (*_CONTENT_COLUMNS, "prev_hash", "hash")}
    event.id = (await session.execute(_APPEND, values)).scalar_one()


@dataclass(frozen=True)
class ChainBreak:
    event_id: int
    case_id: str | None
    problem: str


@dataclass(frozen=True)
class Anchor:
    """An event's id and hash kept outside the database (the daily digest posts one to Slack). The chain alone
    cannot show that its newest rows were deleted; a later copy of its head can."""

    event_id: int
    hash: str

    @classmethod
    def parse(cls, text: str) -> Anchor:
        event_id, sep, digest = text.strip().partition(":")
        if not sep or not event_id.isdigit() or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise ValueError(f"an anchor is EVENT_ID:SHA256 (64 hex digits), not {text!r}")
        return cls(int(event_id), digest)

    def __str__(self) -> str:
        return f"{self.event_id}:{self.hash}"


async def chain_head(session: AsyncSession) -> Anchor | None:
    row = (
        await session.execute(select(AuditEvent.id, AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1))
    ).first()
    return Anchor(row.id, row.hash) if row else None


@dataclass(frozen=True)
class ChainReport:
    checked: int
    breaks: list[ChainBreak]

    @property
    def ok(self) -> bool:
        return not self.breaks


async def verify_chain(session: AsyncSession, max_breaks: int = 20, anchors: Iterable[Anchor] = ()) -> ChainReport:
    """Recompute every hash in order; a changed row fails its own hash, a deleted one breaks the next link, and
    an anchor (a copy of an earlier head) that is missing or differs shows the newest rows were removed or rewritten."""
    breaks: list[ChainBreak] = []
    expected_prev = GENESIS_HASH
    checked = 0
    witnessed = {a.event_id: a for a in anchors}
    async for event in stream_by_id(session, AuditEvent):
        checked += 1
        if event.prev_hash != expected_prev:
            breaks.append(
                ChainBreak(event.id, event.case_id, "previous-hash link broken: a row before it was deleted or changed")
            )
        if compute_hash(event.prev_hash, event) != event.hash:
            breaks.append(ChainBreak(event.id, event.case_id, "content does not match its hash: this row was changed"))
        anchor = witnessed.pop(event.id, None)
        if anchor is not None and anchor.hash != event.hash:
            breaks.append(
                ChainBreak(
                    event.id, event.case_id, "differs from the copy kept outside the database: the chain was rewritten"
                )
            )
        expected_prev = event.hash
        if len(breaks) >= max_breaks:
            return ChainReport(checked, breaks)
    for anchor in sorted(witnessed.values(), key=lambda a: a.event_id):
        breaks.append(
            ChainBreak(
                anchor.event_id,
                None,
                "kept outside the database but missing here: events were deleted from the end of the chain",
            )
        )
    return ChainReport(checked, breaks[:max_breaks])


async def case_timeline(session: AsyncSession, case_id: str) -> list[AuditEvent]:
    return list(
        (
            await session.execute(select(AuditEvent).where(AuditEvent.case_id == case_id).order_by(AuditEvent.id))
        ).scalars()
    )


async def count_since(session: AsyncSession, action: AuditAction, since: datetime) -> int:
    return int(
        (
            await session.execute(
                select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action, AuditEvent.at >= since)
            )
        ).scalar_one()
    )
