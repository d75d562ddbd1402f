"""Approve / Edit / Reject modals, and the notices that replace them. Pure builders."""

from __future__ import annotations

import json
import re
from typing import Any

from blocks.card import CardView, format_arg
from blocks.ids import CallbackId, InputId, ModalMetadata, RejectReason
from blocks.text import escape_mrkdwn, fit, plain

View = dict[str, Any]

INPUT_MAX = 3000  # Slack's plain_text_input max_length
NOTE_MAX = 3000
PREVIEW_CHARS = 2900
_WHITESPACE_RUN = re.compile(r"\s+")


def _plain(text: str, limit: int = 24) -> dict[str, Any]:
    return {"type": "plain_text", "text": plain(text, limit), "emoji": True}


def _modal(callback: CallbackId, title: str, submit: str, blocks: list[dict[str, Any]], meta: ModalMetadata) -> View:
    return {
        "type": "modal",
        "callback_id": callback.value,
        "title": _plain(title),
        "submit": _plain(submit),
        "close": _plain("Cancel"),
        "private_metadata": meta.dump(),
        "blocks": blocks,
    }


def _summary(view: CardView) -> dict[str, Any]:
    text = (
        f"*{escape_mrkdwn(view.queue)}* · tier {view.tier} of {view.tier_count} · case `{fit(view.case_id, 128)}`\n"
        f"{fit(view.escalation.reason_for_escalation, 600)}"
    )
    return {"type": "section", "text": {"type": "mrkdwn", "text": text, "verbatim": True}}


