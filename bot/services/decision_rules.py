"""What a submitted decision form means for a case: the domain rules, pure and unit-testable.

A form comes in as the reviewer filled it (handlers/forms.py reads Slack's state into these inputs); here it is
checked against the case as stored: the queue's checklist must be ticked whole, edited action arguments keep the
type of the proposed ones, the edited draft keeps what the modal could not show, and an edit that changes
nothing is an approval. The answer is the decision to record, or the errors to show inline in the modal.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from blocks.ids import InputId
from blocks.modals import arg_block_id, draft_block_id, draft_from_inputs
from bot.domain.cases import CaseStatus, RejectReason

Errors = dict[str, str]


@dataclass(frozen=True)
class ArgInput:
    """One action argument's input as submitted: typed text, or the option picked (booleans)."""

    value: str | None = None
    selected: str | None = None


@dataclass(frozen=True)
class ApproveInput:
    case_id: str
    ticked: frozenset[str] = frozenset()
    note: str | None = None
    outcome: CaseStatus = CaseStatus.APPROVED


@dataclass(frozen=True)
class EditInput:
    case_id: str
    # The draft's parts as submitted (the modal may have offered fewer parts than the draft has).
    parts: tuple[str, ...]
    # Inputs of the action's arguments, by the argument's position (absent: not offered, kept as proposed).
    args: dict[int, ArgInput] = field(default_factory=dict)
    note: str | None = None
    outcome: CaseStatus = CaseStatus.EDITED


@dataclass(frozen=True)
class RejectInput:
    case_id: str
    reason: str | None = None
    note: str | None = None
    outcome: CaseStatus = CaseStatus.REJECTED


DecisionInput = ApproveInput | EditInput | RejectInput


@dataclass(frozen=True)
class DecisionRequest:
    """A decision ready to record: the outcome and what it carries into the case's decision columns."""

    outcome: CaseStatus
    final_text: str | None = None
    final_action: dict[str, Any] | None = None
    reason: str | None = None
    note: str | None = None
    checklist: tuple[str, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)


def approve(
    form: ApproveInput, draft: str, proposed: dict[str, Any] | None, checklist: list[str]
) -> DecisionRequest | Errors:
    missing = [item for index, item in enumerate(checklist) if str(index) not in form.ticked]
    if missing:
        return {
            InputId.CHECKLIST.value: (
                f"Tick every item to approve ({len(checklist) - len(missing)} of {len(checklist)} ticked)."
            )
        }
    return DecisionRequest(
        CaseStatus.APPROVED, final_text=draft, final_action=proposed, note=form.note, checklist=tuple(checklist)
    )


def edit(form: EditInput, draft: str, proposed: dict[str, Any] | None) -> DecisionRequest | Errors:
    """`draft` is the case's stored draft: the parts the modal did not offer are kept from it as written."""
    text = draft_from_inputs(draft, list(form.parts))
    errors: Errors = {}
    if not text.strip():
        errors[draft_block_id(0)] = "The answer can't be empty. To turn the draft down, use Reject instead."
    action = None
    if proposed is not None:
        args: dict[str, Any] = {}
        for index, (key, original) in enumerate((proposed.get("args") or {}).items()):
            if index not in form.args:  # not editable in the modal (too long): kept as proposed
                args[key] = original
                continue
            parsed = typed_arg(form.args[index], original)
            if isinstance(parsed, Invalid):
                errors[arg_block_id(index)] = parsed.message
            else:
                args[key] = parsed
        action = {**proposed, "args": args}
    if errors:
        return errors
    # Submitting the draft untouched is an approval: the draft was accepted as written.
    unchanged = text == draft and action == proposed
    return DecisionRequest(
        CaseStatus.APPROVED if unchanged else CaseStatus.EDITED,
        final_text=text,
        final_action=action,
        note=form.note,
        details={"via": "edit", "unchanged": unchanged, "action_after": action},
    )


def reject(form: RejectInput) -> DecisionRequest | Errors:
    errors: Errors = {}
    if form.reason not in RejectReason._value2member_map_:
        errors[InputId.REASON.value] = "Pick the category that fits best."
    if not form.note:
        errors[InputId.NOTE.value] = "Add a note: what is wrong, or what the answer should have been."
    if errors:
        return errors
    return DecisionRequest(CaseStatus.REJECTED, reason=form.reason, note=form.note)


def decision_request(form: DecisionInput, payload: dict[str, Any], checklist: list[str]) -> DecisionRequest | Errors:
    """The form checked against the case's stored escalation (`payload`)."""
    draft = str(payload.get("model_draft") or "")
    proposed = payload.get("proposed_action") or None
    if isinstance(form, ApproveInput):
        return approve(form, draft, proposed, checklist)
    if isinstance(form, EditInput):
        return edit(form, draft, proposed)
    return reject(form)


@dataclass(frozen=True)
class Invalid:
    message: str


def typed_arg(given: ArgInput, original: Any) -> Any:
    """The edited value with the type of the proposed one: numbers stay numbers, JSON stays JSON."""
    if isinstance(original, bool):
        return (given.selected or str(original).lower()) == "true"
    raw = given.value
    text = raw.strip() if isinstance(raw, str) else ""
    if isinstance(original, int):
        try:
            return int(text)
        except ValueError:
            return Invalid("Enter a whole number.")
    if isinstance(original, float):
        try:
            number = float(text)
        except ValueError:
            return Invalid("Enter a number.")
        return number if math.isfinite(number) else Invalid("Enter a finite number.")
    if isinstance(original, str):
        return raw if isinstance(raw, str) else ""
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError as exc:
        return Invalid(f"Not valid JSON: {exc}"[:150])
