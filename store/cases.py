"""Case rows: every transition is a conditional UPDATE, so two deciders can never both win."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from store.models import OPEN_STATUSES, Case, SlackMessage


async def get_case(session: AsyncSession, case_id: str) -> Case | None:
    return (await session.execute(select(Case).where(Case.case_id == case_id))).scalar_one_or_none()


async def record_decision(session: AsyncSession, case_id: str, *, now: datetime, **decision: Any) -> int | None:
    """Move an open case to its decided state. Returns the new version, or None if someone else got there first."""
    result = await session.execute(
        update(Case)
        .where(Case.case_id == case_id, Case.status.in_(OPEN_STATUSES))
        .values(**decision, due_at=None, updated_at=now, version=Case.version + 1)
        .returning(Case.version)
        .execution_options(synchronize_session=False)
    )
    return result.scalar_one_or_none()


async def record_card_posted(session: AsyncSession, case: Case, *, ts: str, now: datetime) -> bool:
    """Remember the card's ts once; a second writer (a replica that also posted) changes nothing."""
    result = await session.execute(
        update(Case)
        .where(Case.case_id == case.case_id, Case.message_ts.is_(None))
        .values(message_ts=ts, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if not result.rowcount:
        return False
    session.add(SlackMessage(case_id=case.case_id, kind="card", tier=case.tier, channel=case.channel, ts=ts, created_at=now))
    return True
