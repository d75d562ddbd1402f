"""Case rows: every transition is a conditional UPDATE, so two deciders can never both win."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.cases import CaseStatus, Decision, SlackUser
from store.db import rowcount
from store.models import OPEN_STATUSES, Case, SlackMessage


def _insert_new_statement(dialect_insert: Any) -> Any:
    table = Case.__table__
    return dialect_insert(table).on_conflict_do_nothing(index_elements=["case_id"]).returning(table.c.id)


# Built once, values bound at execution (a Core insert of the table skips the ORM's per-statement work).
_INSERT_NEW = {"postgresql": _insert_new_statement(postgresql.insert), "sqlite": _insert_new_statement(sqlite.insert)}


def decision_of(case: Case) -> Decision | None:
    """The decision a case row holds (None while pending): the one shape every reader of a decision uses."""
    if not (case.outcome and case.decided_by and case.decided_at):
        return None
    return Decision(
        outcome=CaseStatus(case.outcome),
        decided_by=SlackUser(case.decided_by, case.decided_by_team, case.decided_by_name),
        decided_at=case.decided_at,
        tier=case.decided_tier or case.tier,
        final_text=case.final_text,
        final_action=case.final_action,
        reason=case.reason,
        note=case.note,
        checklist=tuple(case.checklist or ()),
        edit_distance=case.edit_distance,
        edit_ratio=case.edit_ratio,
    )


async def get_case(session: AsyncSession, case_id: str) -> Case | None:
    return (await session.execute(select(Case).where(Case.case_id == case_id))).scalar_one_or_none()


async def insert_new_case(session: AsyncSession, values: dict[str, Any]) -> Case | None:
    """Store a case unless its case_id is already stored, in one statement with no SELECT before it: a second
    inserter of the same case_id waits for the first to commit, then inserts nothing. None if nothing was stored."""
    new_id = (await session.execute(_INSERT_NEW[session.get_bind().dialect.name], values)).scalar_one_or_none()
    return None if new_id is None else Case(id=new_id, **values)


async def record_decision(session: AsyncSession, case_id: str, *, now: datetime, **decision: Any) -> Case | None:
    """Move an open case to its decided state. Returns the decided case (the UPDATE returns the row, and the copy
    this session already holds is refreshed from it: no second read), or None if someone else got there first."""
    result = await session.execute(
        update(Case)
        .where(Case.case_id == case_id, Case.status.in_(OPEN_STATUSES))
        .values(**decision, due_at=None, updated_at=now, version=Case.version + 1)
        .returning(Case)
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    return result.scalar_one_or_none()


async def record_card_posted(
    session: AsyncSession, case: Case, *, ts: str, now: datetime, permalink: str | None = None
) -> bool:
    """Remember the card's ts once; a second writer (a replica that also posted) changes nothing."""
    result = await session.execute(
        update(Case)
        .where(Case.case_id == case.case_id, Case.message_ts.is_(None))
        .values(message_ts=ts, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if not rowcount(result):
        return False
    session.add(
        SlackMessage(
            case_id=case.case_id, kind="card", tier=1, channel=case.channel, ts=ts, permalink=permalink, created_at=now
        )
    )
    return True


async def claim_due_cases(session: AsyncSession, *, now: datetime, limit: int) -> list[Case]:
    """Pending cases whose next SLA moment has come, locked for this transaction; other sweepers skip them."""
    statement = (
        select(Case)
        .where(Case.due_at <= now, Case.status.in_(OPEN_STATUSES))
        .order_by(Case.due_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list((await session.execute(statement)).scalars())


async def advance_case(session: AsyncSession, case: Case, *, now: datetime, **values: Any) -> int | None:
    """Conditional on the version the sweep read: a decision or another sweeper in between wins."""
    result = await session.execute(
        update(Case)
        .where(Case.id == case.id, Case.version == case.version, Case.status.in_(OPEN_STATUSES))
        .values(**values, updated_at=now, version=Case.version + 1)
        .returning(Case.version)
        .execution_options(synchronize_session=False)
    )
    return result.scalar_one_or_none()


async def start_tier_clock(
    session: AsyncSession, case_id: str, *, now: datetime, tier: int, **schedule: Any
) -> int | None:
    """Start a paged tier's SLA clock, once: the tier's page was delivered (or can never be). Conditional, so a
    second replica delivering or adopting the same page changes nothing. The new version, or None."""
    result = await session.execute(
        update(Case)
        .where(
            Case.case_id == case_id, Case.tier == tier, Case.tier_started_at.is_(None), Case.status.in_(OPEN_STATUSES)
        )
        .values(**schedule, updated_at=now, version=Case.version + 1)
        .returning(Case.version)
        .execution_options(synchronize_session=False)
    )
    return result.scalar_one_or_none()


async def set_claim(
    session: AsyncSession, case_id: str, *, user_id: str | None, name: str | None, expected: str | None, now: datetime
) -> int | None:
    """Claim (expected None) or unclaim (expected = the claimer); conditional, so two claimers cannot both win."""
    holder = Case.claimed_by.is_(None) if expected is None else Case.claimed_by == expected
    result = await session.execute(
        update(Case)
        .where(Case.case_id == case_id, Case.status.in_(OPEN_STATUSES), holder)
        .values(
            claimed_by=user_id,
            claimed_by_name=name,
            claimed_at=now if user_id else None,
            updated_at=now,
            version=Case.version + 1,
        )
        .returning(Case.version)
        .execution_options(synchronize_session=False)
    )
    return result.scalar_one_or_none()


async def case_messages(
    session: AsyncSession, case_id: str, kinds: tuple[str, ...] = ("card", "page")
) -> list[SlackMessage]:
    return list(
        (
            await session.execute(
                select(SlackMessage)
                .where(SlackMessage.case_id == case_id, SlackMessage.kind.in_(kinds))
                .order_by(SlackMessage.id)
            )
        ).scalars()
    )


async def set_permalink(session: AsyncSession, message_id: int, permalink: str) -> bool:
    result = await session.execute(
        update(SlackMessage)
        .where(SlackMessage.id == message_id, SlackMessage.permalink.is_(None))
        .values(permalink=permalink)
        .execution_options(synchronize_session=False)
    )
    return bool(rowcount(result))


async def record_message(session: AsyncSession, message: SlackMessage) -> bool:
    """Remember a posted message once (a replica that adopted the same message changes nothing)."""
    exists = (
        await session.execute(
            select(SlackMessage.id).where(SlackMessage.channel == message.channel, SlackMessage.ts == message.ts)
        )
    ).scalar_one_or_none()
    if exists is not None:
        return False
    session.add(message)
    return True


async def settled_among(session: AsyncSession, case_ids: list[str]) -> list[str]:
    """Which of these cases are decided, or unhandled past their last tier (one indexed lookup for all)."""
    rows = await session.execute(
        select(Case.case_id).where(
            Case.case_id.in_(case_ids), (Case.status.not_in(OPEN_STATUSES)) | (Case.unhandled_at.is_not(None))
        )
    )
    return list(rows.scalars())


async def pending_load(session: AsyncSession) -> list[tuple[str, int, int]]:
    """(queue, tier, open cases), by SQL aggregate."""
    rows = await session.execute(
        select(Case.queue, Case.tier, func.count())
        .where(Case.status.in_(OPEN_STATUSES))
        .group_by(Case.queue, Case.tier)
        .order_by(Case.queue, Case.tier)
    )
    return [(queue, tier, count) for queue, tier, count in rows.all()]


async def pending_cases(session: AsyncSession, *, queue: str | None, limit: int) -> tuple[list[Case], int]:
    """The soonest-due pending cases (of one queue, or all), and how many are pending in all."""
    where = [Case.status.in_(OPEN_STATUSES)] + ([Case.queue == queue] if queue else [])
    total = (await session.execute(select(func.count()).select_from(Case).where(*where))).scalar_one()
    rows = (await session.execute(select(Case).where(*where).order_by(Case.tier_deadline).limit(limit))).scalars().all()
    return list(rows), int(total)


async def oldest_pending(session: AsyncSession) -> Case | None:
    return (
        await session.execute(select(Case).where(Case.status.in_(OPEN_STATUSES)).order_by(Case.created_at).limit(1))
    ).scalar_one_or_none()


async def card_links(session: AsyncSession, case_ids: list[str]) -> dict[str, str]:
    if not case_ids:
        return {}
    rows = await session.execute(
        select(SlackMessage.case_id, SlackMessage.permalink).where(
            SlackMessage.case_id.in_(case_ids), SlackMessage.kind == "card", SlackMessage.permalink.is_not(None)
        )
    )
    return {case_id: link for case_id, link in rows.all() if link is not None}  # none are: the query leaves them out
