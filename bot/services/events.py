"""Events that flow back to the LLM system, built from the case as stored (the decision already applied)."""

from __future__ import annotations

import hashlib
from typing import Any

from rapidfuzz.distance import Levenshtein

from bot.policy import Policy
from store.audit import canonical_json
from store.models import Case

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


def webhook_url(case: Case, policy: Policy) -> str | None:
    """The escalation's own callback_url, else its queue's webhook_url."""
    if case.payload.get("callback_url"):
        return str(case.payload["callback_url"])
    queue = policy.queue(case.queue)
    return str(queue.webhook_url) if queue and queue.webhook_url else None


def decision_event(case: Case) -> dict[str, Any]:
    payload = case.payload
    decided_by = {"slack_user_id": case.decided_by, "slack_team_id": case.decided_by_team, "name": case.decided_by_name} if case.decided_by else None
    return {
        "case_id": case.case_id,
        "outcome": case.outcome or "unhandled",
        "final_text": case.final_text,
        "original_draft": payload.get("model_draft"),
        "edited": case.outcome == "edited",
        "edit_distance": case.edit_distance,
        "edit_ratio": case.edit_ratio,
        "reason": case.reason,
        "note": case.note,
        "checklist": case.checklist or [],
        "proposed_action": action_with_key(case.case_id, case.final_action),
        "original_action": payload.get("proposed_action"),
        "decided_by": decided_by,
        "decided_at": case.decided_at.isoformat() if case.decided_at else None,
        "tier": case.decided_tier or case.tier,
        "queue": case.queue,
        "tenant_id": case.tenant_id,
    }


def event_id(case_id: str, kind: str) -> str:
    """Stable per case and kind: a re-send (`hitl webhooks retry`) carries the same id, receivers dedupe on it."""
    return "evt_" + hashlib.sha256(f"{case_id}\n{kind}".encode()).hexdigest()[:32]
