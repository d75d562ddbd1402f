"""Escalations in: validate, route, store with its audit row and its card in the outbox, in one transaction."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.escalation import Escalation
from bot.killswitch import Verdict
from bot.policy import Queue
from bot.runtime import Runtime
from bot.services.escalation import post_card_key, tier_schedule
from store import cases as case_store
from store import outbox
from store.audit import Actor, append_audit, canonical_json
from store.models import Case, CaseStatus


class NoRoute(Exception):
    """No queue in the policy matches and there is no catch-all."""


class CaseConflict(Exception):
    """The case_id exists with different content."""


@dataclass(frozen=True)
class IngestResult:
    case: Case
    created: bool
    automation: Verdict


def automation_context(escalation: Escalation, queue: str) -> dict[str, Any]:
    return {"tenant": escalation.tenant_id, "model": escalation.model.name if escalation.model else None, "skill": escalation.skill, "queue": queue}


def payload_hash(raw: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(raw).encode("utf-8")).hexdigest()


async def ingest(rt: Runtime, raw: dict[str, Any], escalation: Escalation, actor: Actor) -> IngestResult:
    digest = payload_hash(raw)
    queue = rt.policy.route(escalation.routing_context())
    if queue is None:
        raise NoRoute("no queue in the policy matches this escalation, and the policy has no catch-all queue (match: {})")
    return await _insert(rt, escalation, actor, digest, queue)


def _replay(rt: Runtime, existing: Case, escalation: Escalation, digest: str) -> IngestResult:
    if existing.payload_hash != digest:
        raise CaseConflict(f"case_id {existing.case_id!r} was already received with different content")
    return IngestResult(existing, created=False, automation=rt.killswitches.evaluate(automation_context(escalation, existing.queue)))


def _case_values(escalation: Escalation, digest: str, queue: Queue, automation: Verdict, now: datetime) -> dict[str, Any]:
    schedule = tier_schedule(queue, 1, now, escalation.sla_deadline)
    return {
        "case_id": escalation.case_id,
        "payload": escalation.model_dump(mode="json", exclude_none=True),
        "payload_hash": digest,
        "tenant_id": escalation.tenant_id,
        "skill": escalation.skill,
        "risk_level": escalation.risk_level.value if escalation.risk_level else None,
        "model_name": escalation.model.name if escalation.model else None,
        "queue": queue.name,
        "status": CaseStatus.PENDING.value,
        "version": 1,
        "channel": queue.tier(1).channel,
        "sla_deadline": schedule["tier_deadline"],
        **schedule,
        "reminded_tier": 0,
        "paused_mode": automation.mode.value if automation.mode else None,
        "repeats": 0,
        "created_at": now,
        "updated_at": now,
    }


async def _insert(rt: Runtime, escalation: Escalation, actor: Actor, digest: str, queue: Queue) -> IngestResult:
    now = rt.clock.now()
    automation = rt.killswitches.evaluate(automation_context(escalation, queue.name))
    values = _case_values(escalation, digest, queue, automation, now)
    ordering_key = f"channel:{values['channel']}"
    async with rt.sessions.begin() as session:
        # No SELECT first: the insert itself tells a new case_id from a known one (stored earlier, or by a
        # concurrent request it waited for), which is then a replay or a conflict.
        case = await case_store.insert_new_case(session, values)
        if case is None:
            existing = await case_store.get_case(session, escalation.case_id)
            if existing is None:
                raise RuntimeError(f"case {escalation.case_id!r} conflicted on insert but cannot be read")
            return _replay(rt, existing, escalation, digest)
        await outbox.enqueue(
            session,
            kind="post_card",
            dedupe_key=post_card_key(case.case_id),
            payload={"case_id": case.case_id},
            case_id=case.case_id,
            ordering_key=ordering_key,
            now=now,
        )
        # The audit row last: on PostgreSQL it takes the chain's lock, held until commit.
        await append_audit(
            session,
            action="received",
            actor=actor,
            at=now,
            case_id=case.case_id,
            details={"queue": queue.name, "tier": 1, "channel": case.channel, "sla_deadline": case.tier_deadline.isoformat(), "payload_hash": digest},
        )
    # Keyed: no claim query while this channel's previous card is still being delivered by this process.
    rt.wake_outbox(ordering_key)
    return IngestResult(case, created=True, automation=automation)
