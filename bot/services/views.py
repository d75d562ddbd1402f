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
from bot.services.write_behind import WriteBehind
from store.audit import append_audit
from store.db import Database

log = logging.getLogger(__name__)


class ViewLog:
    interval = 0.25
    max_pending = 10_000

    def __init__(self, db: Database) -> None:
        self.db = db
        self._pending: list[tuple[str, Actor, dict[str, Any], datetime]] = []
        self._writing = asyncio.Lock()
        self._writer = WriteBehind(
            self.flush, lambda: len(self._pending), interval=self.interval, what="view audit row(s)"
        )

    def add(self, case_id: str, actor: Actor, details: dict[str, Any], at: datetime) -> None:
        if len(self._pending) >= self.max_pending:
            # The database has been unwritable for a long while: keep the newest, say that one was lost.
            self._pending.pop(0)
            log.warning("dropped a view audit row: %d pending while the database is unavailable", self.max_pending)
        self._pending.append((case_id, actor, details, at))
        self._writer.schedule()

    async def flush(self) -> None:
        """Write what is pending; when it returns, every view added before the call is in the database."""
        async with self._writing:
            batch, self._pending = self._pending, []
            if not batch:
                return
            try:
                async with self.db.write.begin() as session:
                    for case_id, actor, details, at in batch:
                        await append_audit(
                            session, action=AuditAction.VIEWED, actor=actor, at=at, case_id=case_id, details=details
                        )
            except BaseException:
                self._pending[:0] = batch
                raise

    async def close(self) -> None:
        await self._writer.close()
