"""The SLA sweep: reminders, pages to the next tier, re-pages past the last tier, the unhandled alert.

Each step is a version-guarded conditional update of the case plus its audit rows and outbox items, in the
sweep's transaction; due cases are claimed with FOR UPDATE SKIP LOCKED, so concurrent sweepers (replicas)
split the work and never act on one case twice. Outbox dedupe keys make a repeated step a no-op regardless.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.domain.audit import SYSTEM, AuditAction
from bot.domain.outbox import Page, Remind, Repage, UnhandledAlert
from bot.outbox import Wake
from bot.policy import Policy, Queue
from bot.services.decisions import enqueue_card_update, enqueue_case_event
from bot.services.events import EventType
from bot.sla import remind_time, tier_deadline
from store import cases as case_store
from store import outbox
from store.audit import append_audit
from store.db import Database
from store.models import Case

log = logging.getLogger(__name__)

# Cases moved per transaction. Small: a page's delivery writes to its case (and on PostgreSQL to the audit
# chain) and would otherwise wait for a whole batch of 200 to commit.
SWEEP_BATCH = 25


def tier_schedule(queue: Queue, tier: int, start: datetime, deadline: datetime | None = None) -> dict[str, Any]:
    """Deadline, reminder and next due moment of a tier that starts now (an explicit deadline wins over its SLA)."""
    timing = queue.timing(tier)
    breach = deadline or tier_deadline(start, timing)
    remind = remind_time(start, timing) if deadline is None else start + (breach - start) * timing.remind_at
    remind_due = remind if start < remind < breach else None
    return {
        "tier": tier,
        "tier_started_at": start,
        "tier_deadline": breach,
        "remind_due_at": remind_due,
        "due_at": min(remind_due, breach) if remind_due else breach,
    }


class SlaSweep:
    def __init__(self, db: Database, clock: Clock, policy: Policy, wake: Wake) -> None:
        self.db = db
        self.clock = clock
        self.policy = policy
        self.wake = wake

    async def run(self, *, batch: int = SWEEP_BATCH) -> int:
        """Act on every case whose SLA moment has come. Returns how many cases moved."""
        moved = 0
        now = self.clock.now()
        while True:
            async with self.db.write.begin() as session:
                due = await case_store.claim_due_cases(session, now=now, limit=batch)
                for case in due:
                    moved += await self._advance(session, case, now)
            if len(due) < batch:
                break
        if moved:
            self.wake(None)
        return moved

    async def _advance(self, session: AsyncSession, case: Case, now: datetime) -> int:
        queue = self.policy.queue(case.queue)
        if queue is None:
            # The queue left the policy: nobody left to page. Stop the clock rather than loop on it.
            log.warning(
                "case %s is in queue %r, which is no longer in the policy; its SLA clock is stopped",
                case.case_id,
                case.queue,
            )
            return 1 if await case_store.advance_case(session, case, now=now, due_at=None, remind_due_at=None) else 0
        last = len(queue.tiers)
        tier = min(case.tier, last)
        if case.tier_deadline > now:
            return await _remind(session, case, tier, now)
        if tier < last:
            return await _page_next_tier(session, queue, case, tier, now)
        return await self._past_last_tier(session, queue, case, tier, now)

    async def _past_last_tier(self, session: AsyncSession, queue: Queue, case: Case, tier: int, now: datetime) -> int:
        timing = queue.timing(tier)
        first_breach = case.repeats == 0
        message: Repage | UnhandledAlert
        if case.repeats < timing.max_repeats:
            number = case.repeats + 1
            if (
                await case_store.advance_case(
                    session, case, now=now, repeats=number, remind_due_at=None, due_at=now + timing.repeat_every
                )
                is None
            ):
                return 0
            message = Repage(case_id=case.case_id, tier=tier, repeat=number, of=timing.max_repeats)
        else:
            version = await case_store.advance_case(
                session, case, now=now, unhandled_at=now, remind_due_at=None, due_at=None
            )
            if version is None:
                return 0
            message = UnhandledAlert(case_id=case.case_id, tier=tier, repeats=case.repeats)
            await enqueue_card_update(session, case.case_id, version, now)
            await session.refresh(case)
            await enqueue_case_event(session, self.policy, case, EventType.UNHANDLED, now)
        if first_breach:
            details = {"tier": tier, "deadline": case.tier_deadline.isoformat(), "next_tier": None}
            await append_audit(
                session, action=AuditAction.SLA_BREACHED, actor=SYSTEM, at=now, case_id=case.case_id, details=details
            )
        if isinstance(message, UnhandledAlert):
            await append_audit(
                session,
                action=AuditAction.UNHANDLED,
                actor=SYSTEM,
                at=now,
                case_id=case.case_id,
                details={"tier": tier, "repeats": case.repeats},
            )
        await outbox.enqueue(session, message, now=now)
        return 1


async def _remind(session: AsyncSession, case: Case, tier: int, now: datetime) -> int:
    reminding = case.remind_due_at is not None and case.remind_due_at <= now
    values: dict[str, Any] = {"remind_due_at": None, "due_at": case.tier_deadline}
    if reminding:
        values["reminded_tier"] = tier
    if await case_store.advance_case(session, case, now=now, **values) is None:
        return 0
    if reminding:
        await outbox.enqueue(session, Remind(case_id=case.case_id, tier=tier), now=now)
    return 1


async def _page_next_tier(session: AsyncSession, queue: Queue, case: Case, tier: int, now: datetime) -> int:
    # The next tier's clock starts when its page is delivered (delivery.paging), not now: under a backlog its
    # people would otherwise lose SLA time to the queue, and its re-pages could overtake the page. Until then
    # nothing is due.
    version = await case_store.advance_case(
        session, case, now=now, tier=tier + 1, tier_started_at=None, remind_due_at=None, due_at=None
    )
    if version is None:
        return 0
    details = {"tier": tier, "deadline": case.tier_deadline.isoformat(), "next_tier": tier + 1}
    await append_audit(
        session, action=AuditAction.SLA_BREACHED, actor=SYSTEM, at=now, case_id=case.case_id, details=details
    )
    await outbox.enqueue(
        session,
        Page(case_id=case.case_id, tier=tier + 1, from_tier=tier, channel=queue.tier(tier + 1).channel),
        now=now,
    )
    return 1
