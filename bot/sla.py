"""SLA arithmetic: when a tier's time runs out, and when to remind, optionally counting business hours only.

With business hours, a day of SLA is one business day (`sla: 1d` with 09:00–17:00 is 8 business hours),
and hours and minutes are business hours and minutes. The clock stops outside the hours, on days not
listed, and across DST changes it follows the wall clock of the time zone.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

from bot.policy import BusinessHours, TierTiming

_MAX_DAYS_AHEAD = 3660  # a policy with no business day at all is refused earlier; this is a safety stop


def business_span(sla: timedelta, hours: BusinessHours) -> timedelta:
    """How much business time an SLA means: whole days count as business days."""
    day = _window_length(hours)
    days, rest = divmod(int(sla.total_seconds()), 86400)
    return days * day + timedelta(seconds=rest)


def _window_length(hours: BusinessHours) -> timedelta:
    return datetime.combine(date.min, hours.closes) - datetime.combine(date.min, hours.opens)


def add_business_time(start: datetime, span: timedelta, hours: BusinessHours) -> datetime:
    """The moment `span` of business time has elapsed after `start`."""
    zone = hours.zone
    local = start.astimezone(zone)
    remaining = span
    day = local.date()
    # Long enough for any span (a 600-day SLA open on Sundays only takes 11 years of calendar), twice over for
    # the windows a DST change shortens; beyond that the hours never open.
    weeks = span / (_window_length(hours) * len(hours.weekdays))
    for _ in range(_MAX_DAYS_AHEAD + 14 * math.ceil(weeks)):
        if day.weekday() in hours.weekdays:
            opens = datetime.combine(day, hours.opens, tzinfo=zone).astimezone(UTC)
            closes = datetime.combine(day, hours.closes, tzinfo=zone).astimezone(UTC)
            begin = max(opens, start.astimezone(UTC))
            if begin < closes:
                available = closes - begin
                if remaining <= available:
                    return begin + remaining
                remaining -= available
        day += timedelta(days=1)
    raise ValueError("business hours never open")


def tier_deadline(start: datetime, timing: TierTiming) -> datetime:
    """The moment a tier paged at `start` breaches its SLA."""
    if timing.business_hours is None:
        return start + timing.sla
    return add_business_time(start, business_span(timing.sla, timing.business_hours), timing.business_hours)


def remind_time(start: datetime, timing: TierTiming) -> datetime:
    """When `remind_at` of the tier's SLA has elapsed (in business time when the tier has business hours)."""
    if timing.business_hours is None:
        return start + timing.sla * timing.remind_at
    span = business_span(timing.sla, timing.business_hours) * timing.remind_at
    return add_business_time(start, span, timing.business_hours)
