"""Engine and sessions for SQLite (embedded default) and PostgreSQL (several replicas)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, cast

from sqlalchemy import CursorResult, Result, event, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

# The database briefly unavailable (SQLite's write lock, a full pool, PostgreSQL restarting): try again later.
DATABASE_BUSY = (DBAPIError, PoolTimeout)


def rowcount(result: Result[*tuple[Any, ...]]) -> int:
    """The rows an INSERT, UPDATE or DELETE matched. `session.execute` returns a CursorResult for those, typed as
    the Result it derives from."""
    return cast("CursorResult[*tuple[Any, ...]]", result).rowcount


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def create_engine(url: str, *, busy_timeout: float = 15.0, **kwargs: Any) -> AsyncEngine:
    if not is_sqlite(url):
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", 10)
        kwargs.setdefault("pool_pre_ping", True)
        return create_async_engine(url, **kwargs)

    kwargs.setdefault("connect_args", {"timeout": busy_timeout})
    # SQLite runs one write transaction at a time, and ours all take the write lock up front. One connection
    # per process queues them fairly in the pool (FIFO) instead of in SQLite's polling busy handler, where
    # some waiters starve; a wait longer than the busy timeout is the same 503 either way.
    kwargs.setdefault("pool_size", 1)
    kwargs.setdefault("max_overflow", 0)
    kwargs.setdefault("pool_timeout", busy_timeout)
    engine = create_async_engine(url, **kwargs)
    # IMMEDIATE takes the write lock up front: a read-then-write transaction (the audit chain head, a claim)
    # can never be invalidated by another writer half-way, and waits instead of failing.
    _configure_sqlite(
        engine,
        ["journal_mode=WAL", f"busy_timeout={int(busy_timeout * 1000)}", "synchronous=NORMAL"],
        begin="BEGIN IMMEDIATE",
    )
    return engine


def _configure_sqlite(engine: AsyncEngine, pragmas: list[str], *, begin: str) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let us issue BEGIN ourselves (below) instead of the driver's deferred BEGIN.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in pragmas:
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql(begin)


def create_read_engine(url: str, engine: AsyncEngine, *, busy_timeout: float = 15.0) -> AsyncEngine:
    """The engine for sessions that only read. On PostgreSQL that is `engine` itself. On SQLite (WAL) it is a
    few query-only connections that begin deferred, so a click's lookup reads a snapshot at once instead of
    queueing behind every write for the one writing connection."""
    if not is_sqlite(url):
        return engine
    readers = create_async_engine(
        url, connect_args={"timeout": busy_timeout}, pool_size=4, max_overflow=0, pool_timeout=busy_timeout
    )
    _configure_sqlite(readers, [f"busy_timeout={int(busy_timeout * 1000)}", "query_only=1"], begin="BEGIN")
    return readers


def create_unsynced_engine(url: str, *, pool_size: int = 4, timeout: float = 1.0) -> AsyncEngine:
    """PostgreSQL: one-statement writes on a request's critical path that every replica must see at once but that
    need not reach the disk before the answer: autocommit (one round trip, no BEGIN and COMMIT) and
    `synchronous_commit = off` (no wait for the WAL flush; visibility to other sessions is unchanged). A crash of
    PostgreSQL can lose the last fraction of a second of them. `timeout` bounds a checkout and a statement."""
    return create_async_engine(
        url,
        isolation_level="AUTOCOMMIT",
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_timeout=timeout,
        connect_args={"command_timeout": timeout, "server_settings": {"synchronous_commit": "off"}},
    )


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


class Database:
    """The database as services use it: `write` sessions (one transaction per state change) and `read`
    sessions, which on SQLite are query-only WAL snapshots that never wait for the writer (on PostgreSQL they
    are the same engine)."""

    def __init__(self, url: str, *, busy_timeout: float = 15.0) -> None:
        self.url = url
        self.engine = create_engine(url, busy_timeout=busy_timeout)
        self.read_engine = create_read_engine(url, self.engine, busy_timeout=busy_timeout)
        self.write = create_sessionmaker(self.engine)
        self.read = create_sessionmaker(self.read_engine)

    @property
    def is_sqlite(self) -> bool:
        return is_sqlite(self.url)

    async def ping(self) -> None:
        """One round trip on the writer's engine; raises whatever the driver raises when the database does not
        answer."""
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def close(self) -> None:
        await self.engine.dispose()
        if self.read_engine is not self.engine:
            await self.read_engine.dispose()


async def stream_by_id(session: AsyncSession, model: Any, *where: Any, batch: int = 1000) -> AsyncIterator[Any]:
    """Every row of `model` matching `where`, in id order, a batch at a time (keyset pagination): constant
    memory for any table size, on both databases, with no server-side cursor to hold open."""
    last_id = 0
    while True:
        rows = (
            (await session.execute(select(model).where(model.id > last_id, *where).order_by(model.id).limit(batch)))
            .scalars()
            .all()
        )
        if not rows:
            return
        for row in rows:
            yield row
        last_id = rows[-1].id
        session.expunge_all()
