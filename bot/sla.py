"""SLA arithmetic: when a tier's time runs out."""

from __future__ import annotations

from datetime import datetime

from bot.policy import TierTiming


def tier_deadline(start: datetime, timing: TierTiming) -> datetime:
    """The moment a tier paged at `start` breaches its SLA."""
    return start + timing.sla
