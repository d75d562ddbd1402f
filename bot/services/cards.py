"""From a stored case (and the messages that show it) to what the card and the modals show."""

from __future__ import annotations

from collections.abc import Sequence

from blocks.card import CardView, PageView
from bot.domain.escalation import Escalation, RiskLevel
from bot.policy import Policy
from store import cases as case_store
from store.models import Case, SlackMessage


def tier_name(policy: Policy, queue_name: str, tier: int) -> str:
    queue = policy.queue(queue_name)
    # A queue renamed or removed from the policy since the case arrived still renders.
    return queue.tier(tier).name if queue else f"tier {tier}"


def page_views(policy: Policy, case: Case, messages: Sequence[SlackMessage]) -> tuple[PageView, ...]:
    return tuple(
        PageView(m.tier, tier_name(policy, case.queue, m.tier), m.channel, m.permalink)
        for m in messages
        if m.kind == "page"
    )


def card_view(case: Case, policy: Policy, messages: Sequence[SlackMessage] = ()) -> CardView:
    return _view(case, policy, Escalation.model_validate(case.payload), messages)


def minimal_card_view(case: Case, policy: Policy) -> CardView:
    """The view of a case from its columns alone, for the minimal card: it must draw whatever the stored
    payload holds (even one a newer, stricter model would refuse)."""
    risk = case.risk_level if case.risk_level in RiskLevel._value2member_map_ else None
    escalation = Escalation.model_construct(
        case_id=case.case_id, model_draft="", reason_for_escalation="", risk_level=RiskLevel(risk) if risk else None
    )
    return _view(case, policy, escalation, ())


def _view(case: Case, policy: Policy, escalation: Escalation, messages: Sequence[SlackMessage]) -> CardView:
    queue = policy.queue(case.queue)
    tier_count = len(queue.tiers) if queue else case.tier
    return CardView(
        case_id=case.case_id,
        escalation=escalation,
        queue=case.queue,
        tier=case.tier,
        tier_count=max(tier_count, case.tier),
        tier_name=tier_name(policy, case.queue, case.tier),
        tier_deadline=case.tier_deadline,
        received_at=case.created_at,
        decision=case_store.decision_of(case),
        pages=page_views(policy, case, messages),
        claimed_by=case.claimed_by,
        claimed_at=case.claimed_at,
        unhandled=case.unhandled_at is not None,
        paused_mode=case.paused_mode,
    )
