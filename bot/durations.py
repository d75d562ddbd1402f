"""Durations as people write them in policy files: `90s`, `30m`, `4h`, `1d`, `1h30m`."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer

_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# ASCII digits only: `\d` alone also matches other scripts' digits (`１２h`, `٣d`), which int() would then read.  # noqa: RUF003
_DURATION = re.compile(r"^(?:\d+[smhd])+$", re.ASCII)
_PART = re.compile(r"(\d+)([smhd])", re.ASCII)
# Far beyond any SLA or report window, and far inside what datetime arithmetic can hold (a timedelta tops out
# at 999,999,999 days): `99999999999d` is a clear ValueError here, not an OverflowError somewhere later.
LONGEST = timedelta(days=36_500)


def parse_duration(text: str) -> timedelta:
    cleaned = text.strip().lower().replace(" ", "")
    shown = repr(text if len(text) <= 40 else text[:40] + "…")
    # 60 characters hold any real duration; the cap keeps int() away from numbers with thousands of digits.
    if len(cleaned) > 60 or not _DURATION.fullmatch(cleaned):
        raise ValueError(f"{shown} is not a duration (use s, m, h, d: e.g. 90s, 30m, 4h, 1d, 1h30m)")
    seconds = sum(int(n) * _UNIT_SECONDS[u] for n, u in _PART.findall(cleaned))
    if seconds <= 0:
        raise ValueError(f"{shown} must be longer than zero")
    if seconds > LONGEST.total_seconds():
        raise ValueError(f"{shown} is too long (at most {LONGEST.days:,} days)")
    return timedelta(seconds=seconds)


def format_duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds == 0:
        return "0s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def _coerce(value: Any) -> Any:
    if isinstance(value, str):
        return parse_duration(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        raise ValueError("write durations with a unit, e.g. 30m or 4h")
    return value


Duration = Annotated[timedelta, BeforeValidator(_coerce), PlainSerializer(format_duration, return_type=str)]
