"""A case's states, and the one shape of a decision (the API, the webhooks, the export and the card all read it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class CaseStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    EDITED = "edited"
    REJECTED = "rejected"

    @property
    def decided(self) -> bool:
        return self in DECIDED


DECIDED = frozenset({CaseStatus.APPROVED, CaseStatus.EDITED, CaseStatus.REJECTED})
OPEN_STATUSES = (CaseStatus.PENDING.value,)


class RejectReason(StrEnum):
    FACTUAL_ERROR = "factual_error"
    HALLUCINATION = "hallucination"
    MISSING_EVIDENCE = "missing_evidence"
    INCORRECT_EVIDENCE = "incorrect_evidence"
    POLICY_VIOLATION = "policy_violation"
    UNSAFE = "unsafe"
    OTHER = "other"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()


def reason_label(reason: str) -> str:
    """A stored reject reason as people read it (one a newer version wrote reads as itself)."""
    return RejectReason(reason).label if reason in RejectReason._value2member_map_ else reason


@dataclass(frozen=True)
class SlackUser:
    """A person in Slack, as a decision or an audit row names them."""

    slack_user_id: str
    slack_team_id: str | None = None
    name: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"slack_user_id": self.slack_user_id, "slack_team_id": self.slack_team_id, "name": self.name}


@dataclass(frozen=True)
class Decision:
    """What a reviewer decided. `final_action` is the structured action exactly as approved (None when
    rejected or when there was none); `edit_ratio` is the normalised Levenshtein distance of draft and final text."""

    outcome: CaseStatus
    decided_by: SlackUser
    decided_at: datetime
    tier: int
    final_text: str | None = None
    final_action: dict[str, Any] | None = None
    reason: str | None = None
    note: str | None = None
    checklist: tuple[str, ...] = field(default_factory=tuple)
    edit_distance: int | None = None
    edit_ratio: float | None = None
