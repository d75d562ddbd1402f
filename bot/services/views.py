"""Opened modals, written to the audit trail a batch at a time.

A click storm would otherwise queue one write per click in front of the decisions (SQLite has one writer;
PostgreSQL's audit chain has one lock). A batch is one transaction every `interval`, however fast people click.
The cost: a crash loses the last fraction of a second of *views*, never a decision.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any

from bot.domain.audit import Actor, AuditAction
from store.audit import append_audit
from store.db import DATABASE_BUSY, Database

log = logging.getLogger(__name__)


class ViewLog:
    interval = 0.25
    max_pending = 10_000

    def __init__(self, db: Database) -> None:
        self.db = db
        self._pending: list[tuple[str, Actor, dict[str, Any], datetime]] = []
        self._task: asyncio.Task[None] | None = None
        self._writing = asyncio.Lock()

    def add(self, case_id: str, actor: Actor, details: dict[str, Any], at: datetime) -> None:
        if len(self._pending) >= self.max_pending:
            # The database has been unwritable for a long while: keep the newest, say that one was lost.
            self._pending.pop(0)
            log.warning("dropped a view audit row: %d pending while the database is unavailable", self.max_pending)
        self._pending.append((case_id, actor, details, at))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._write_soon())

    async def _write_soon(self) -> None:
        await asyncio.sleep(self.interval)
        while self._pending:
            try:
                await self.flush()
            except DATABASE_BUSY as exc:
                log.warning("could not write %d view audit rows yet: %s", len(self._pending), type(exc).__name__)
                await asyncio.sleep(self.interval * 4)

    async def flush(self) -> None:
        """Write what is pending; when it returns, every view added before the call is in the database."""
        async with self._writing:
            batch, self._pending = self._pending, []
            if not batch:
                return
            try:
                async with self.db.write.begin() as session:
                    for case_id, actor, details, at in batch:
                        await append_audit(session, action=AuditAction.VIEWED, actor=actor, at=at, case_id=case_id, details=details)
            except BaseException:
                self._pending[:0] = batch
                raise

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        try:
            await self.flush()
        except DATABASE_BUSY:
            log.error("lost %d view audit rows at shutdown: the database is unavailable", len(self._pending))
