"""Audit rows that record something on their own (a refused attempt, an operator's redrive), outside any state
change. A state change appends its audit rows in its own transaction instead (store.audit.append_audit)."""

from __future__ import annotations

from typing import Any

from bot.clock import Clock
from bot.domain.audit import Actor, AuditAction
from store.audit import append_audit
from store.db import Database


class AuditLog:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def record(
        self, action: AuditAction, actor: Actor, *, case_id: str | None = None, details: dict[str, Any] | None = None
    ) -> None:
        async with self.db.write.begin() as session:
            await append_audit(
                session, action=action, actor=actor, at=self.clock.now(), case_id=case_id, details=details
            )
