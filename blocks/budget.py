"""Whole-message and whole-view budgets: the one place that fits a render to Slack's limits.

A builder renders with a `Scale`: every variable part asks it for its allowance (`scale(1500)` characters,
`scale(36, floor=3)` items). `fit_message` renders at full size and, while the message would count more than
`MESSAGE_BUDGET`, renders again with a smaller factor. Every part has a floor, and the floors of every builder
fit with room to spare (tests/test_renders.py renders generated inputs at the limits through each builder).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from blocks.text import text_len

Block = dict[str, Any]

MESSAGE_BLOCKS = 50
VIEW_BLOCKS = 100
TEXT = 3000  # a text object (section text, context element)
FIELD = 2000  # a section field
# What a message's blocks may count: their text plus BLOCK_OVERHEAD each. Slack refuses from about 13k (the
# emulator at 13,000, see slack_emulator/blockkit.py); we keep 2,000 of margin.
MESSAGE_BUDGET = 11_000
BLOCK_OVERHEAD = 50
# Slack refuses a view over 250 kB (views.open: view_too_large), measured on the JSON slack_sdk sends.
VIEW_BYTES = 240_000
_SMALLEST = 0.02


@dataclass(frozen=True)
class Scale:
    factor: float = 1.0

    def __call__(self, size: int, floor: int = 60) -> int:
        """`size` scaled down, never below `floor` (nor above `size`)."""
        return max(min(floor, size), int(size * self.factor))

    @property
    def full(self) -> bool:
        return self.factor >= 1.0


def texts(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [t for k, v in node.items() for t in ([v] if k == "text" and isinstance(v, str) else texts(v))]
    if isinstance(node, list):
        return [t for item in node for t in texts(item)]
    return []


def message_cost(blocks: list[Block]) -> int:
    """What a message's blocks count against Slack's msg_blocks_too_long: their text plus an overhead each."""
    return sum(text_len(t) for t in texts(blocks)) + BLOCK_OVERHEAD * len(blocks)


def fit_message(render: Callable[[Scale], list[Block]], budget: int = MESSAGE_BUDGET) -> list[Block]:
    """The blocks `render` makes at the largest scale whose message fits `budget` (full size when it fits)."""
    scale = Scale()
    blocks = render(scale)
    while (cost := message_cost(blocks)) > budget and scale.factor > _SMALLEST:
        scale = Scale(scale.factor * min(0.9, max(0.3, budget / cost)))
        blocks = render(scale)
    assert len(blocks) <= MESSAGE_BLOCKS, "a builder made more blocks than a message holds"
    return blocks


def view_bytes(view: dict[str, Any]) -> int:
    """A view's size as Slack receives it from slack_sdk (JSON, non-ASCII escaped)."""
    return len(json.dumps(view, separators=(",", ":")))


def section(text: str, *, untrusted: bool = False) -> Block:
    obj: dict[str, Any] = {"type": "mrkdwn", "text": text}
    if untrusted:
        # verbatim stops Slack from auto-linking names and mentions inside text we did not write.
        obj["verbatim"] = True
    return {"type": "section", "text": obj}


def context(*texts_: str, untrusted: bool = True) -> Block:
    return {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": t, **({"verbatim": True} if untrusted else {})} for t in texts_[:10]],
    }


def line_sections(lines: list[str], budget: int, more: str = "…and {n} more", hidden: int = 0) -> list[Block]:
    """Whole lines packed into sections of at most TEXT units, `budget` units in all (overheads counted); the
    lines that don't fit, plus `hidden` ones the caller never passed, are counted in one `more` line (`{n}`).
    Lines are already fitted mrkdwn, each shorter than a section."""
    groups: list[list[str]] = []
    size = used = 0
    left_out = hidden
    for index, line in enumerate(lines):
        cost = text_len(line) + 1
        opens = not groups or size + cost > TEXT
        reserve = text_len(more) + 10 if index + 1 < len(lines) or hidden else 0
        if used + cost + (BLOCK_OVERHEAD if opens else 0) + reserve > budget:
            left_out += len(lines) - index
            break
        if opens:
            groups.append([])
            size = 0
            used += BLOCK_OVERHEAD
        groups[-1].append(line)
        size += cost
        used += cost
    if left_out:
        note = more.format(n=left_out)
        if groups and size + text_len(note) + 1 <= TEXT:
            groups[-1].append(note)
        else:
            groups.append([note])
    return [section("\n".join(group)) for group in groups]
