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

from bot.policy import Queue
from bot.runtime import Runtime
from bot.services.decisions import enqueue_card_update, enqueue_case_event
from bot.services.events import UNHANDLED
from bot.sla import remind_time, tier_deadline
from store import cases as case_store
from store import outbox
from store.audit import SYSTEM, append_audit
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


def _channel_key(channel: str) -> str:
    return f"channel:{channel}"


def _case_key(case_id: str) -> str:
    # A case's later steps (reminders, re-pages, the unhandled alert, card updates) go out in the order queued.
    return f"case:{case_id}"


def post_card_key(case_id: str) -> str:
    return f"post_card:{case_id}"


def page_key(case_id: str, tier: int) -> str:
    return f"page:{case_id}:{tier}"


async def run_sweep(rt: Runtime, *, batch: int = SWEEP_BATCH) -> int:
    """Act on every case whose SLA moment has come. Returns how many cases moved."""
    moved = 0
    now = rt.clock.now()
    while True:
        async with rt.sessions.begin() as session:
            due = await case_store.claim_due_cases(session, now=now, limit=batch)
            for case in due:
                moved += await _advance(rt, session, case, now)
        if len(due) < batch:
            break
    if moved:
        rt.wake_outbox()
    return moved


async def _advance(rt: Runtime, session: AsyncSession, case: Case, now: datetime) -> int:
    queue = rt.policy.queue(case.queue)
    if queue is None:
        # The queue left the policy: nobody left to page. Stop the clock rather than loop on it.
        log.warning("case %s is in queue %r, which is no longer in the policy; its SLA clock is stopped", case.case_id, case.queue)
        return 1 if await case_store.advance_case(session, case, now=now, due_at=None, remind_due_at=None) else 0
    last = len(queue.tiers)
    tier = min(case.tier, last)
    if case.tier_deadline > now:
        return await _remind(session, case, tier, now)
    if tier < last:
        return await _page_next_tier(session, queue, case, tier, now)
    return await _past_last_tier(rt, session, queue, case, tier, now)


async def _remind(session: AsyncSession, case: Case, tier: int, now: datetime) -> int:
    reminding = case.remind_due_at is not None and case.remind_due_at <= now
    values: dict[str, Any] = {"remind_due_at": None, "due_at": case.tier_deadline}
    if reminding:
        values["reminded_tier"] = tier
    if await case_store.advance_case(session, case, now=now, **values) is None:
        return 0
    if reminding:
        await outbox.enqueue(
            session, kind="remind", dedupe_key=f"remind:{case.case_id}:{tier}", payload={"case_id": case.case_id, "tier": tier}, case_id=case.case_id, ordering_key=_case_key(case.case_id), now=now
        )
    return 1


async def _page_next_tier(session: AsyncSession, queue: Queue, case: Case, tier: int, now: datetime) -> int:
    # The next tier's clock starts when its page is delivered (delivery.deliver_page), not now: under a backlog
    # its people would otherwise lose SLA time to the queue, and its re-pages could overtake the page. Until
    # then nothing is due.
    version = await case_store.advance_case(session, case, now=now, tier=tier + 1, tier_started_at=None, remind_due_at=None, due_at=None)
    if version is None:
        return 0
    target = queue.tier(tier + 1)
    await append_audit(
        session,
        action="sla_breached",
        actor=SYSTEM,
        at=now,
        case_id=case.case_id,
        details={"tier": tier, "deadline": case.tier_deadline.isoformat(), "next_tier": tier + 1},
    )
    await outbox.enqueue(
        session,
        kind="page",
        dedupe_key=page_key(case.case_id, tier + 1),
        payload={"case_id": case.case_id, "tier": tier + 1, "from_tier": tier},
        case_id=case.case_id,
        ordering_key=_channel_key(target.channel),
        now=now,
    )
    return 1


async def _past_last_tier(rt: Runtime, session: AsyncSession, queue: Queue, case: Case, tier: int, now: datetime) -> int:
    timing = queue.timing(tier)
    first_breach = case.repeats == 0
    if case.repeats < timing.max_repeats:
        number = case.repeats + 1
        version = await case_store.advance_case(session, case, now=now, repeats=number, remind_due_at=None, due_at=now + timing.repeat_every)
        if version is None:
            return 0
        kind, key, payload = "repage", f"repage:{case.case_id}:{number}", {"case_id": case.case_id, "tier": tier, "repeat": number, "of": timing.max_repeats}
    else:
        version = await case_store.advance_case(session, case, now=now, unhandled_at=now, remind_due_at=None, due_at=None)
        if version is None:
            return 0
        kind, key, payload = "unhandled_alert", f"unhandled:{case.case_id}", {"case_id": case.case_id, "tier": tier, "repeats": case.repeats}
        await enqueue_card_update(session, case.case_id, version, now)
        await session.refresh(case)
        await enqueue_case_event(rt, session, case, UNHANDLED, now)
    if first_breach:
        await append_audit(session, action="sla_breached", actor=SYSTEM, at=now, case_id=case.case_id, details={"tier": tier, "deadline": case.tier_deadline.isoformat(), "next_tier": None})
    if kind == "unhandled_alert":
        await append_audit(session, action="unhandled", actor=SYSTEM, at=now, case_id=case.case_id, details={"tier": tier, "repeats": case.repeats})
    await outbox.enqueue(session, kind=kind, dedupe_key=key, payload=payload, case_id=case.case_id, ordering_key=_case_key(case.case_id), now=now)
    return 1
