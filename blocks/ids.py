"""Every action_id and callback_id the app uses, and the typed payloads carried in buttons and modals."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class ActionId(StrEnum):
    APPROVE = "hitl.approve"
    EDIT = "hitl.edit"
    REJECT = "hitl.reject"
    CLAIM = "hitl.claim"
    UNCLAIM = "hitl.unclaim"


class CallbackId(StrEnum):
    APPROVE = "hitl.approve_submit"
    EDIT = "hitl.edit_submit"
    REJECT = "hitl.reject_submit"
    KILL = "hitl.kill_submit"


class InputId(StrEnum):
    """block_id (and action_id) of modal inputs; draft parts are `draft_0`, `draft_1`, …"""

    NOTE = "note"
    CHECKLIST = "checklist"
    REASON = "reason"
    DRAFT_PREFIX = "draft_"
    VALUE = "value"
    SCOPE = "scope"
    MODE = "mode"


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def dump(self) -> str:
        return self.model_dump_json(exclude_defaults=True)


class CaseRef(_Payload):
    """A card button's `value`."""

    case_id: str = Field(alias="c")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    def dump(self) -> str:
        return self.model_dump_json(by_alias=True)


class CommandMetadata(_Payload):
    """An ops modal's `private_metadata`: where the command was typed, for the confirmation."""

    channel: str | None = None


class ModalMetadata(_Payload):
    """A decision modal's `private_metadata`: what was clicked, and how many draft parts the Edit modal offered.

    The draft's split (and the whitespace between parts) is recomputed from the stored draft on submit, so the
    metadata stays small whatever the draft holds (Slack allows 3,000 characters).
    """

    case_id: str
    channel: str | None = None
    message_ts: str | None = None
    draft_parts: int = 0
