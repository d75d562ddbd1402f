"""Small cases for unit tests of the builders, forms and rules: an escalation and the card view of it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from blocks.card import CardView
from bot.domain.cases import Decision
from bot.domain.escalation import Escalation
from tests.support import escalation

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def card_view(decision: Decision | None = None, **overrides: Any) -> CardView:
    """The issue's billing case (tests/support.py's escalation body) as its card shows it, pending at tier 1."""
    esc = Escalation.model_validate(escalation(**overrides))
    return CardView(
        case_id=esc.case_id,
        escalation=esc,
        queue="billing",
        tier=1,
        tier_count=2,
        tier_name="Support specialist",
        tier_deadline=NOW + timedelta(hours=4),
        received_at=NOW,
        decision=decision,
    )
