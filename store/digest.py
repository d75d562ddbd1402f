"""SQL aggregates for the daily digest. Nothing here loads rows to count them in Python."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession

from store.models import AuditEvent, Case, SlackMessage


def _seconds_to_decision(session: AsyncSession) -> ColumnElement[Any]:
    """Seconds from arrival to decision: numeric on PostgreSQL (a Decimal), real on SQLite (a float)."""
    if session.get_bind().dialect.name == "postgresql":
        return func.extract("epoch", Case.decided_at - Case.created_at)
    return (func.julianday(Case.decided_at) - func.julianday(Case.created_at)) * literal_column("86400.0")


def _in(column: Any, start: datetime, end: datetime) -> ColumnElement[bool]:
    return and_(column >= start, column < end)


def _queue_filter(queue: str | None) -> list[ColumnElement[bool]]:
    return [Case.queue == queue] if queue else []


async def counts_by_queue(session: AsyncSession, where: list[ColumnElement[bool]]) -> dict[str, int]:
    rows = await session.execute(select(Case.queue, func.count()).where(*where).group_by(Case.queue))
    return {queue: int(n) for queue, n in rows.all()}


async def received(session: AsyncSession, start: datetime, end: datetime, queue: str | None = None) -> dict[str, int]:
    return await counts_by_queue(session, [_in(Case.created_at, start, end), *_queue_filter(queue)])


async def outcomes(
    session: AsyncSession, start: datetime, end: datetime, queue: str | None = None
) -> dict[str, dict[str, int]]:
    rows = await session.execute(
        select(Case.queue, Case.outcome, func.count())
        .where(_in(Case.decided_at, start, end), *_queue_filter(queue))
        .group_by(Case.queue, Case.outcome)
    )
    result: dict[str, dict[str, int]] = {}
    for name, outcome, n in rows.all():
        if outcome is not None:  # a decided case always has one; the column is empty while a case is pending
            result.setdefault(name, {})[outcome] = int(n)
    return result


async def pending_now(session: AsyncSession, queue: str | None = None) -> dict[str, int]:
    return await counts_by_queue(session, [Case.status == "pending", *_queue_filter(queue)])


async def late_decisions(
    session: AsyncSession, start: datetime, end: datetime, queue: str | None = None
) -> dict[str, int]:
    return await counts_by_queue(
        session, [_in(Case.decided_at, start, end), Case.decided_at > Case.sla_deadline, *_queue_filter(queue)]
    )


async def breaches(session: AsyncSession, start: datetime, end: datetime, queue: str | None = None) -> dict[str, int]:
    rows = await session.execute(
        select(Case.queue, func.count())
        .select_from(AuditEvent)
        .join(Case, Case.case_id == AuditEvent.case_id)
        .where(AuditEvent.action == "sla_breached", _in(AuditEvent.at, start, end), *_queue_filter(queue))
        .group_by(Case.queue)
    )
    return {name: int(n) for name, n in rows.all()}


async def mean_edit_ratio(
    session: AsyncSession, start: datetime, end: datetime, queue: str | None = None
) -> dict[str, float]:
    rows = await session.execute(
        select(Case.queue, func.avg(Case.edit_ratio))
        .where(_in(Case.decided_at, start, end), Case.outcome == "edited", *_queue_filter(queue))
        .group_by(Case.queue)
    )
    return {name: float(avg) for name, avg in rows.all() if avg is not None}


async def decision_time_percentile(
    session: AsyncSession, start: datetime, end: datetime, fraction: float, queue: str | None = None
) -> float | None:
    """Nearest-rank percentile of seconds from arrival to decision (the value at rank ceil(fraction × n))."""
    seconds = _seconds_to_decision(session)
    where = [_in(Case.decided_at, start, end), *_queue_filter(queue)]
    n = int((await session.execute(select(func.count()).select_from(Case).where(*where))).scalar_one())
    if n == 0:
        return None
    rank = max(math.ceil(fraction * n), 1) - 1
    value = (await session.execute(select(seconds).where(*where).order_by(seconds).offset(rank).limit(1))).scalar_one()
    return round(float(value), 3)


async def top_reasons(
    session: AsyncSession, start: datetime, end: datetime, queue: str | None = None, limit: int = 5
) -> list[tuple[str, int]]:
    reason = Case.payload["reason_for_escalation"].as_string()
    rows = await session.execute(
        select(reason, func.count().label("n"))
        .where(_in(Case.created_at, start, end), *_queue_filter(queue))
        .group_by(reason)
        .order_by(func.count().desc(), reason)
        .limit(limit)
    )
    return [(str(r), int(n)) for r, n in rows.all()]


async def top_rejections(
    session: AsyncSession, start: datetime, end: datetime, queue: str | None = None, limit: int = 5
) -> list[tuple[str, int]]:
    rows = await session.execute(
        select(Case.reason, func.count())
        .where(_in(Case.decided_at, start, end), Case.outcome == "rejected", *_queue_filter(queue))
        .group_by(Case.reason)
        .order_by(func.count().desc(), Case.reason)
        .limit(limit)
    )
    return [(str(r), int(n)) for r, n in rows.all()]


async def reviewer_load(
    session: AsyncSession, start: datetime, end: datetime, queue: str | None = None
) -> list[tuple[str, str | None, int]]:
    rows = await session.execute(
        select(Case.decided_by, func.max(Case.decided_by_name), func.count())
        .where(_in(Case.decided_at, start, end), *_queue_filter(queue))
        .group_by(Case.decided_by)
        .order_by(Case.decided_by)
    )
    return [(str(u), name, int(n)) for u, name, n in rows.all()]


async def oldest_pending(
    session: AsyncSession, queue: str | None = None, limit: int = 5
) -> list[tuple[Case, str | None]]:
    cases = (
        (
            await session.execute(
                select(Case)
                .where(Case.status == "pending", *_queue_filter(queue))
                .order_by(Case.created_at)
                .limit(limit)
            )
        )
        .scalars()
        .all()
    )
    if not cases:
        return []
    links = dict(
        (
            await session.execute(
                select(SlackMessage.case_id, SlackMessage.permalink).where(
                    SlackMessage.case_id.in_([c.case_id for c in cases]), SlackMessage.kind == "card"
                )
            )
        ).all()
    )
    return [(case, links.get(case.case_id)) for case in cases]


async def killswitch_events(session: AsyncSession, start: datetime, end: datetime) -> list[AuditEvent]:
    return list(
        (
            await session.execute(
                select(AuditEvent)
                .where(AuditEvent.action.in_(["killed", "resumed"]), _in(AuditEvent.at, start, end))
                .order_by(AuditEvent.id)
            )
        ).scalars()
    )
