"""Durations as people write them in the policy file (bot/durations.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from bot.durations import LONGEST, Duration, format_duration, parse_duration


@pytest.mark.parametrize(
    "text, seconds",
    [
        ("90s", 90),
        ("30m", 1800),
        ("4h", 14400),
        ("1d", 86400),
        ("1h30m", 5400),
        (" 2H ", 7200),
        ("1 h 30 m", 5400),
        ("30m1h", 5400),  # parts add up in any order
        ("1h1h", 7200),
        ("0h1s", 1),
        ("36500d", 36500 * 86400),
    ],
)
def test_durations_people_write(text: str, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize(
    "text",
    ["", "   ", "4", "4x", "h4", "-1h", "0s", "0d0h", "1.5h", "1e3s", "4 hours", "１２h", "٣d", "1h-", "h", "PT1H"],
)
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize("text", ["36501d", "99999999999d", "9" * 5000 + "s", "876601h"])
def test_too_long_is_a_value_error_not_an_overflow(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_the_errors_say_what_was_written_and_how_to_write_it() -> None:
    with pytest.raises(
        ValueError, match=r"'4 hours' is not a duration \(use s, m, h, d: e\.g\. 90s, 30m, 4h, 1d, 1h30m\)"
    ):
        parse_duration("4 hours")
    with pytest.raises(ValueError, match="'0m' must be longer than zero"):
        parse_duration("0m")
    with pytest.raises(ValueError, match=r"too long \(at most 36,500 days\)"):
        parse_duration("36501d")
    with pytest.raises(ValueError) as err:
        parse_duration("x" * 1000)
    assert len(str(err.value)) < 120  # a long input is cut in the message


@pytest.mark.parametrize(
    "delta, text",
    [
        (timedelta(0), "0s"),
        (timedelta(seconds=59), "59s"),
        (timedelta(hours=1, minutes=30), "1h30m"),
        (timedelta(days=2, seconds=1), "2d1s"),
        (timedelta(days=1, hours=2, minutes=3, seconds=4), "1d2h3m4s"),
    ],
)
def test_format(delta: timedelta, text: str) -> None:
    assert format_duration(delta) == text


@given(st.integers(1, int(LONGEST.total_seconds())))
def test_every_whole_number_of_seconds_round_trips(seconds: int) -> None:
    delta = timedelta(seconds=seconds)
    assert parse_duration(format_duration(delta)) == delta


class _Model(BaseModel):
    every: Duration


def test_the_pydantic_type_reads_text_refuses_bare_numbers_and_writes_text() -> None:
    assert _Model(every="1h30m").every == timedelta(minutes=90)  # type: ignore[arg-type]
    assert _Model(every=timedelta(minutes=5)).every == timedelta(minutes=5)
    assert _Model(every="45m").model_dump(mode="json") == {"every": "45m"}  # type: ignore[arg-type]
    for bare in (30, 1.5):
        with pytest.raises(ValidationError, match="write durations with a unit"):
            _Model(every=bare)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="is not a duration"):
        _Model(every="soon")  # type: ignore[arg-type]
