"""From a stored case to what the card and the modals show."""

from __future__ import annotations

from bot.escalation import Escalation
from bot.policy import Policy
from blocks.card import CardView, DecisionView
from store.models import Case


def card_view(case: Case, policy: Policy) -> CardView:
    queue = policy.queue(case.queue)
    # A queue renamed or removed from the policy since the case arrived still renders.
    tier_count = len(queue.tiers) if queue else case.tier
    tier_name = queue.tier(case.tier).name if queue else f"tier {case.tier}"
    decision = None
    if case.outcome and case.decided_by and case.decided_at:
        decision = DecisionView(
            outcome=case.outcome,
            decided_by=case.decided_by,
            decided_at=case.decided_at,
            final_text=case.final_text,
            reason=case.reason,
            note=case.note,
            checklist=list(case.checklist or []),
        )
    return CardView(
        case_id=case.case_id,
        escalation=Escalation.model_validate(case.payload),
        queue=case.queue,
        tier=case.tier,
        tier_count=max(tier_count, case.tier),
        tier_name=tier_name,
        tier_deadline=case.tier_deadline,
        received_at=case.created_at,
        decision=decision,
    )
