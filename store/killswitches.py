"""Kill-switch rows: at most one active switch per scope (a partial unique index decides races)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from store.db import rowcount
from store.models import KillSwitch


async def active_switches(session: AsyncSession) -> list[KillSwitch]:
    return list(
        (
            await session.execute(select(KillSwitch).where(KillSwitch.lifted_at.is_(None)).order_by(KillSwitch.id))
        ).scalars()
    )


async def active_for_scope(session: AsyncSession, scope: str) -> KillSwitch | None:
    return (
        await session.execute(select(KillSwitch).where(KillSwitch.scope == scope, KillSwitch.lifted_at.is_(None)))
    ).scalar_one_or_none()


async def lift(session: AsyncSession, scope: str, *, by: str, reason: str, now: datetime) -> KillSwitch | None:
    switch = await active_for_scope(session, scope)
    if switch is None:
        return None
    result = await session.execute(
        update(KillSwitch)
        .where(KillSwitch.id == switch.id, KillSwitch.lifted_at.is_(None))
        .values(lifted_at=now, lifted_by=by, lifted_reason=reason)
    )
    return switch if rowcount(result) else None
