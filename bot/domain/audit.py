"""The audit trail's vocabulary: what can be recorded, and who did it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class AuditAction(StrEnum):
    RECEIVED = "received"
    POSTED = "posted"
    VIEWED = "viewed"
    APPROVED = "approved"
    EDITED = "edited"
    REJECTED = "rejected"
    UNAUTHORIZED_ATTEMPT = "unauthorized_attempt"
    DECISION_REFUSED = "decision_refused"
    CLAIMED = "claimed"
    UNCLAIMED = "unclaimed"
    REMINDED = "reminded"
    SLA_BREACHED = "sla_breached"
    PAGED = "paged"
    PAGE_FAILED = "page_failed"
    REPAGED = "repaged"
    UNHANDLED = "unhandled"
    KILLED = "killed"
    RESUMED = "resumed"
    WEBHOOK_DELIVERED = "webhook_delivered"
    WEBHOOK_RESENT = "webhook_resent"
    OUTBOX_RETRIED = "outbox_retried"
    OUTBOX_DROPPED = "outbox_dropped"


# The SLA clock's steps, as the status API's `paging_history` lists them.
PAGING_ACTIONS = frozenset(
    {AuditAction.REMINDED, AuditAction.SLA_BREACHED, AuditAction.PAGED, AuditAction.REPAGED, AuditAction.UNHANDLED}
)


class ActorType(StrEnum):
    SLACK_USER = "slack_user"
    SYSTEM = "system"
    API = "api"


@dataclass(frozen=True)
class Actor:
    type: ActorType
    id: str | None = None
    team: str | None = None
    name: str | None = None

    @classmethod
    def slack(cls, user_id: str, team_id: str | None, name: str | None) -> Actor:
        return cls(ActorType.SLACK_USER, user_id, team_id, name)


SYSTEM = Actor(ActorType.SYSTEM, None, None, "hitl")
CLI = Actor(ActorType.SYSTEM, None, None, "hitl cli")


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def audit_text(text: str, limit: int = 500) -> str:
    """What someone typed, fit for an audit row: cut, control characters (PostgreSQL can't store NUL) shown as ?."""
    return _CONTROL.sub("?", text[:limit])
