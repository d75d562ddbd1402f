"""Slack request bodies seen recently, one row per body (its sha256): the first replica to insert a body's key
processes it, every later sighting on any replica is a replay."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from store.db import rowcount
from store.models import SlackRequestKey


def _insert_new(dialect_insert: Any) -> Any:
    return dialect_insert(SlackRequestKey.__table__).on_conflict_do_nothing(index_elements=["key"])


# Built once, values bound at execution (one Core statement on the ack path, no ORM work).
_INSERT_NEW = {"postgresql": _insert_new(postgresql.insert), "sqlite": _insert_new(sqlite.insert)}
_REMEMBER = {name: statement.returning(SlackRequestKey.__table__.c.key) for name, statement in _INSERT_NEW.items()}


async def remember(connection: AsyncConnection, key: str, now: datetime) -> bool:
    """Record `key` unless some request already did, in one statement: True if this is its first sighting. Two
    replicas inserting the same key at once: the second waits for the first to commit, then inserts nothing."""
    stored = await connection.execute(_REMEMBER[connection.dialect.name], {"key": key, "seen_at": now})
    return stored.scalar_one_or_none() is not None


async def remember_many(session: AsyncSession, keys: dict[str, datetime]) -> None:
    """Record keys already decided elsewhere (SQLite: by the one process's memory); known ones are left as they are."""
    if keys:
        await session.execute(
            _INSERT_NEW[session.get_bind().dialect.name], [{"key": key, "seen_at": at} for key, at in keys.items()]
        )


async def forget(session: AsyncSession, keys: list[str]) -> None:
    if keys:
        await session.execute(
            delete(SlackRequestKey).where(SlackRequestKey.key.in_(keys)).execution_options(synchronize_session=False)
        )


async def prune(session: AsyncSession, before: datetime, limit: int) -> int:
    """Delete up to `limit` keys seen before `before`, oldest first (index on seen_at); how many went."""
    oldest = (
        select(SlackRequestKey.key)
        .where(SlackRequestKey.seen_at < before)
        .order_by(SlackRequestKey.seen_at)
        .limit(limit)
    )
    result = await session.execute(
        delete(SlackRequestKey).where(SlackRequestKey.key.in_(oldest)).execution_options(synchronize_session=False)
    )
    return rowcount(result)


async def seen_since(session: AsyncSession, since: datetime) -> list[tuple[str, datetime]]:
    """(key, seen_at) of the keys seen at or after `since`, oldest first."""
    rows = await session.execute(
        select(SlackRequestKey.key, SlackRequestKey.seen_at)
        .where(SlackRequestKey.seen_at >= since)
        .order_by(SlackRequestKey.seen_at)
    )
    return [(key, seen_at) for key, seen_at in rows]
