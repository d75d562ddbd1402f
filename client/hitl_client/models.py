"""Typed views of hitl's JSON. A newer server may add fields or values: nothing it sends is dropped.

Every model keeps unknown fields (`model_extra`) and the JSON exactly as received (`raw`); a field whose value
this client cannot parse is left at its default and named in `unparsed`, instead of failing the whole object.
Outcomes and statuses are plain strings for the same reason: a new one is carried, not refused.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidatorFunctionWrapHandler,
    model_validator,
)

KNOWN_OUTCOMES = ("approved", "edited", "rejected")


class _ApiObject(BaseModel):
    model_config = ConfigDict(extra="allow")

    _raw: dict[str, Any] = PrivateAttr(default_factory=dict)
    _unparsed: tuple[str, ...] = PrivateAttr(default=())

    @model_validator(mode="wrap")
    @classmethod
    def _keep_everything(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        if not isinstance(data, dict):
            return handler(data)
        unparsed: tuple[str, ...] = ()
        try:
            model = handler(data)
        except ValidationError as exc:
            bad = {str(err["loc"][0]) for err in exc.errors() if err["loc"]}
            unparsed = tuple(sorted(bad))
            model = handler({k: v for k, v in data.items() if k not in bad})
        model._raw = data
        model._unparsed = unparsed
        return model

    @property
    def raw(self) -> dict[str, Any]:
        """The JSON object exactly as the server sent it."""
        return self._raw

    @property
    def unparsed(self) -> tuple[str, ...]:
        """Fields whose values did not fit this client's types (still in `raw`)."""
        return self._unparsed


class Reviewer(_ApiObject):
    slack_user_id: str | None = None
    slack_team_id: str | None = None
    name: str | None = None


class Action(_ApiObject):
    """A structured action: `action` names it, `args` are its arguments (as approved, in a decision)."""

    action: str = ""
    args: dict[str, Any] = Field(default_factory=dict)
    idempotency_key: str | None = None  # in decisions: execute the approved action once per key


class Decision(_ApiObject):
    outcome: str = ""  # approved | edited | rejected (a newer server may add others)
    final_text: str | None = None
    reason: str | None = None  # the rejection category
    note: str | None = None
    checklist: list[Any] = Field(default_factory=list)
    decided_by: Reviewer | None = None
    decided_at: datetime | None = None
    tier: int | None = None
    proposed_action: Action | None = None  # the action as approved (edited args included); None when rejected
    edit_distance: int | None = None
    edit_ratio: float | None = None

    @property
    def approved(self) -> bool:
        """Approved as proposed or edited: the action may go ahead (with `proposed_action`'s args)."""
        return self.outcome in ("approved", "edited")

    @property
    def rejected(self) -> bool:
        return self.outcome == "rejected"

    @property
    def edited(self) -> bool:
        return self.outcome == "edited"

    @property
    def category(self) -> str | None:
        """The rejection category (the API calls it `reason`)."""
        return self.reason


class Case(_ApiObject):
    case_id: str
    status: str = "pending"  # pending | approved | edited | rejected
    queue: str | None = None
    tier: int | None = None
    channel: str | None = None
    message_ts: str | None = None
    sla_deadline: datetime | None = None
    tier_deadline: datetime | None = None
    next_deadline: datetime | None = None
    claimed_by: dict[str, Any] | None = None
    unhandled_at: datetime | None = None  # set when paging ran out; the case stays pending and decidable
    decision: Decision | None = None
    automation: dict[str, Any] | None = None  # in the answer to an escalation
    timeline: list[dict[str, Any]] = Field(default_factory=list)
    deliveries: list[dict[str, Any]] = Field(default_factory=list)
    webhooks: list[dict[str, Any]] = Field(default_factory=list)
    created_at: datetime | None = None
    created: bool | None = None  # set by the client on escalate: True when stored now (201), False on a replay (200)

    @property
    def pending(self) -> bool:
        return self.status == "pending"

    @property
    def decided(self) -> bool:
        return not self.pending

    @property
    def unhandled(self) -> bool:
        """Paging ran out with no decision; still pending and decidable."""
        return self.unhandled_at is not None


class Approval(BaseModel):
    """What `request_approval` returns: the action as a reviewer approved it (maybe edited)."""

    case_id: str
    action: str
    args: dict[str, Any]
    edited: bool
    idempotency_key: str | None
    note: str | None
    decided_by: Reviewer | None
    decision: Decision


class DecisionEvent(_ApiObject):
    """A webhook event: `review.decided`, `review.unhandled` (and the ops `killswitch.*` events)."""

    event_id: str = ""
    type: str = ""
    created_at: datetime | None = None
    case_id: str | None = None
    queue: str | None = None
    tenant_id: str | None = None
    tier: int | None = None
    outcome: str | None = None  # approved | edited | rejected | unhandled
    edited: bool | None = None
    final_text: str | None = None
    original_draft: str | None = None
    edit_distance: int | None = None
    edit_ratio: float | None = None
    reason: str | None = None
    note: str | None = None
    checklist: list[Any] = Field(default_factory=list)
    proposed_action: Action | None = None
    original_action: Action | None = None
    decided_by: Reviewer | None = None
    decided_at: datetime | None = None
