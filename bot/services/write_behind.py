"""Rows that may reach the database a moment after the request that made them (opened modals, Slack request keys
on SQLite): one background task writes them, one transaction per interval however fast they come."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from store.db import DATABASE_BUSY

log = logging.getLogger(__name__)


class WriteBehind:
    """Calls `flush` every `interval` while `waiting()` counts rows to write; a busy database (SQLite's writer, a
    full pool) makes it wait four intervals before the next try. `what` names the rows in log lines."""

    def __init__(
        self, flush: Callable[[], Awaitable[None]], waiting: Callable[[], int], *, interval: float, what: str
    ) -> None:
        self._flush = flush
        self._waiting = waiting
        self.interval = interval
        self.what = what
        self._task: asyncio.Task[None] | None = None

    def schedule(self) -> None:
        """Make sure a write is coming: starts the task unless it is already running."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._write_soon())

    async def _write_soon(self) -> None:
        delay = self.interval
        while self._waiting():
            await asyncio.sleep(delay)
            try:
                await self._flush()
                delay = self.interval
            except DATABASE_BUSY as exc:
                log.warning("could not write %d %s yet: %s", self._waiting(), self.what, type(exc).__name__)
                delay = self.interval * 4

    async def close(self) -> None:
        """Stop the task and write what waits; what the database does not take now is lost, and said so."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        try:
            await self._flush()
        except DATABASE_BUSY:
            log.error("lost %d %s at shutdown: the database is unavailable", self._waiting(), self.what)
