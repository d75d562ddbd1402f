"""SLA arithmetic (bot/sla.py): deadlines and reminders, in wall-clock time or counting business hours only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.policy import BusinessHours, TierTiming
from bot.sla import add_business_time, business_span, remind_time, tier_deadline

BERLIN = BusinessHours(timezone="Europe/Berlin", days="mon-fri", start="09:00", end="17:00")


def _timing(sla: timedelta) -> TierTiming:
    return TierTiming(sla=sla, remind_at=0.75, repeat_every=timedelta(minutes=30), max_repeats=3, business_hours=BERLIN)


@pytest.mark.parametrize(
    "start_utc, sla, expected_utc",
    [
        # Friday 16:00 CEST + 1 business day (8h): 1h on Friday, 7h on Monday; DST ends on the Sunday between.
        (datetime(2026, 10, 23, 14, 0), timedelta(days=1), datetime(2026, 10, 26, 15, 0)),
        # Saturday: the clock starts Monday 09:00 CET.
        (datetime(2026, 10, 24, 10, 0), timedelta(hours=2), datetime(2026, 10, 26, 10, 0)),
        # Before opening on a weekday.
        (datetime(2026, 11, 18, 5, 0), timedelta(minutes=30), datetime(2026, 11, 18, 8, 30)),
        # Spring forward: Friday 27 March 2026 16:30 CET, 2h -> 30m Friday + 90m Monday 30 March (CEST, UTC+2).
        (datetime(2026, 3, 27, 15, 30), timedelta(hours=2), datetime(2026, 3, 30, 8, 30)),
        # Exactly at closing time: continues next business day.
        (datetime(2026, 11, 18, 16, 0), timedelta(hours=1), datetime(2026, 11, 19, 9, 0)),
    ],
)
def test_business_hours_arithmetic(start_utc: datetime, sla: timedelta, expected_utc: datetime) -> None:
    start = start_utc.replace(tzinfo=UTC)
    assert tier_deadline(start, _timing(sla)) == expected_utc.replace(tzinfo=UTC)


def test_business_day_means_the_length_of_the_window() -> None:
    assert business_span(timedelta(days=1), BERLIN) == timedelta(hours=8)
    assert business_span(timedelta(days=2, hours=3), BERLIN) == timedelta(hours=19)
    # Reminder at 75 % of 8 business hours starting Friday 16:00 CEST: 1h Friday + 5h Monday.
    start = datetime(2026, 10, 23, 14, 0, tzinfo=UTC)
    assert remind_time(start, _timing(timedelta(days=1))) == datetime(2026, 10, 26, 13, 0, tzinfo=UTC)
    assert add_business_time(start, timedelta(0), BERLIN) == start


def test_without_business_hours_the_clock_is_the_wall_clock() -> None:
    start = datetime(2026, 10, 24, 23, 0, tzinfo=UTC)  # a Saturday night: no pause
    timing = TierTiming(
        sla=timedelta(hours=4), remind_at=0.75, repeat_every=timedelta(minutes=30), max_repeats=3, business_hours=None
    )
    assert tier_deadline(start, timing) == start + timedelta(hours=4)
    assert remind_time(start, timing) == start + timedelta(hours=3)


def test_a_start_inside_the_window_counts_from_the_start() -> None:
    # Wednesday 10:00 CET + 3h = 13:00 CET (12:00 UTC).
    start = datetime(2026, 11, 18, 9, 0, tzinfo=UTC)
    assert tier_deadline(start, _timing(timedelta(hours=3))) == datetime(2026, 11, 18, 12, 0, tzinfo=UTC)


def test_a_span_that_ends_exactly_at_closing_ends_at_closing() -> None:
    start = datetime(2026, 11, 18, 8, 0, tzinfo=UTC)  # 09:00 CET, opening
    assert add_business_time(start, timedelta(hours=8), BERLIN) == datetime(2026, 11, 18, 16, 0, tzinfo=UTC)
    assert add_business_time(start, timedelta(hours=8, seconds=1), BERLIN) == datetime(
        2026, 11, 19, 8, 0, 1, tzinfo=UTC
    )


def test_days_not_listed_are_skipped_and_a_list_of_ranges_works() -> None:
    hours = BusinessHours(timezone="UTC", days=["mon", "wed-thu"], start="10:00", end="12:00")
    assert hours.weekdays == frozenset({0, 2, 3})
    monday = datetime(2026, 11, 16, 11, 0, tzinfo=UTC)
    # 1h left on Monday, Tuesday is skipped, Wednesday 10:00 + 1h.
    assert add_business_time(monday, timedelta(hours=2), hours) == datetime(2026, 11, 18, 11, 0, tzinfo=UTC)


def test_a_long_sla_on_one_day_a_week_still_has_a_deadline() -> None:
    # 600 business days open on Sundays only: about 11.5 years of calendar, past any fixed look-ahead.
    hours = BusinessHours(timezone="UTC", days="sun")
    start = datetime(2026, 11, 16, tzinfo=UTC)
    deadline = add_business_time(start, business_span(timedelta(days=600), hours), hours)
    assert deadline.weekday() == 6 and deadline.hour == 17
    assert 600 * 7 - 7 <= (deadline - start).days <= 600 * 7 + 7


ZONES = st.sampled_from(
    ["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "America/Sao_Paulo"]
)
WINDOWS = st.sampled_from(
    [("09:00", "17:00"), ("00:00", "23:59"), ("08:30", "09:00"), ("22:00", "23:30"), ("01:30", "03:30")]
)
DAYS = st.sampled_from(["mon-fri", "sat,sun", "wed", "mon-sun", "tue-thu,sat"])
STARTS = st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC))
SPANS = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=30))


@st.composite
def business_hours(draw: st.DrawFn) -> BusinessHours:
    opens, closes = draw(WINDOWS)
    return BusinessHours(timezone=draw(ZONES), days=draw(DAYS), start=opens, end=closes)


def _open_at(moment: datetime, hours: BusinessHours) -> bool:
    """Whether `moment` lies inside a business window (closing time included: a span may end exactly there)."""
    local = moment.astimezone(hours.zone)
    if local.weekday() not in hours.weekdays:
        return False
    opens = datetime.combine(local.date(), hours.opens, tzinfo=hours.zone).astimezone(UTC)
    closes = datetime.combine(local.date(), hours.closes, tzinfo=hours.zone).astimezone(UTC)
    return opens <= moment <= closes


@settings(max_examples=150, deadline=None)
@given(business_hours(), STARTS, SPANS)
def test_a_deadline_lies_inside_business_hours_and_never_before_the_span(
    hours: BusinessHours, start: datetime, span: timedelta
) -> None:
    deadline = add_business_time(start, span, hours)
    assert deadline - start >= span  # business time never runs faster than the wall clock
    if span:
        assert _open_at(deadline, hours), deadline.astimezone(hours.zone)


@settings(max_examples=150, deadline=None)
@given(business_hours(), STARTS, SPANS, SPANS)
def test_business_time_adds_up(hours: BusinessHours, start: datetime, first: timedelta, second: timedelta) -> None:
    """Counting `first` then `second` ends where counting both at once does, and more time never ends earlier."""
    assert add_business_time(add_business_time(start, first, hours), second, hours) == add_business_time(
        start, first + second, hours
    )
    assert add_business_time(start, first, hours) <= add_business_time(start, first + second, hours)


@given(business_hours(), st.integers(0, 20), st.integers(0, 86399))
def test_a_day_of_sla_is_the_length_of_the_window(hours: BusinessHours, days: int, seconds: int) -> None:
    window = datetime.combine(datetime.min, hours.closes) - datetime.combine(datetime.min, hours.opens)
    assert business_span(timedelta(days=days, seconds=seconds), hours) == days * window + timedelta(seconds=seconds)


@given(
    business_hours(),
    STARTS,
    st.sampled_from([timedelta(hours=1), timedelta(days=1), timedelta(days=3, hours=2)]),
    st.sampled_from([0.25, 0.5, 0.75, 0.9]),
)
def test_the_reminder_comes_before_the_deadline(
    hours: BusinessHours, start: datetime, sla: timedelta, remind_at: float
) -> None:
    timing = TierTiming(
        sla=sla, remind_at=remind_at, repeat_every=timedelta(minutes=30), max_repeats=3, business_hours=hours
    )
    assert start <= remind_time(start, timing) <= tier_deadline(start, timing)


def test_the_zone_is_the_policys_zone() -> None:
    assert BERLIN.zone == ZoneInfo("Europe/Berlin")
