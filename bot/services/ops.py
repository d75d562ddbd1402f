"""What /hitl status and /hitl queue report, and who counts as an operator."""

from __future__ import annotations

import re
from datetime import datetime, time, timezone
from typing import Any

from blocks.ops import PendingCase, QueueLoad, build_queue_listing, build_status
from bot.runtime import Runtime
from bot.services.cards import tier_name
from bot.services.reviewers import Authorization
from store import cases as case_store
from store.audit import Actor, append_audit, count_since
from store.models import Case

QUEUE_LISTING = 30


async def is_operator(rt: Runtime, user_id: str) -> Authorization:
    operators = list(rt.policy.ops.operators) if rt.policy.ops else []
    return await rt.reviewers.includes(user_id, operators)


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def clean_text(text: str, limit: int = 500) -> str:
    """What someone typed, fit for an audit row: cut, control characters (PostgreSQL can't store NUL) shown as ?."""
    return _CONTROL.sub("?", text[:limit])


async def audit_refused_command(rt: Runtime, actor: Actor, command: str, text: str, reason: str) -> None:
    async with rt.sessions.begin() as session:
        await append_audit(session, action="unauthorized_attempt", actor=actor, at=rt.clock.now(), details={"command": command[:40], "text": clean_text(text), "reason": reason})


def _pending(case: Case, links: dict[str, str]) -> PendingCase:
    return PendingCase(case.case_id, case.queue, case.tier, case.tier_deadline, case.claimed_by, links.get(case.case_id))


async def status_report(rt: Runtime) -> tuple[str, list[dict[str, Any]]]:
    now = rt.clock.now()
    midnight = datetime.combine(now.date(), time.min, tzinfo=timezone.utc)
    async with rt.reads() as session:
        load = await case_store.pending_load(session)
        oldest = await case_store.oldest_pending(session)
        links = await case_store.card_links(session, [oldest.case_id] if oldest else [])
        breaches = await count_since(session, "sla_breached", midnight)
    rows = [QueueLoad(queue, tier, tier_name(rt.policy, queue, tier), count) for queue, tier, count in load]
    return build_status(rt.killswitches.switches, rows, _pending(oldest, links) if oldest else None, breaches, now)


async def queue_report(rt: Runtime, queue: str | None) -> tuple[str, list[dict[str, Any]]]:
    async with rt.reads() as session:
        cases, total = await case_store.pending_cases(session, queue=queue, limit=QUEUE_LISTING)
        links = await case_store.card_links(session, [c.case_id for c in cases])
    return build_queue_listing(queue, [_pending(c, links) for c in cases], total, rt.clock.now())
