"""Approve / Edit / Reject modals, and the notices that replace them. Pure builders.

They are opened synchronously on a click (a refused views.open is a lost click), so each fits every limit for
every valid case by construction: bounded parts, and the Edit modal's inputs counted against the view's 100
blocks and Slack's 250 kB (blocks/budget.py).
"""

from __future__ import annotations

import json
import re
from typing import Any

from blocks.budget import TEXT, VIEW_BLOCKS, VIEW_BYTES, context, line_sections, section, view_bytes
from blocks.card import CardView, format_arg
from blocks.ids import CallbackId, InputId, ModalMetadata
from blocks.text import escape_mrkdwn, fit, label, plain, text_len
from bot.domain.cases import RejectReason

View = dict[str, Any]

INPUT_MAX = 3000  # Slack's plain_text_input max_length
NOTE_MAX = 3000
PREVIEW_CHARS = 2900
# A cut at whitespace is preferred when it keeps a part at least this full; else the part is cut mid-word, so
# a 100,000-character draft takes at most ~38 inputs whatever its shape.
_FULL_ENOUGH = 0.9
_DECIMAL = re.compile(r"^-?\d+(\.\d+)?$")


def _plain(text: str, limit: int = 24) -> dict[str, Any]:
    return {"type": "plain_text", "text": label(text, limit), "emoji": True}


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
        f"*{escape_mrkdwn(plain(view.queue, 80))}* · tier {view.tier} of {view.tier_count} "
        f"· case `{fit(view.case_id, 128)}`\n"
        f"{fit(view.escalation.reason_for_escalation, 600)}"
    )
    return section(text, untrusted=True)


