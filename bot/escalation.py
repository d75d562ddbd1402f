"""The escalation object an LLM system sends when it should not act alone."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import AnyHttpUrl, AwareDatetime, BaseModel, ConfigDict, Field, JsonValue

MAX_DRAFT_CHARS = 100_000
MAX_TEXT_CHARS = 20_000

ShortStr = Annotated[str, Field(min_length=1, max_length=256)]


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
    args: dict[Annotated[str, Field(min_length=1, max_length=128)], JsonValue] = Field(default_factory=dict, max_length=50)


class Escalation(_Input):
    case_id: Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@/-]*$")]
    tenant_id: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    skill: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    user_question: str | None = Field(None, max_length=MAX_TEXT_CHARS)
    model_draft: str = Field(min_length=1, max_length=MAX_DRAFT_CHARS)
    evidence: list[Evidence] = Field(default_factory=list, max_length=50)
    tool_results: list[JsonValue] = Field(default_factory=list, max_length=50)
    risk_level: RiskLevel | None = None
    reason_for_escalation: str = Field(min_length=1, max_length=MAX_TEXT_CHARS)
    sla_deadline: AwareDatetime | None = None
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

