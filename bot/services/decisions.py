"""Recording a decision: the one conditional transition, and everything that goes with it in its transaction
(the event for the LLM system, the card's re-render, the SLA steps it cancels, the audit row)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.audit import Actor, AuditAction
from bot.domain.cases import CaseStatus
from bot.domain.outbox import CANCELLED_BY_DECISION, UpdateCard
from bot.policy import Policy
from bot.services.decision_rules import DecisionRequest
from bot.services.events import EventType, decision_event, edit_distance, event_id, webhook_url
from bot.services.webhooks import enqueue_webhook
from store import cases as case_store
from store import outbox
from store.audit import append_audit
from store.models import Case


@dataclass(frozen=True)
class Decided:
    case_id: str
    version: int


@dataclass(frozen=True)
class AlreadyDecided:
    """Another decision won the race; nothing was changed. `case` is the case as the winner left it."""

    case: Case


async def record_decision(
    session: AsyncSession, policy: Policy, case: Case, request: DecisionRequest, actor: Actor, now: datetime
) -> Decided | AlreadyDecided:
    """Decide `case` (read in this transaction) unless someone else already has: `UPDATE … WHERE status = 'pending'`
    is the one place a race is settled."""
    distance, ratio = (
        edit_distance(case.payload.get("model_draft") or "", request.final_text)
        if request.final_text is not None
        else (None, None)
    )
    decided = await case_store.record_decision(
        session,
        case.case_id,
        now=now,
        status=request.outcome.value,
        outcome=request.outcome.value,
        final_text=request.final_text,
        final_action=request.final_action,
        edit_distance=distance,
        edit_ratio=ratio,
        reason=request.reason,
        note=request.note,
        checklist=list(request.checklist) or None,
        decided_by=actor.id,
        decided_by_team=actor.team,
        decided_by_name=actor.name,
        decided_at=now,
        decided_tier=case.tier,
    )
    if decided is None:
        winner = await case_store.get_case(session, case.case_id) or case
        details = {"attempted": request.outcome.value, "reason": "already decided", "decided_by": winner.decided_by}
        await append_audit(
            session, action=AuditAction.DECISION_REFUSED, actor=actor, at=now, case_id=case.case_id, details=details
        )
        return AlreadyDecided(winner)
    await enqueue_case_event(session, policy, decided, EventType.DECIDED, now)
    await outbox.cancel_for_case(session, case.case_id, CANCELLED_BY_DECISION, now, "cancelled: case decided")
    await enqueue_card_update(session, case.case_id, decided.version, now)
    # The audit row last: on PostgreSQL it takes the chain's lock, held until commit.
    await append_audit(
        session,
        action=AuditAction(request.outcome.value),
        actor=actor,
        at=now,
        case_id=case.case_id,
        details=_audit_details(decided, request),
    )
    return Decided(case.case_id, decided.version)


def _audit_details(case: Case, request: DecisionRequest) -> dict[str, Any]:
    details: dict[str, Any] = {"tier": case.tier, "note": request.note, **request.details}
    if request.reason:
        details["reason"] = request.reason
    if request.checklist:
        details["checklist"] = list(request.checklist)
    if request.outcome is CaseStatus.EDITED:
        details["before"] = case.payload.get("model_draft")
        details["after"] = request.final_text
    return details


async def enqueue_case_event(
    session: AsyncSession, policy: Policy, case: Case, event_type: EventType, now: datetime
) -> None:
    """Queue the event for the LLM system, in the transaction that made it true."""
    url = webhook_url(case, policy)
    if url:
        await enqueue_webhook(
            session,
            url=url,
            event_type=event_type,
            data=decision_event(case),
            now=now,
            case_id=case.case_id,
            event_id=event_id(case.case_id, event_type),
        )


async def enqueue_card_update(
    session: AsyncSession, case_id: str, version: int, now: datetime, cause: str = ""
) -> None:
    """Re-render the case's messages; one update per state version (and cause), however often it is asked for."""
    await outbox.enqueue(session, UpdateCard(case_id=case_id, version=version, cause=cause), now=now)
