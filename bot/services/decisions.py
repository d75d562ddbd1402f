"""Human decisions: who may decide, and the one conditional transition that records a decision."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.runtime import Runtime
from bot.services.events import DECIDED, decision_event, edit_distance, event_id, webhook_url
from bot.services.webhooks import enqueue_webhook
from bot.services.reviewers import Authorization, deciders
from store import cases as case_store
from store import outbox
from store.audit import Actor, append_audit
from store.models import Case, CaseStatus

# Outbound work a decision makes pointless (SLA reminders and pages queued but not yet sent).
CANCELLED_BY_DECISION = ("remind", "page", "repage", "unhandled_alert")


@dataclass(frozen=True)
class DecisionRequest:
    case_id: str
    outcome: CaseStatus
    actor: Actor
    final_text: str | None = None
    final_action: dict[str, Any] | None = None
    reason: str | None = None
    note: str | None = None
    checklist: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Decided:
    case_id: str
    version: int


@dataclass(frozen=True)
class AlreadyDecided:
    case: Case


@dataclass(frozen=True)
class CaseMissing:
    case_id: str


async def load_case(rt: Runtime, case_id: str) -> Case | None:
    async with rt.reads() as session:
        return await case_store.get_case(session, case_id)


async def authorize(rt: Runtime, case: Case, user_id: str) -> Authorization:
    queue = rt.policy.queue(case.queue)
    if queue is None:
        return Authorization(False)
    return await rt.reviewers.includes(user_id, deciders(queue, case.tier))


def tier_label(rt: Runtime, case: Case) -> str:
    queue = rt.policy.queue(case.queue)
    name = queue.tier(case.tier).name if queue else ""
    return f"{case.queue} tier {case.tier}" + (f" ({name})" if name else "")


async def audit(rt: Runtime, case_id: str | None, action: str, actor: Actor, details: dict[str, Any] | None = None) -> None:
    """An audit row on its own (views, refused attempts), outside any state change."""
    async with rt.sessions.begin() as session:
        await append_audit(session, action=action, actor=actor, at=rt.clock.now(), case_id=case_id, details=details)


async def decide(rt: Runtime, request: DecisionRequest) -> Decided | AlreadyDecided | CaseMissing:
    now = rt.clock.now()
    async with rt.sessions.begin() as session:
        before = await case_store.get_case(session, request.case_id)
        if before is None:
            return CaseMissing(request.case_id)
        tier = before.tier
        distance, ratio = (None, None)
        if request.final_text is not None:
            distance, ratio = edit_distance(before.payload.get("model_draft") or "", request.final_text)
        version = await case_store.record_decision(
            session,
            request.case_id,
            now=now,
            status=request.outcome.value,
            outcome=request.outcome.value,
            final_text=request.final_text,
            final_action=request.final_action,
            edit_distance=distance,
            edit_ratio=ratio,
            reason=request.reason,
            note=request.note,
            checklist=request.checklist or None,
            decided_by=request.actor.id,
            decided_by_team=request.actor.team,
            decided_by_name=request.actor.name,
            decided_at=now,
            decided_tier=tier,
        )
        if version is not None:
            await session.refresh(before)  # the decided state, for the event; tier and payload are unchanged
            await enqueue_case_event(rt, session, before, DECIDED, now)
            await _record_side_effects(session, request, before, version, now)
    if version is None:
        # Someone else's conditional update won; ours changed nothing.
        winner = await load_case(rt, request.case_id)
        assert winner is not None
        await audit(rt, request.case_id, "decision_refused", request.actor, {"attempted": request.outcome.value, "reason": "already decided", "decided_by": winner.decided_by})
        return AlreadyDecided(winner)
    rt.wake_outbox()
    rt.waiters.notify(request.case_id)
    return Decided(request.case_id, version)


async def _record_side_effects(session: AsyncSession, request: DecisionRequest, before: Case, version: int, now: datetime) -> None:
    details: dict[str, Any] = {"tier": before.tier, "note": request.note, **request.details}
    if request.reason:
        details["reason"] = request.reason
    if request.checklist:
        details["checklist"] = request.checklist
    if request.outcome is CaseStatus.EDITED:
        details["before"] = before.payload.get("model_draft")
        details["after"] = request.final_text
    await outbox.cancel_for_case(session, request.case_id, CANCELLED_BY_DECISION, now, "cancelled: case decided")
    await enqueue_card_update(session, request.case_id, version, now)
    # The audit row last: on PostgreSQL it takes the chain's lock, held until commit.
    await append_audit(session, action=request.outcome.value, actor=request.actor, at=now, case_id=request.case_id, details=details)


async def enqueue_case_event(rt: Runtime, session: AsyncSession, case: Case, event_type: str, now: datetime) -> None:
    """Queue the event for the LLM system, in the transaction that made it true."""
    url = webhook_url(case, rt.policy)
    if url:
        await enqueue_webhook(session, url=url, event_type=event_type, data=decision_event(case), now=now, case_id=case.case_id, event_id=event_id(case.case_id, event_type))


async def enqueue_card_update(session: AsyncSession, case_id: str, version: int, now: datetime, suffix: str = "") -> None:
    """Re-render the case's messages; one update per state version (and cause), however often it is asked for."""
    await outbox.enqueue(
        session,
        kind="update_card",
        dedupe_key=f"update_card:{case_id}:{version}{':' + suffix if suffix else ''}",
        payload={"case_id": case_id},
        case_id=case_id,
        ordering_key=f"case:{case_id}",
        now=now,
    )
