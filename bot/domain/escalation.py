"""The escalation object an LLM system sends when it should not act alone."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AnyHttpUrl,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    ValidationInfo,
    field_validator,
)

MAX_DRAFT_CHARS = 100_000
MAX_TEXT_CHARS = 20_000
# A deadline may lie this far in the past (clock skew between the LLM system and hitl) and this far ahead.
DEADLINE_SKEW = timedelta(minutes=5)
DEADLINE_HORIZON = timedelta(days=366)

ShortStr = Annotated[str, Field(min_length=1, max_length=256)]
CASE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@/-]*$"
_CASE_ID = re.compile(CASE_ID_PATTERN)


def case_id_problem(case_id: str) -> str | None:
    """Why a case_id can't be used, or None. The same rule for ingest and for the read route, so no path
    normalisation (a proxy's, a client library's) can make one case_id reach another case."""
    if not 1 <= len(case_id) <= 128 or not _CASE_ID.match(case_id):
        return "1-128 characters of A-Z a-z 0-9 . _ : @ / -, starting with a letter or digit"
    if any(segment in ("", ".", "..") for segment in case_id.split("/")):
        return "no empty, '.' or '..' path segments (no '//', no trailing '/')"
    return None


@dataclass(frozen=True)
class NewInput:
    """Validation context for an escalation arriving now (not one read back from the database): the checks
    that depend on the moment of arrival apply only then."""

    now: datetime


def _iso_text(value: Any) -> Any:
    # JSON numbers would be taken as Unix timestamps: a deadline must say its time zone, as ISO 8601 text does.
    if not isinstance(value, str):
        raise ValueError("must be an ISO 8601 date-time string with a UTC offset, e.g. 2026-12-05T17:00:00+01:00")
    return value


Deadline = Annotated[AwareDatetime, BeforeValidator(_iso_text)]


class RiskLevel(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class _Input(BaseModel):
    # Unknown fields are refused so a typo (`model_drft`) is a 422, not a silently empty card.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class Evidence(_Input):
    document_id: ShortStr
    quote: str = Field("", max_length=MAX_TEXT_CHARS)
    score: float | None = Field(None, allow_inf_nan=False)
    url: AnyHttpUrl | None = None


class ModelInfo(_Input):
    name: ShortStr
    version: Annotated[str, Field(max_length=256)] | None = None


class Impact(_Input):
    dollars: float | None = Field(None, ge=0, allow_inf_nan=False)
    users_affected: int | None = Field(None, ge=0)
    compliance_risk: bool | str | None = None


class ProposedAction(_Input):
    action: Annotated[str, Field(min_length=1, max_length=128)]
    args: dict[Annotated[str, Field(min_length=1, max_length=128)], JsonValue] = Field(
        default_factory=dict, max_length=50
    )


class Escalation(_Input):
    case_id: Annotated[str, Field(min_length=1, max_length=128, pattern=CASE_ID_PATTERN)]
    tenant_id: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    skill: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    user_question: str | None = Field(None, max_length=MAX_TEXT_CHARS)
    model_draft: str = Field(min_length=1, max_length=MAX_DRAFT_CHARS)
    evidence: list[Evidence] = Field(default_factory=list, max_length=50)
    tool_results: list[JsonValue] = Field(default_factory=list, max_length=50)
    risk_level: RiskLevel | None = None
    reason_for_escalation: str = Field(min_length=1, max_length=MAX_TEXT_CHARS)
    sla_deadline: Deadline | None = None
    language: Annotated[str, Field(min_length=1, max_length=35)] | None = None
    model: ModelInfo | None = None
    prompt_hash: Annotated[str, Field(max_length=256)] | None = None
    confidence: float | None = Field(None, ge=0, le=1, allow_inf_nan=False)
    signals: dict[Annotated[str, Field(min_length=1, max_length=128)], str | float | int | bool | None] = Field(
        default_factory=dict, max_length=50
    )
    impact: Impact | None = None
    proposed_action: ProposedAction | None = None
    callback_url: AnyHttpUrl | None = None

    @field_validator("case_id")
    @classmethod
    def _unambiguous(cls, value: str) -> str:
        problem = case_id_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("sla_deadline")
    @classmethod
    def _sane_window(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        arriving = info.context.get("new") if isinstance(info.context, dict) else None
        if value is None or not isinstance(arriving, NewInput):
            return value
        if value < arriving.now - DEADLINE_SKEW:
            raise ValueError(f"is in the past (more than {int(DEADLINE_SKEW.total_seconds() // 60)} minutes ago)")
        if value > arriving.now + DEADLINE_HORIZON:
            raise ValueError("is more than a year ahead")
        return value

    def routing_context(self) -> dict[str, Any]:
        return {
            "skill": self.skill,
            "risk_level": self.risk_level.value if self.risk_level else None,
            "tenant_id": self.tenant_id,
            "language": self.language,
        }


def unstorable_strings(value: Any, path: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    """Paths of strings a database cannot hold (NUL characters, lone surrogates), keys included.

    PostgreSQL refuses both; catching them here turns a would-be 500 into a 422 that names the field.
    """
    found: list[tuple[str | int, ...]] = []
    if isinstance(value, str):
        if "\x00" in value or not _encodes(value):
            found.append(path)
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and ("\x00" in key or not _encodes(key)):
                found.append((*path, "(key)"))
            found.extend(unstorable_strings(item, (*path, key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(unstorable_strings(item, (*path, index)))
    return found


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
