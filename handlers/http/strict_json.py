"""JSON request bodies, read strictly: what Python's json module lets through but JSON (and PostgreSQL, and
every receiver of a webhook) does not is refused with the place it was found.

Python parses `NaN`, `Infinity`, numbers that overflow to infinity (`1e999`) and objects with the same key twice
(the last one silently wins). hitl stores what it accepts and sends it on in webhooks and exports, so each of
those would become a value nothing downstream can read, or a field that means two things.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

Path = tuple[str | int, ...]

JSON_MEDIA_TYPES = ("application/json",)


class NotJson(Exception):
    """The body is not JSON at all (syntax, encoding): a 400."""


@dataclass(frozen=True)
class Problem:
    path: Path
    message: str


class Refused(Exception):
    """JSON, but with values hitl refuses to store (a 422 naming each place)."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(f"{len(problems)} refused value(s)")
        self.problems = problems


@dataclass(frozen=True)
class _Bad:
    """A placeholder the parser leaves where a refused value was, so the walk can name its path."""

    message: str


class _Object(dict[str, Any]):
    """A parsed object that saw some of its keys more than once."""

    duplicates: tuple[str, ...] = ()


NON_FINITE = "is not a finite number: NaN, Infinity and numbers too large for a double (like 1e999) are not accepted"


def _constant(_name: str) -> _Bad:
    return _Bad(NON_FINITE)


def _float(text: str) -> float | _Bad:
    value = float(text)
    return value if math.isfinite(value) else _Bad(NON_FINITE)


def _int(text: str) -> int | _Bad:
    try:
        return int(text)
    except ValueError:  # Python refuses integers of more than 4,300 digits
        return _Bad("is an integer with too many digits")


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = _Object()
    seen: list[str] = []
    for key, value in pairs:
        if key in obj:
            seen.append(key)
        obj[key] = value
    if seen:
        obj.duplicates = tuple(dict.fromkeys(seen))
    return obj


def media_type_ok(content_type: str | None) -> bool:
    """application/json (parameters such as charset=utf-8 allowed) or a structured `+json` type."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media in JSON_MEDIA_TYPES or (media.startswith("application/") and media.endswith("+json"))


def parse(body: bytes) -> Any:
    """The body as plain Python values; NotJson or Refused otherwise."""
    try:
        value = json.loads(body, parse_constant=_constant, parse_float=_float, parse_int=_int, object_pairs_hook=_pairs)
    except (ValueError, RecursionError) as exc:
        raise NotJson(str(exc)) from None
    problems: list[Problem] = []
    try:
        clean = _walk(value, (), problems)
    except RecursionError:
        raise Refused([Problem((), "is nested too deeply")]) from None
    if problems:
        raise Refused(problems)
    return clean


def _walk(value: Any, path: Path, problems: list[Problem]) -> Any:
    """Collect the refused values and return the value with plain dicts."""
    if isinstance(value, _Bad):
        problems.append(Problem(path, value.message))
        return None
    if isinstance(value, dict):
        for key in getattr(value, "duplicates", ()):
            problems.append(Problem((*path, key), "appears more than once in its object"))
        return {key: _walk(item, (*path, key), problems) for key, item in value.items()}
    if isinstance(value, list):
        return [_walk(item, (*path, index), problems) for index, item in enumerate(value)]
    return value
