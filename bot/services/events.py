"""What flows back to the LLM system about a decision (the API's `decision`, the webhook events, the export),
all from the one Decision shape a case row holds (store.cases.decision_of)."""

from __future__ import annotations

import hashlib
from enum import StrEnum
from typing import Any

from rapidfuzz.distance import Levenshtein

from bot.domain.cases import Decision
from bot.policy import Policy
from store.audit import canonical_json
from store.cases import decision_of
from store.models import Case


class EventType(StrEnum):
    DECIDED = "review.decided"
    UNHANDLED = "review.unhandled"


def edit_distance(original: str, final: str) -> tuple[int, float]:
    """Levenshtein distance in characters, and normalised to 0..1 (0: unchanged, 1: nothing in common)."""
    return Levenshtein.distance(original, final), round(Levenshtein.normalized_distance(original, final), 6)


def action_with_key(case_id: str, action: dict[str, Any] | None) -> dict[str, Any] | None:
    """The approved action plus an idempotency key for executing it: the same action of the same case, the same key."""
    if not action:
        return None
    digest = hashlib.sha256(f"{case_id}\n{canonical_json(action)}".encode()).hexdigest()[:32]
    return {**action, "idempotency_key": f"hitl_{digest}"}


def decision_json(case_id: str, decision: Decision) -> dict[str, Any]:
    """The API's `decision` object."""
    return {
        "outcome": decision.outcome.value,
        "final_text": decision.final_text,
        "reason": decision.reason,
        "note": decision.note,
        "checklist": list(decision.checklist),
        "decided_by": decision.decided_by.to_json(),
        "decided_at": decision.decided_at.isoformat(),
        "tier": decision.tier,
        "proposed_action": action_with_key(case_id, decision.final_action),
        "edit_distance": decision.edit_distance,
        "edit_ratio": decision.edit_ratio,
    }


def webhook_url(case: Case, policy: Policy) -> str | None:
    """The escalation's own callback_url, else its queue's webhook_url."""
    if case.payload.get("callback_url"):
        return str(case.payload["callback_url"])
    queue = policy.queue(case.queue)
    return str(queue.webhook_url) if queue and queue.webhook_url else None


def decision_event(case: Case) -> dict[str, Any]:
    """A `review.decided` or `review.unhandled` event's data (outcome `unhandled` while no decision exists)."""
    decision = decision_of(case)
    payload = case.payload
    return {
        "case_id": case.case_id,
        "outcome": decision.outcome.value if decision else "unhandled",
        "final_text": decision.final_text if decision else None,
        "original_draft": payload.get("model_draft"),
        "edited": decision is not None and decision.outcome == "edited",
        "edit_distance": decision.edit_distance if decision else None,
        "edit_ratio": decision.edit_ratio if decision else None,
        "reason": decision.reason if decision else None,
        "note": decision.note if decision else None,
        "checklist": list(decision.checklist) if decision else [],
        "proposed_action": action_with_key(case.case_id, decision.final_action) if decision else None,
        "original_action": payload.get("proposed_action"),
        "decided_by": decision.decided_by.to_json() if decision else None,
        "decided_at": decision.decided_at.isoformat() if decision else None,
        "tier": decision.tier if decision else case.tier,
        "queue": case.queue,
        "tenant_id": case.tenant_id,
    }


def event_id(case_id: str, kind: EventType) -> str:
    """Stable per case and kind: a re-send (`hitl webhooks retry`) carries the same id, receivers dedupe on it."""
    return "evt_" + hashlib.sha256(f"{case_id}\n{kind.value}".encode()).hexdigest()[:32]
