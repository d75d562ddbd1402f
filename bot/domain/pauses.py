"""Kill-switch scopes and modes: what a pause covers, and what it means for one request's context."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

SCOPE_KINDS = ("queue", "tenant", "model", "skill")
# A reason is announced in the ops channel and kept in the audit trail: a paragraph, not a document.
MAX_REASON = 1000
# Control characters other than line breaks and tabs have no business in a scope or a reason (and PostgreSQL
# cannot store NUL at all).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_SCOPE = re.compile(r"^(queue|tenant|model|skill):(\S{1,150})$")
_SCOPE_SHAPE = re.compile(r"^[A-Za-z_]+:\S+$")


class Mode(StrEnum):
    # Every output must go to human review (the LLM system keeps running, nothing ships unreviewed).
    HUMAN_ONLY = "human-only"
    # The feature is disabled outright.
    OFF = "off"


@dataclass(frozen=True)
class Scope:
    kind: str  # "all" or one of SCOPE_KINDS
    value: str | None = None

    @classmethod
    def parse(cls, text: str) -> Scope:
        cleaned = text.strip()
        if cleaned.lower() == "all":
            return cls("all")
        match = _SCOPE.fullmatch(cleaned)
        if not match or _CONTROL.search(cleaned):
            raise ValueError(
                f"`{_CONTROL.sub('?', cleaned[:60])}` is not a scope: "
                "use all, queue:<name>, tenant:<id>, model:<name> or skill:<name>"
            )
        return cls(match.group(1), match.group(2))

    @staticmethod
    def looks_like_scope(token: str) -> bool:
        """`all` or `word:value` is meant as a scope (and a bad one is an error, not silently a reason)."""
        return token.lower() == "all" or bool(_SCOPE_SHAPE.match(token))

    def matches(self, context: dict[str, Any]) -> bool:
        return self.kind == "all" or (self.value is not None and context.get(self.kind) == self.value)

    def __str__(self) -> str:
        return "all" if self.kind == "all" else f"{self.kind}:{self.value}"


@dataclass(frozen=True)
class ActiveSwitch:
    id: int
    scope: Scope
    mode: Mode
    reason: str
    created_by: str
    created_by_name: str | None
    created_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "scope": str(self.scope),
            "mode": self.mode.value,
            "reason": self.reason,
            "paused_by": {"slack_user_id": self.created_by, "name": self.created_by_name},
            "since": self.created_at.isoformat(),
        }


@dataclass(frozen=True)
class Verdict:
    paused: bool
    mode: Mode | None
    matched: tuple[ActiveSwitch, ...]

    def to_json(self, *, detail: bool = True) -> dict[str, Any]:
        body: dict[str, Any] = {"paused": self.paused, "mode": self.mode.value if self.mode else None}
        if detail:
            body["matched"] = [s.to_json() for s in self.matched]
        return body


def evaluate(switches: tuple[ActiveSwitch, ...], context: dict[str, Any]) -> Verdict:
    """`off` beats `human-only` when several switches cover the same request."""
    matched = tuple(s for s in switches if s.scope.matches(context))
    if not matched:
        return Verdict(False, None, ())
    mode = Mode.OFF if any(s.mode is Mode.OFF for s in matched) else Mode.HUMAN_ONLY
    return Verdict(True, mode, matched)


@dataclass(frozen=True)
class KillArgs:
    scope: Scope
    mode: Mode
    reason: str


def check_reason(reason: str) -> str:
    """The reason as given, or ValueError saying why it can't be kept."""
    if len(reason) > MAX_REASON:
        raise ValueError(f"the reason is {len(reason):,} characters long; keep it to {MAX_REASON:,}")
    if _CONTROL.search(reason):
        raise ValueError("the reason contains control characters; use plain text")
    return reason


def parse_kill_args(text: str) -> KillArgs:
    """`[scope] [mode:off|mode:human-only] [reason…]` in any order of the first two; ValueError says what is wrong."""
    scope, mode = Scope("all"), Mode.HUMAN_ONLY
    rest = text.strip()
    for _ in range(2):
        parts = rest.split(maxsplit=1)
        head, tail = (parts[0], parts[1] if len(parts) > 1 else "") if parts else ("", "")
        if head.lower().startswith("mode:"):
            try:
                mode = Mode(head.split(":", 1)[1].lower())
            except ValueError:
                raise ValueError(
                    f"`{_CONTROL.sub('?', head[:40])}` is not a mode: use mode:human-only or mode:off"
                ) from None
        elif Scope.looks_like_scope(head):
            scope = Scope.parse(head)
        else:
            break
        rest = tail.strip()
    return KillArgs(scope, mode, check_reason(rest))
