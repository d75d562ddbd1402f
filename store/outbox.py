"""The outbox: outbound work queued in the same transaction as the state change, delivered after commit."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot.domain.outbox import DeadReason, OutboxKind, OutboxMessage
from store.db import rowcount
from store.models import OutboxItem


def _enqueue_statement(dialect_insert: Any) -> Any:
    return dialect_insert(OutboxItem.__table__).on_conflict_do_nothing(index_elements=["dedupe_key"])


# Built once, values bound at execution: a Core insert of the table skips the ORM's per-statement work.
_ENQUEUE = {"postgresql": _enqueue_statement(postgresql.insert), "sqlite": _enqueue_statement(sqlite.insert)}


async def enqueue(
    session: AsyncSession, message: OutboxMessage, *, now: datetime, not_before: datetime | None = None
) -> bool:
    """Queue a message once per dedupe key; a second enqueue of the same key is a no-op. True if queued now."""
    values = {
        "kind": message.kind.value,
        "dedupe_key": message.dedupe_key(),
        "case_id": message.about_case,
        "ordering_key": message.ordering_key(),
        "payload": message.model_dump(mode="json"),
        "attempts": 0,
        "next_attempt_at": not_before or now,
        "created_at": now,
    }
    result = await session.execute(_ENQUEUE[session.get_bind().dialect.name], values)
    return bool(rowcount(result))


def _open() -> Any:
    return and_(OutboxItem.delivered_at.is_(None), OutboxItem.dead_at.is_(None))


def _claimable(now: datetime) -> list[Any]:
    """Due, not held by a live lease, and first in line of its ordering key."""
    earlier = aliased(OutboxItem)
    blocked_by_earlier = exists().where(
        earlier.ordering_key == OutboxItem.ordering_key,
        earlier.id < OutboxItem.id,
        earlier.delivered_at.is_(None),
        earlier.dead_at.is_(None),
        # An item that kept failing at the head of its line past the bounded wait no longer holds the others.
        earlier.line_released_at.is_(None),
    )
    return [
        _open(),
        OutboxItem.next_attempt_at <= now,
        or_(OutboxItem.claimed_until.is_(None), OutboxItem.claimed_until < now),
        or_(OutboxItem.ordering_key.is_(None), ~blocked_by_earlier),
    ]


async def count_pending_now(session: AsyncSession, now: datetime) -> int:
    """Items a worker could claim now, or holds right now: zero means the outbox is idle until a retry falls due."""
    held = and_(_open(), OutboxItem.claimed_until >= now)
    rows = select(func.count()).select_from(OutboxItem).where(or_(and_(*_claimable(now)), held))
    return int((await session.execute(rows)).scalar_one())


async def claim_due(
    session: AsyncSession, *, now: datetime, lease: timedelta, token: str, limit: int
) -> list[OutboxItem]:
    """Claim claimable items (at most the oldest open one per ordering key) under a lease.

    One statement: rows another worker holds (row lock or unexpired lease) are skipped, never waited on.
    """
    due = (
        select(OutboxItem.id)
        .where(*_claimable(now))
        .order_by(OutboxItem.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    claimed = (
        update(OutboxItem)
        .where(OutboxItem.id.in_(due.scalar_subquery()))
        .values(claimed_until=now + lease, claim_token=token, attempts=OutboxItem.attempts + 1)
        .returning(OutboxItem)
        .execution_options(synchronize_session=False)
    )
    rows = list((await session.execute(claimed)).scalars())
    return sorted(rows, key=lambda row: row.id)


async def claim_next_in_line(
    session: AsyncSession, ordering_key: str, *, now: datetime, lease: timedelta, token: str
) -> OutboxItem | None:
    """The next claimable item of one ordering line, claimed under `token` (None if none is due)."""
    due = (
        select(OutboxItem.id)
        .where(OutboxItem.ordering_key == ordering_key, *_claimable(now))
        .order_by(OutboxItem.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    claimed = (
        update(OutboxItem)
        .where(OutboxItem.id == due.scalar_subquery())
        .values(claimed_until=now + lease, claim_token=token, attempts=OutboxItem.attempts + 1)
        .returning(OutboxItem)
        .execution_options(synchronize_session=False)
    )
    return (await session.execute(claimed)).scalar_one_or_none()


async def mark_delivered(session: AsyncSession, item_id: int, token: str, now: datetime) -> bool:
    result = await session.execute(
        update(OutboxItem)
        .where(OutboxItem.id == item_id, OutboxItem.claim_token == token, OutboxItem.delivered_at.is_(None))
        .values(delivered_at=now, claimed_until=None, last_error=None)
    )
    return bool(rowcount(result))


async def mark_failed(
    session: AsyncSession,
    item_id: int,
    token: str,
    *,
    error: str,
    retry_at: datetime | None,
    now: datetime,
    release_line: bool = False,
) -> bool:
    """Schedule the next attempt, or (retry_at None) make the item a dead letter. `release_line` lets the items
    queued behind it under its ordering key pass. False if the claim was lost meanwhile (nothing changed)."""
    values: dict[str, Any] = {"claimed_until": None, "last_error": error[:2000]}
    if retry_at is None:
        values["dead_at"] = now
        values["dead_reason"] = DeadReason.DEAD.value
    else:
        values["next_attempt_at"] = retry_at
    if release_line:
        values["line_released_at"] = now
    result = await session.execute(
        update(OutboxItem)
        .where(OutboxItem.id == item_id, OutboxItem.claim_token == token, OutboxItem.delivered_at.is_(None))
        .values(**values)
    )
    return bool(rowcount(result))


async def cancel_for_case(
    session: AsyncSession, case_id: str, kinds: tuple[OutboxKind, ...], now: datetime, why: str
) -> int:
    result = await session.execute(
        update(OutboxItem)
        .where(OutboxItem.case_id == case_id, OutboxItem.kind.in_(kinds), _open())
        .values(dead_at=now, dead_reason=DeadReason.CANCELLED.value, last_error=why)
    )
    return rowcount(result)


async def items_for_case(session: AsyncSession, case_id: str) -> list[OutboxItem]:
    return list(
        (
            await session.execute(select(OutboxItem).where(OutboxItem.case_id == case_id).order_by(OutboxItem.id))
        ).scalars()
    )


def _fresh(now: datetime) -> dict[str, Any]:
    """An item as if just queued: due now, no attempts, no claim, no verdict."""
    return {
        "delivered_at": None,
        "dead_at": None,
        "dead_reason": None,
        "line_released_at": None,
        "claimed_until": None,
        "claim_token": None,
        "attempts": 0,
        "next_attempt_at": now,
        "last_error": None,
    }


async def requeue(session: AsyncSession, *, case_id: str, kind: OutboxKind, now: datetime) -> list[OutboxItem]:
    """Send a case's items of this kind again (delivered, failed or pending alike), from the next worker pass."""
    result = await session.execute(
        update(OutboxItem)
        .where(OutboxItem.case_id == case_id, OutboxItem.kind == kind)
        .values(**_fresh(now), created_at=now)
        .returning(OutboxItem)
        .execution_options(synchronize_session=False)
    )
    return list(result.scalars())