def _note_input(*, required: bool, label: str, hint: str | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {
        "type": "input",
        "block_id": InputId.NOTE.value,
        "optional": not required,
        "label": _plain(label, 2000),
        "element": {"type": "plain_text_input", "action_id": InputId.VALUE.value, "multiline": True, "max_length": NOTE_MAX},
    }
    if hint:
        block["hint"] = _plain(hint, 2000)
    return block


def _action_preview(view: CardView) -> list[dict[str, Any]]:
    action = view.escalation.proposed_action
    if action is None:
        return []
    lines = [f"*Proposed action:* `{fit(action.action, 128)}`"]
    lines += [f"• *{fit(k, 100)}*: {fit(format_arg(v), 200)}" for k, v in list(action.args.items())[:40]]
    return [{"type": "section", "text": {"type": "mrkdwn", "text": fit("\n".join(lines), 3000, escape=False), "verbatim": True}}]


def build_approve_modal(view: CardView, checklist: list[str], meta: ModalMetadata) -> View:
    blocks: list[dict[str, Any]] = [
        _summary(view),
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*Answer to approve*\n{fit(view.escalation.model_draft, PREVIEW_CHARS)}", "verbatim": True}},
        *_action_preview(view),
    ]
    if checklist:
        blocks.append(
            {
                "type": "input",
                "block_id": InputId.CHECKLIST.value,
                "label": _plain("Before approving, confirm", 2000),
                "element": {
                    "type": "checkboxes",
                    "action_id": InputId.VALUE.value,
                    "options": [{"text": _plain(item, 75), "value": str(i)} for i, item in enumerate(checklist[:10])],
                },
            }
        )
    blocks.append(_note_input(required=False, label="Note"))
    return _modal(CallbackId.APPROVE, "Approve draft", "Approve", blocks, meta)


def split_for_inputs(text: str, limit: int = INPUT_MAX) -> tuple[list[str], list[str]]:
    """Split a draft into parts that each fit one input, keeping every character.

    Slack may trim input values, so no part starts or ends with whitespace: the whitespace at each cut,
    and before the first and after the last part, comes back separately. `join_parts` restores the text.
    """
    core = text.strip()
    lead, trail = text[: len(text) - len(text.lstrip())], text[len(text.rstrip()) :] if core else ""
    if not core:
        return [""], [text, ""]
    parts: list[str] = []
    seps: list[str] = [lead]
    rest = core
    while len(rest) > limit:
        runs = [m for m in _WHITESPACE_RUN.finditer(rest[: limit + 1]) if m.start() > 0]
        preferred = [m for m in runs if m.start() > limit // 2]
        cut = (preferred or runs or [None])[-1]
        if cut is None:
            parts.append(rest[:limit])
            seps.append("")
            rest = rest[limit:]
            continue
        end = cut.end()
        while end < len(rest) and rest[end].isspace():
            end += 1
        parts.append(rest[: cut.start()])
        seps.append(rest[cut.start() : end])
        rest = rest[end:]
    parts.append(rest)
    seps.append(trail)
    return parts, seps


def join_parts(parts: list[str], seps: list[str]) -> str:
    """Inverse of `split_for_inputs`: seps[0] + parts[0] + seps[1] + … + parts[-1] + seps[-1]."""
    out = [seps[0] if seps else ""]
    for index, part in enumerate(parts):
        out.append(part)
        if index + 1 < len(seps):
            out.append(seps[index + 1])
    return "".join(out)


def draft_block_id(index: int) -> str:
    return f"{InputId.DRAFT_PREFIX.value}{index}"


ARG_PREFIX = "arg_"


def arg_block_id(index: int) -> str:
    return f"{ARG_PREFIX}{index}"


def _arg_input(index: int, key: str, value: Any) -> dict[str, Any] | None:
    """A typed input for one action argument; None when the value cannot fit an input (left unchanged)."""
    label = _plain(key, 2000)
    block: dict[str, Any] = {"type": "input", "block_id": arg_block_id(index), "label": label}
    if isinstance(value, bool):
        options = [{"text": _plain("true", 75), "value": "true"}, {"text": _plain("false", 75), "value": "false"}]
        block["element"] = {"type": "static_select", "action_id": InputId.VALUE.value, "options": options, "initial_option": options[0 if value else 1]}
    elif isinstance(value, (int, float)):
        block["element"] = {"type": "number_input", "action_id": InputId.VALUE.value, "is_decimal_allowed": isinstance(value, float), "initial_value": repr(value)}
    else:
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        if len(text) > INPUT_MAX:
            return None
        element: dict[str, Any] = {"type": "plain_text_input", "action_id": InputId.VALUE.value, "multiline": len(text) > 150 or "\n" in text, "max_length": INPUT_MAX}
        if text:
            element["initial_value"] = text
        block["element"] = element
        block["optional"] = True
        if not isinstance(value, str):
            block["hint"] = _plain("JSON", 2000)
    return block


def _action_inputs(view: CardView) -> list[dict[str, Any]]:
    action = view.escalation.proposed_action
    if action is None:
        return []
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": f"*Proposed action:* `{fit(action.action, 128)}`: edit its arguments below.", "verbatim": True}}]
    fixed = []
    for index, (key, value) in enumerate(action.args.items()):
        block = _arg_input(index, key, value)
        if block is None:
            fixed.append(key)
        else:
            blocks.append(block)
    if fixed:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": fit("Too long to edit here, kept as proposed: " + ", ".join(fixed), 2000), "verbatim": True}]})
    return blocks


def build_edit_modal(view: CardView, meta: ModalMetadata) -> View:
    parts, seps = split_for_inputs(view.escalation.model_draft)
    meta = meta.model_copy(update={"seps": seps})
    blocks: list[dict[str, Any]] = [_summary(view)]
    if len(parts) > 1:
        blocks.append(
            {
                "type": "context",
                "elements": [
                    {"type": "mrkdwn", "text": f"The draft is {len(view.escalation.model_draft):,} characters, so it is split over {len(parts)} boxes. They are joined back in order when you submit."}
                ],
            }
        )
    for index, part in enumerate(parts):
        label = "Answer" if len(parts) == 1 else f"Answer, part {index + 1} of {len(parts)}"
        element: dict[str, Any] = {"type": "plain_text_input", "action_id": InputId.VALUE.value, "multiline": True, "max_length": INPUT_MAX}
        if part:
            element["initial_value"] = part
        blocks.append({"type": "input", "block_id": draft_block_id(index), "label": _plain(label, 2000), "element": element, "optional": len(parts) > 1})
    blocks.extend(_action_inputs(view))
    blocks.append(_note_input(required=False, label="Note", hint="What did you change and why? It goes to the model team."))
    return _modal(CallbackId.EDIT, "Edit draft", "Save edit", blocks, meta)


def build_reject_modal(view: CardView, meta: ModalMetadata) -> View:
    options = [{"text": _plain(reason.label, 75), "value": reason.value} for reason in RejectReason]
    blocks = [
        _summary(view),
        {
            "type": "input",
            "block_id": InputId.REASON.value,
            "label": _plain("Why is the draft wrong?", 2000),
            "element": {"type": "static_select", "action_id": InputId.VALUE.value, "placeholder": _plain("Pick a category", 150), "options": options},
        },
        _note_input(required=True, label="Note", hint="Required: what should the answer have been, or what is wrong?"),
    ]
    return _modal(CallbackId.REJECT, "Reject draft", "Reject", blocks, meta)


def build_notice_modal(title: str, text: str) -> View:
    return {
        "type": "modal",
        "title": _plain(title),
        "close": _plain("Close"),
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": fit(text, 3000, escape=False)}}],
    }
