"""Modal submissions: Slack's `state.values` into typed forms, or per-input errors for `response_action: errors`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from blocks.ids import InputId, ModalMetadata, RejectReason
from blocks.modals import draft_block_id, join_parts

Errors = dict[str, str]


def _element(values: dict[str, dict[str, Any]], block_id: str) -> dict[str, Any]:
    return (values.get(block_id) or {}).get(InputId.VALUE.value) or {}


def _text(values: dict[str, dict[str, Any]], block_id: str) -> str:
    value = _element(values, block_id).get("value")
    return value if isinstance(value, str) else ""


def _note(values: dict[str, dict[str, Any]]) -> str | None:
    note = _text(values, InputId.NOTE.value).strip()
    return note or None


@dataclass(frozen=True)
class ApproveForm:
    note: str | None
    checked: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class EditForm:
    final_text: str
    note: str | None


@dataclass(frozen=True)
class RejectForm:
    reason: RejectReason
    note: str


def parse_approve(values: dict[str, dict[str, Any]], checklist: list[str]) -> ApproveForm | Errors:
    selected = _element(values, InputId.CHECKLIST.value).get("selected_options") or []
    ticked = {option.get("value") for option in selected if isinstance(option, dict)}
    missing = [item for index, item in enumerate(checklist) if str(index) not in ticked]
    if missing:
        return {InputId.CHECKLIST.value: f"Tick every item to approve ({len(checklist) - len(missing)} of {len(checklist)} ticked)."}
    return ApproveForm(note=_note(values), checked=list(checklist))


def parse_edit(values: dict[str, dict[str, Any]], meta: ModalMetadata) -> EditForm | Errors:
    count = max(len(meta.seps) - 1, 1)
    parts = [_text(values, draft_block_id(i)).strip() for i in range(count)]
    text = join_parts(parts, meta.seps) if meta.seps else parts[0]
    if not text.strip():
        return {draft_block_id(0): "The answer can't be empty. To turn the draft down, use Reject instead."}
    return EditForm(final_text=text, note=_note(values))


def parse_reject(values: dict[str, dict[str, Any]]) -> RejectForm | Errors:
    errors: Errors = {}
    selected = (_element(values, InputId.REASON.value).get("selected_option") or {}).get("value")
    try:
        reason = RejectReason(selected)
    except ValueError:
        errors[InputId.REASON.value] = "Pick the category that fits best."
    note = _note(values)
    if note is None:
        errors[InputId.NOTE.value] = "Add a note: what is wrong, or what the answer should have been."
    if errors:
        return errors
    return RejectForm(reason=reason, note=note or "")
