"""Block Kit checks the emulator runs on every message and view write.

slack_sdk's model classes carry most of Slack's per-field limits (they run
when `.to_dict()` is called); the limits Slack enforces only server-side
(block counts per surface, the ~13k total text budget, view size) are added
here so a bot that passes its unit tests cannot still be rejected in prod.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterator

from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot.emulator.workspace import SlackError


@dataclass(frozen=True)
class Limits:
    message_blocks: int = 50
    modal_blocks: int = 100
    message_text: int = 40_000
    # Not documented by Slack, observed in prod (bolt-js #2509): messages whose
    # blocks hold more than about 13k characters of text fail even when each
    # block is within its own limit.
    message_blocks_text: int = 13_000
    view_text_field: int = 24  # title / submit / close
    private_metadata: int = 3_000
    view_bytes: int = 250_000


def block_problems(blocks: Any, *, max_blocks: int) -> list[str]:
    """Human-readable reasons Slack would reject these blocks ([] when fine)."""
    if not isinstance(blocks, list):
        return ["blocks must be a JSON array [json-pointer:/blocks]"]
    problems: list[str] = []
    if len(blocks) > max_blocks:
        problems.append(f"no more than {max_blocks} items allowed [json-pointer:/blocks]")
    seen: set[str] = set()
    for i, raw in enumerate(blocks):
        problems.extend(_one_block_problems(raw, f"/blocks/{i}"))
        block_id = raw.get("block_id") if isinstance(raw, dict) else None
        if block_id and block_id in seen:
            problems.append(f"duplicate block_id {block_id!r} [json-pointer:/blocks/{i}/block_id]")
        if block_id:
            seen.add(block_id)
    return problems


def _one_block_problems(raw: Any, pointer: str) -> list[str]:
    if not isinstance(raw, dict):
        return [f"block must be an object [json-pointer:{pointer}]"]
    try:
        block = Block.parse(raw)
        if block is None:
            return [f"unknown block type {raw.get('type')!r} [json-pointer:{pointer}]"]
        block.to_dict()
    except Exception as exc:  # slack_sdk raises assorted types for malformed input
        return [f"{exc} [json-pointer:{pointer}]"]
    return []


def iter_texts(node: Any) -> Iterator[str]:
    """Every string stored under a "text" key, at any depth."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "text" and isinstance(value, str):
                yield value
            else:
                yield from iter_texts(value)
    elif isinstance(node, list):
        for item in node:
            yield from iter_texts(item)


def check_message(text: Any, blocks: Any, limits: Limits) -> None:
    """Raise SlackError the way chat.postMessage/update/postEphemeral would."""
    if text is not None and not isinstance(text, str):
        raise SlackError("invalid_arguments", ["text must be a string"])
    if text and len(text) > limits.message_text:
        raise SlackError("msg_too_long", [f"text is {len(text)} characters, limit {limits.message_text}"])
    if blocks is None:
        return
    if isinstance(blocks, str):
        raise SlackError("invalid_blocks_format", ["blocks is not valid JSON"])
    problems = block_problems(blocks, max_blocks=limits.message_blocks)
    if problems:
        raise SlackError("invalid_blocks", problems)
    total = sum(len(t) for t in iter_texts(blocks))
    if total > limits.message_blocks_text:
        raise SlackError(
            "msg_blocks_too_long",
            [f"blocks hold {total} characters of text, limit {limits.message_blocks_text}"],
        )


def check_view(view: Any, limits: Limits) -> None:
    """Raise SlackError('invalid_blocks', …) for a view Slack would refuse."""
    if not isinstance(view, dict):  # also a form-encoded view that was not valid JSON
        raise SlackError("invalid_arguments", ["view must be a JSON object"])
    problems = _view_field_problems(view, limits)
    problems += block_problems(view.get("blocks", []), max_blocks=limits.modal_blocks)
    if not problems:
        problems += _sdk_view_problems(view)
    if problems:
        raise SlackError("invalid_blocks", problems)


def _view_field_problems(view: dict[str, Any], limits: Limits) -> list[str]:
    problems: list[str] = []
    if view.get("type") not in ("modal", "home"):
        problems.append("type must be 'modal' or 'home' [json-pointer:/view/type]")
    if view.get("type") == "modal" and not view.get("title"):
        problems.append("a modal needs a title [json-pointer:/view/title]")
    for name in ("title", "submit", "close"):
        text_object = view.get(name)
        text = (text_object.get("text") or "") if isinstance(text_object, dict) else ""
        if len(text) > limits.view_text_field:
            problems.append(f"{name} must be at most {limits.view_text_field} characters [json-pointer:/view/{name}/text]")
    metadata = view.get("private_metadata") or ""
    if len(metadata) > limits.private_metadata:
        problems.append(f"private_metadata must be at most {limits.private_metadata} characters")
    size = len(json.dumps(view, separators=(",", ":")).encode())
    if size >= limits.view_bytes:
        problems.append(f"view is {size} bytes, must be under {limits.view_bytes}")
    return problems


def _sdk_view_problems(view: dict[str, Any]) -> list[str]:
    # Stored views carry read-only fields (id, hash, state…) when a bot echoes
    # one back; View() tolerates unknown keys, so pass everything through.
    try:
        View(**view).to_dict()
    except Exception as exc:
        return [f"{exc} [json-pointer:/view]"]
    return []