async def get_item(session: AsyncSession, item_id: int) -> OutboxItem | None:
    return await session.get(OutboxItem, item_id)


async def retry_item(session: AsyncSession, item_id: int, now: datetime) -> OutboxItem | None:
    """An operator's redrive: a dead, dropped or failing item goes out again from the next worker pass (in its
    old place in its ordering line). None if there is no such item, or it was delivered."""
    result = await session.execute(
        update(OutboxItem)
        .where(OutboxItem.id == item_id, OutboxItem.delivered_at.is_(None))
        .values(**_fresh(now))
        .returning(OutboxItem)
        .execution_options(synchronize_session=False)
    )
    return result.scalar_one_or_none()


async def drop_item(session: AsyncSession, item_id: int, now: datetime, why: str) -> OutboxItem | None:
    """An operator gives an open item up: it is never delivered and no longer holds its ordering line."""
    result = await session.execute(
        update(OutboxItem)
        .where(OutboxItem.id == item_id, _open())
        .values(dead_at=now, dead_reason=DeadReason.DROPPED.value, claimed_until=None, last_error=why[:2000])
        .returning(OutboxItem)
        .execution_options(synchronize_session=False)
    )
    return result.scalar_one_or_none()


async def list_items(session: AsyncSession, *, dead: bool, limit: int) -> list[OutboxItem]:
    """Open items (oldest first), or dead letters (newest first): what an operator looks at."""
    if dead:
        where = and_(OutboxItem.dead_at.is_not(None), OutboxItem.dead_reason != DeadReason.CANCELLED.value)
        order = OutboxItem.id.desc()
    else:
        where, order = _open(), OutboxItem.id.asc()
    return list((await session.execute(select(OutboxItem).where(where).order_by(order).limit(limit))).scalars())


async def item_open(session: AsyncSession, dedupe_key: str) -> bool:
    """Whether the item with this key is still waiting to be delivered (queued, retrying, or being delivered)."""
    found = await session.execute(select(OutboxItem.id).where(OutboxItem.dedupe_key == dedupe_key, _open()))
    return found.scalar_one_or_none() is not None


async def renew_leases(session: AsyncSession, held: dict[int, str], *, until: datetime) -> None:
    """Extend the leases this worker still holds (matched by claim token, so a lease lost to another is left).

    Only a lease still in force: the attempt may have ended (delivered, failed, dead) after `held` was copied, and
    renewing it then would hold a retry back, and its line with it, for a whole lease."""
    for item_id, token in held.items():
        await session.execute(
            update(OutboxItem)
            .where(
                OutboxItem.id == item_id,
                OutboxItem.claim_token == token,
                OutboxItem.claimed_until.is_not(None),
                _open(),
            )
            .values(claimed_until=until)
        )
