"""Modal submissions: Slack's `state.values` into typed forms, or per-input errors for `response_action: errors`."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from blocks.ids import InputId, ModalMetadata, RejectReason
from blocks.modals import arg_block_id, draft_block_id, draft_from_inputs
from bot.killswitch import KillArgs, Mode, Scope, check_reason

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
    action_args: dict[str, Any] | None = None


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


def parse_edit(values: dict[str, dict[str, Any]], meta: ModalMetadata, draft: str, proposed_args: dict[str, Any] | None) -> EditForm | Errors:
    """`draft` is the case's stored draft: the parts the modal did not offer are kept from it as written."""
    parts = [_text(values, draft_block_id(i)).strip() for i in range(max(meta.draft_parts, 1))]
    text = draft_from_inputs(draft, parts)
    errors: Errors = {}
    if not text.strip():
        errors[draft_block_id(0)] = "The answer can't be empty. To turn the draft down, use Reject instead."
    args = None
    if proposed_args is not None:
        args = {}
        for index, (key, original) in enumerate(proposed_args.items()):
            block_id = arg_block_id(index)
            if block_id not in values:  # not editable in the modal (too long): kept as proposed
                args[key] = original
                continue
            parsed = _parse_arg(_element(values, block_id), original)
            if isinstance(parsed, _Invalid):
                errors[block_id] = parsed.message
            else:
                args[key] = parsed
    if errors:
        return errors
    return EditForm(final_text=text, note=_note(values), action_args=args)


@dataclass(frozen=True)
class _Invalid:
    message: str


def _parse_arg(element: dict[str, Any], original: Any) -> Any:
    """The edited value with the type of the proposed one: numbers stay numbers, JSON stays JSON."""
    if isinstance(original, bool):
        return ((element.get("selected_option") or {}).get("value") or str(original).lower()) == "true"
    raw = element.get("value")
    text = raw.strip() if isinstance(raw, str) else ""
    if isinstance(original, int):
        try:
            return int(text)
        except ValueError:
            return _Invalid("Enter a whole number.")
    if isinstance(original, float):
        try:
            number = float(text)
        except ValueError:
            return _Invalid("Enter a number.")
        return number if math.isfinite(number) else _Invalid("Enter a finite number.")
    if isinstance(original, str):
        return raw if isinstance(raw, str) else ""
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError as exc:
        return _Invalid(f"Not valid JSON: {exc}"[:150])


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


def parse_kill(values: dict[str, dict[str, Any]]) -> KillArgs | Errors:
    """The kill form, bounded like `/hitl kill`: a scope, a mode, and a reason of at most MAX_REASON characters."""
    errors: Errors = {}
    scope_text = _text(values, InputId.SCOPE.value).strip() or "all"
    picked = (_element(values, InputId.MODE.value).get("selected_option") or {}).get("value") or Mode.HUMAN_ONLY.value
    reason = _text(values, InputId.REASON.value).strip()
    scope, mode = Scope("all"), Mode.HUMAN_ONLY
    try:
        scope = Scope.parse(scope_text)
    except ValueError as exc:
        errors[InputId.SCOPE.value] = str(exc).replace("`", "")[:150]
    try:
        mode = Mode(picked)
    except ValueError:
        errors[InputId.MODE.value] = "Pick one of the modes offered."
    if not reason:
        errors[InputId.REASON.value] = "Say why: it is announced to ops and kept in the audit trail."
    else:
        try:
            check_reason(reason)
        except ValueError as exc:
            errors[InputId.REASON.value] = f"Not kept: {exc}."[:150]
    if errors:
        return errors
    return KillArgs(scope, mode, reason)
