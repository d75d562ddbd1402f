"""The routing policy: which queue an escalation goes to, who reviews it at each tier, and how long they have.

The file is version-controlled by its users, so every unknown key or bad value is an error that names its place.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import time, timedelta
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    AfterValidator,
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from bot.durations import Duration
from bot.outbound import OutboundRules, url_refusal

USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
GROUP_ID = re.compile(r"^S[A-Z0-9]{2,}$")
CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,}$")

DEFAULT_REMIND_AT = 0.75
DEFAULT_REPEAT_EVERY = timedelta(minutes=30)
DEFAULT_MAX_REPEATS = 3
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class PolicyError(Exception):
    """The policy file cannot be used; the message names the file and each bad place in it."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_channel(value: str) -> str:
    if not CHANNEL_ID.match(value):
        raise ValueError(f"{value!r} is not a Slack channel ID (C…, G…)")
    return value


def _check_principal(value: str) -> str:
    if not (USER_ID.match(value) or GROUP_ID.match(value)):
        raise ValueError(f"{value!r} is not a Slack user ID (U…/W…) or user-group ID (S…)")
    return value


def _check_webhook_url(value: AnyHttpUrl, info: ValidationInfo) -> AnyHttpUrl:
    # The operator's rules come in the validation context (HITL_WEBHOOK_ALLOW_PRIVATE, …); none means strict.
    rules = (info.context or {}).get("outbound") or OutboundRules()
    refusal = url_refusal(str(value), rules)
    if refusal is not None:
        raise ValueError(refusal.message)
    return value


ChannelId = Annotated[str, AfterValidator(_check_channel)]
WebhookUrl = Annotated[AnyHttpUrl, AfterValidator(_check_webhook_url)]
PrincipalId = Annotated[str, AfterValidator(_check_principal)]
OneOrMany = str | list[str] | None


class Match(_Strict):
    skill: OneOrMany = None
    risk_level: OneOrMany = None
    tenant_id: OneOrMany = None
    language: OneOrMany = None

    def matches(self, context: dict[str, Any]) -> bool:
        for key in ("skill", "risk_level", "tenant_id", "language"):
            wanted = getattr(self, key)
            if wanted is None:
                continue
            allowed = [wanted] if isinstance(wanted, str) else wanted
            if context.get(key) not in allowed:
                return False
        return True


class BusinessHours(_Strict):
    timezone: str
    days: str | list[str] = "mon-fri"
    start: str = "09:00"
    end: str = "17:00"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone (e.g. Europe/Berlin)") from None
        return value

    @field_validator("start", "end")
    @classmethod
    def _clock_time(cls, value: str) -> str:
        try:
            time.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a time of day like 09:00") from None
        return value

    @field_validator("days")
    @classmethod
    def _day_spec(cls, value: str | list[str]) -> str | list[str]:
        _expand_days(value)
        return value

    @model_validator(mode="after")
    def _start_before_end(self) -> BusinessHours:
        if time.fromisoformat(self.start) >= time.fromisoformat(self.end):
            raise ValueError("start must be before end")
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def weekdays(self) -> frozenset[int]:
        return _expand_days(self.days)

    @property
    def opens(self) -> time:
        return time.fromisoformat(self.start)

    @property
    def closes(self) -> time:
        return time.fromisoformat(self.end)


def _expand_days(spec: str | list[str]) -> frozenset[int]:
    items = spec if isinstance(spec, list) else [p.strip() for p in spec.split(",")]
    days: set[int] = set()
    for item in items:
        lo, _, hi = item.strip().lower().partition("-")
        if lo not in DAY_NAMES or (hi and hi not in DAY_NAMES):
            raise ValueError(f"{item!r} is not a day or range of days (mon…sun, e.g. mon-fri)")
        first, last = DAY_NAMES.index(lo), DAY_NAMES.index(hi or lo)
        if last < first:
            raise ValueError(f"{item!r} runs backwards")
        days.update(range(first, last + 1))
    if not days:
        raise ValueError("name at least one day")
    return frozenset(days)


class _Timing(_Strict):
    """SLA settings a queue sets for all its tiers and a tier may override."""

    remind_at: float | None = Field(None, gt=0, lt=1)
    repeat_every: Duration | None = None
    max_repeats: int | None = Field(None, ge=0, le=100)
    business_hours: BusinessHours | None = None


