"""What /hitl status and /hitl queue report."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any

from blocks.ops import PendingCase, QueueLoad, build_queue_listing, build_status
from bot.clock import Clock
from bot.domain.audit import AuditAction
from bot.policy import Policy
from bot.services.cards import tier_name
from bot.services.killswitch import KillSwitchBoard
from store import cases as case_store
from store.audit import count_since
from store.db import Database
from store.models import Case

QUEUE_LISTING = 30


def _pending(case: Case, links: dict[str, str]) -> PendingCase:
    return PendingCase(
        case.case_id, case.queue, case.tier, case.tier_deadline, case.claimed_by, links.get(case.case_id)
    )


class OpsReports:
    def __init__(self, db: Database, clock: Clock, policy: Policy, board: KillSwitchBoard) -> None:
        self.db = db
        self.clock = clock
        self.policy = policy
        self.board = board

    async def status(self) -> tuple[str, list[dict[str, Any]]]:
        now = self.clock.now()
        midnight = datetime.combine(now.date(), time.min, tzinfo=UTC)
        async with self.db.read() as session:
            load = await case_store.pending_load(session)
            oldest = await case_store.oldest_pending(session)
            links = await case_store.card_links(session, [oldest.case_id] if oldest else [])
            breaches = await count_since(session, AuditAction.SLA_BREACHED, midnight)
        rows = [QueueLoad(queue, tier, tier_name(self.policy, queue, tier), count) for queue, tier, count in load]
        return build_status(self.board.switches, rows, _pending(oldest, links) if oldest else None, breaches, now)

    async def queue(self, queue: str | None) -> tuple[str, list[dict[str, Any]]]:
        async with self.db.read() as session:
            cases, total = await case_store.pending_cases(session, queue=queue, limit=QUEUE_LISTING)
            links = await case_store.card_links(session, [c.case_id for c in cases])
        return build_queue_listing(queue, [_pending(c, links) for c in cases], total, self.clock.now())
