"""Modal submissions: Slack's `state.values` read into typed inputs (the decision forms are checked against their
case by bot.services.decision_rules; the kill form needs no case and is checked here)."""

from __future__ import annotations

from typing import Any

from blocks.ids import InputId, ModalMetadata
from blocks.modals import ARG_PREFIX, draft_block_id
from bot.domain.pauses import KillArgs, Mode, Scope, check_reason
from bot.services.decision_rules import ApproveInput, ArgInput, EditInput, RejectInput

Errors = dict[str, str]


def _element(values: dict[str, dict[str, Any]], block_id: str) -> dict[str, Any]:
    return (values.get(block_id) or {}).get(InputId.VALUE.value) or {}


def _text(values: dict[str, dict[str, Any]], block_id: str) -> str:
    value = _element(values, block_id).get("value")
    return value if isinstance(value, str) else ""


def _note(values: dict[str, dict[str, Any]]) -> str | None:
    note = _text(values, InputId.NOTE.value).strip()
    return note or None


def read_approve(case_id: str, values: dict[str, dict[str, Any]]) -> ApproveInput:
    selected = _element(values, InputId.CHECKLIST.value).get("selected_options") or []
    ticked = frozenset(str(option.get("value")) for option in selected if isinstance(option, dict))
    return ApproveInput(case_id, ticked, _note(values))


def read_edit(meta: ModalMetadata, values: dict[str, dict[str, Any]]) -> EditInput:
    parts = tuple(_text(values, draft_block_id(i)).strip() for i in range(max(meta.draft_parts, 1)))
    args = {}
    for block_id in values:
        if block_id.startswith(ARG_PREFIX) and block_id.removeprefix(ARG_PREFIX).isdigit():
            element = _element(values, block_id)
            value = element.get("value")
            selected = (element.get("selected_option") or {}).get("value")
            args[int(block_id.removeprefix(ARG_PREFIX))] = ArgInput(
                value if isinstance(value, str) else None, selected if isinstance(selected, str) else None
            )
    return EditInput(meta.case_id, parts, args, _note(values))


def read_reject(case_id: str, values: dict[str, dict[str, Any]]) -> RejectInput:
    selected = (_element(values, InputId.REASON.value).get("selected_option") or {}).get("value")
    return RejectInput(case_id, selected if isinstance(selected, str) else None, _note(values))


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