class DigestSettings(_Strict):
    """When and where the daily digest is posted; a queue may have its own (only its figures)."""

    channel: ChannelId
    at: str = "09:00"
    timezone: str = "UTC"
    # Flag the escalation rate when it moves by more than this share against the 7-day average.
    trend_threshold: float = Field(0.5, gt=0)
    # A digest missed while no process was up is still posted at start within this long.
    misfire_grace: Duration = timedelta(hours=6)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return BusinessHours._known_zone(value)

    @field_validator("at")
    @classmethod
    def _clock_time(cls, value: str) -> str:
        return BusinessHours._clock_time(value)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def time_of_day(self) -> time:
        return time.fromisoformat(self.at)


class Tier(_Timing):
    name: str = Field(min_length=1, max_length=80)
    channel: ChannelId
    reviewers: list[PrincipalId] = Field(min_length=1)
    sla: Duration


class Queue(_Timing):
    name: str = Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_.-]+$")
    match: Match = Match()
    tiers: list[Tier] = Field(min_length=1)
    approve_checklist: list[Annotated[str, Field(min_length=1, max_length=75)]] = Field(
        default_factory=list, max_length=10
    )
    # Where decisions are POSTed when the escalation has no callback_url of its own.
    webhook_url: WebhookUrl | None = None
    digest: DigestSettings | None = None

    def tier(self, number: int) -> Tier:
        """Tiers are numbered from 1, as people say them."""
        return self.tiers[min(max(number, 1), len(self.tiers)) - 1]

    def timing(self, number: int) -> TierTiming:
        tier = self.tier(number)
        return TierTiming(
            sla=tier.sla,
            remind_at=tier.remind_at or self.remind_at or DEFAULT_REMIND_AT,
            repeat_every=tier.repeat_every or self.repeat_every or DEFAULT_REPEAT_EVERY,
            max_repeats=_first_set(tier.max_repeats, self.max_repeats, DEFAULT_MAX_REPEATS),
            business_hours=tier.business_hours or self.business_hours,
        )


def _first_set(*values: int | None) -> int:
    return next(v for v in values if v is not None)


@dataclass(frozen=True)
class TierTiming:
    sla: timedelta
    remind_at: float
    repeat_every: timedelta
    max_repeats: int
    business_hours: BusinessHours | None


class Ops(_Strict):
    channel: ChannelId
    operators: list[PrincipalId] = Field(default_factory=list)
    # Receives a signed JSON event on every kill and resume.
    webhook_url: WebhookUrl | None = None


class SchedulerSettings(_Strict):
    sweep_every: Duration = timedelta(seconds=5)


class Policy(_Strict):
    queues: list[Queue] = Field(min_length=1)
    ops: Ops | None = None
    scheduler: SchedulerSettings = SchedulerSettings()
    digest: DigestSettings | None = None

    @field_validator("queues")
    @classmethod
    def _unique_names(cls, queues: list[Queue]) -> list[Queue]:
        seen: set[str] = set()
        for queue in queues:
            if queue.name in seen:
                raise ValueError(f"queue name {queue.name!r} is used twice")
            seen.add(queue.name)
        return queues

    def route(self, context: dict[str, Any]) -> Queue | None:
        """First match wins, in file order."""
        return next((q for q in self.queues if q.match.matches(context)), None)

    def queue(self, name: str) -> Queue | None:
        return next((q for q in self.queues if q.name == name), None)

    @property
    def has_catch_all(self) -> bool:
        return any(q.match == Match() for q in self.queues)


def _error_lines(source: str, exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        place = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"]).lstrip(".")
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown key"
        lines.append(f"{source}: {place or '(top level)'}: {message}")
    return "\n".join(lines)


def parse_policy(data: Any, source: str = "policy", outbound: OutboundRules | None = None) -> Policy:
    """`outbound`: what webhook URLs may point at (the settings' rules); by default nothing internal."""
    if not isinstance(data, dict):
        raise PolicyError(f"{source}: expected a mapping with a `queues:` list at the top level")
    try:
        return Policy.model_validate(data, context={"outbound": outbound})
    except ValidationError as exc:
        raise PolicyError(_error_lines(source, exc)) from None


def load_policy(path: str | Path, outbound: OutboundRules | None = None) -> Policy:
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PolicyError(f"{file}: policy file not found (set HITL_POLICY to its path)") from None
    except OSError as exc:
        raise PolicyError(f"{file}: cannot read: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise PolicyError(f"{file}: not valid YAML{where}") from None
    return parse_policy(data, str(file), outbound)