def _note_input(*, required: bool, label_text: str, hint: str | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {
        "type": "input",
        "block_id": InputId.NOTE.value,
        "optional": not required,
        "label": _plain(label_text, 2000),
        "element": {
            "type": "plain_text_input",
            "action_id": InputId.VALUE.value,
            "multiline": True,
            "max_length": NOTE_MAX,
        },
    }
    if hint:
        block["hint"] = _plain(hint, 2000)
    return block


def _action_preview(view: CardView) -> list[dict[str, Any]]:
    """Every argument (at most 50 of ~310 characters), over as many sections as they need."""
    action = view.escalation.proposed_action
    if action is None:
        return []
    lines = [f"*Proposed action:* `{fit(action.action, 128)}`"]
    lines += [f"• *{fit(k, 100)}*: {fit(format_arg(v), 200)}" for k, v in action.args.items()]
    blocks = line_sections(lines, budget=20_000, more="…and {n} more arguments (in the API record)")
    for block in blocks:
        block["text"]["verbatim"] = True
    return blocks


def build_approve_modal(view: CardView, checklist: list[str], meta: ModalMetadata) -> View:
    blocks: list[dict[str, Any]] = [
        _summary(view),
        section(f"*Answer to approve*\n{fit(view.escalation.model_draft, PREVIEW_CHARS)}", untrusted=True),
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
    blocks.append(_note_input(required=False, label_text="Note"))
    return _modal(CallbackId.APPROVE, "Approve draft", "Approve", blocks, meta)


def _prefix(text: str, limit: int) -> int:
    """How many characters of `text` fit in `limit` units."""
    used = 0
    for index, ch in enumerate(text):
        used += 2 if ord(ch) > 0xFFFF else 1
        if used > limit:
            return index
    return len(text)


def _cut(rest: str, limit: int) -> int:
    """Where the next part ends: at whitespace late in the window if there is some, else as late as possible."""
    end = _prefix(rest, limit)
    for at in range(end, int(end * _FULL_ENOUGH), -1):
        if rest[at].isspace() and not rest[at - 1].isspace():
            return at
    at = end  # no whitespace late enough: cut mid-word, or where a long whitespace run at the end starts
    while rest[at - 1].isspace():
        at -= 1
    return at


def split_for_inputs(text: str, limit: int = INPUT_MAX) -> tuple[list[str], list[str]]:
    """Split a draft into parts that each fit one input, keeping every character.

    Slack may trim input values, so no part starts or ends with whitespace: the whitespace at each cut,
    and before the first and after the last part, comes back separately. `join_parts` restores the text.
    """
    core = text.strip()
    if not core:
        return [""], [text, ""]
    parts: list[str] = []
    seps: list[str] = [text[: len(text) - len(text.lstrip())]]
    rest = core
    while text_len(rest) > limit:
        at = _cut(rest, limit)
        after = at
        while rest[after].isspace():
            after += 1
        parts.append(rest[:at])
        seps.append(rest[at:after])
        rest = rest[after:]
    parts.append(rest)
    seps.append(text[len(text.rstrip()) :])
    return parts, seps


def join_parts(parts: list[str], seps: list[str]) -> str:
    """Inverse of `split_for_inputs`: seps[0] + parts[0] + seps[1] + … + parts[-1] + seps[-1]."""
    out = [seps[0] if seps else ""]
    for index, part in enumerate(parts):
        out.append(part)
        if index + 1 < len(seps):
            out.append(seps[index + 1])
    return "".join(out)


def draft_from_inputs(draft: str, submitted: list[str]) -> str:
    """The edited draft: the parts the modal showed as submitted, the rest as written, with the draft's own
    whitespace between them (the split is recomputed from the stored draft, so nothing rides in metadata)."""
    parts, seps = split_for_inputs(draft)
    return join_parts(submitted + parts[len(submitted) :], seps)


def draft_block_id(index: int) -> str:
    return f"{InputId.DRAFT_PREFIX.value}{index}"


ARG_PREFIX = "arg_"


def arg_block_id(index: int) -> str:
    return f"{ARG_PREFIX}{index}"


def _number_text(value: int | float) -> str | None:
    """`value` as a number_input can hold it (decimal digits, no exponent), or None."""
    text = repr(value)
    return text if len(text) <= 24 and _DECIMAL.match(text) else None


def _text_element(text: str) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": InputId.VALUE.value,
        "multiline": text_len(text) > 150 or "\n" in text,
        "max_length": INPUT_MAX,
    }
    if text:
        element["initial_value"] = text
    return element


def _arg_input(index: int, key: str, value: Any) -> dict[str, Any] | None:
    """A typed input for one action argument; None when the value cannot fit an input (left unchanged)."""
    block: dict[str, Any] = {"type": "input", "block_id": arg_block_id(index), "label": _plain(key, 2000)}
    if isinstance(value, bool):
        options = [{"text": _plain("true", 75), "value": "true"}, {"text": _plain("false", 75), "value": "false"}]
        block["element"] = {
            "type": "static_select",
            "action_id": InputId.VALUE.value,
            "options": options,
            "initial_option": options[0 if value else 1],
        }
    elif isinstance(value, (int, float)) and (shown := _number_text(value)) is not None:
        block["element"] = {
            "type": "number_input",
            "action_id": InputId.VALUE.value,
            "is_decimal_allowed": isinstance(value, float),
            "initial_value": shown,
        }
    else:
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        if text_len(text) > INPUT_MAX:
            return None
        block["element"] = _text_element(text)
        block["optional"] = True
        if isinstance(value, (int, float)):
            block["hint"] = _plain("A number", 2000)
        elif not isinstance(value, str):
            block["hint"] = _plain("JSON", 2000)
    return block


class _Room:
    """What is left of a view's 100 blocks and 250 kB while inputs are added."""

    def __init__(self, blocks: int, size: int) -> None:
        self.blocks, self.size = blocks, size

    def take(self, block: dict[str, Any]) -> bool:
        size = view_bytes(block) + 1
        if self.blocks < 1 or size > self.size:
            return False
        self.blocks -= 1
        self.size -= size
        return True


def _draft_inputs(parts: list[str], room: _Room) -> list[dict[str, Any]]:
    blocks = []
    for index, part in enumerate(parts):
        name = "Answer" if len(parts) == 1 else f"Answer, part {index + 1} of {len(parts)}"
        element: dict[str, Any] = {
            "type": "plain_text_input",
            "action_id": InputId.VALUE.value,
            "multiline": True,
            "max_length": INPUT_MAX,
        }
        if part:
            element["initial_value"] = part
        block = {
            "type": "input",
            "block_id": draft_block_id(index),
            "label": _plain(name, 2000),
            "element": element,
            "optional": len(parts) > 1,
        }
        if not room.take(block):
            break
        blocks.append(block)
    return blocks


def _action_inputs(view: CardView, room: _Room) -> list[dict[str, Any]]:
    action = view.escalation.proposed_action
    if action is None:
        return []
    blocks: list[dict[str, Any]] = [
        section(f"*Proposed action:* `{fit(action.action, 128)}`: edit its arguments below.", untrusted=True)
    ]
    kept = []
    for index, (key, value) in enumerate(action.args.items()):
        block = _arg_input(index, key, value)
        if block is None or not room.take(block):
            kept.append(key)
        else:
            blocks.append(block)
    if kept:
        blocks.append(
            context(
                fit(
                    "Kept as proposed, not editable here (too long for a Slack input, or no room left in this form): "
                    + ", ".join(kept),
                    TEXT,
                )
            )
        )
    return blocks


def build_edit_modal(view: CardView, meta: ModalMetadata) -> View:
    """The draft over as many inputs as it needs, then an input per action argument, then a note.

    The draft comes first. Whatever would take the view past 100 blocks or Slack's size limit is not offered
    for editing and is kept exactly as proposed; the modal says so.
    """
    draft = view.escalation.model_draft
    parts, _ = split_for_inputs(draft)
    note = _note_input(
        required=False, label_text="Note", hint="What did you change and why? It goes to the model team."
    )
    skeleton = _modal(
        CallbackId.EDIT,
        "Edit draft",
        "Save edit",
        [_summary(view), note],
        meta.model_copy(update={"draft_parts": len(parts)}),
    )
    # Reserved: the notes about the split and about kept arguments, and the action's heading.
    # A kept-arguments note is at most TEXT units, 6 bytes each once JSON-escaped.
    room = _Room(VIEW_BLOCKS - 2 - 3, VIEW_BYTES - view_bytes(skeleton) - TEXT * 6 - 2_000)
    inputs = _draft_inputs(parts, room)
    blocks: list[dict[str, Any]] = [_summary(view)]
    if len(parts) > 1:
        said = (
            f"The draft is {len(draft):,} characters, so it is split over {len(parts)} boxes. "
            "They are joined back in order when you submit."
        )
        if len(inputs) < len(parts):
            said += (
                f" Parts {len(inputs) + 1}–{len(parts)} are more than one Slack form can hold: "
                "they are kept exactly as written."
            )
        blocks.append(context(said, untrusted=False))
    blocks += inputs
    blocks += _action_inputs(view, room)
    blocks.append(note)
    return _modal(
        CallbackId.EDIT, "Edit draft", "Save edit", blocks, meta.model_copy(update={"draft_parts": len(inputs)})
    )


def build_reject_modal(view: CardView, meta: ModalMetadata) -> View:
    options = [{"text": _plain(reason.label, 75), "value": reason.value} for reason in RejectReason]
    blocks = [
        _summary(view),
        {
            "type": "input",
            "block_id": InputId.REASON.value,
            "label": _plain("Why is the draft wrong?", 2000),
            "element": {
                "type": "static_select",
                "action_id": InputId.VALUE.value,
                "placeholder": _plain("Pick a category", 150),
                "options": options,
            },
        },
        _note_input(
            required=True, label_text="Note", hint="Required: what should the answer have been, or what is wrong?"
        ),
    ]
    return _modal(CallbackId.REJECT, "Reject draft", "Reject", blocks, meta)


def build_notice_modal(title: str, text: str) -> View:
    return {
        "type": "modal",
        "title": _plain(title),
        "close": _plain("Close"),
        "blocks": [section(fit(text, TEXT, escape=False))],
    }
