"""The emulator's Block Kit limits, one by one: a value at the limit passes, one past it is refused with
Slack's error code. Pure: calls slack_emulator/blockkit.py directly."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from slack_emulator.blockkit import Limits, check_message, check_metadata, check_view, slack_len
from slack_emulator.workspace import SlackError

LIMITS = Limits()
Check = Callable[[], object]  # a check passes or raises; what it returns is not looked at


def mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text}


def plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text}


def section(text: str = "x", **extra: Any) -> dict[str, Any]:
    return {"type": "section", "text": mrkdwn(text), **extra}


def button(**extra: Any) -> dict[str, Any]:
    return {"type": "button", "action_id": "b", "text": plain("Go"), **extra}


def option(i: int = 0, **extra: Any) -> dict[str, Any]:
    return {"text": plain(f"o{i}"), "value": str(i), **extra}


def message(*blocks: dict[str, Any], text: str = "t") -> Check:
    return lambda: check_message(text, list(blocks), LIMITS)


def modal(*blocks: dict[str, Any], **fields: Any) -> Check:
    view = {
        "type": "modal",
        "title": plain("T"),
        "submit": plain("OK"),
        "blocks": list(blocks) or [section()],
        **fields,
    }
    return lambda: check_view(view, LIMITS)


def text_input(**extra: Any) -> dict[str, Any]:
    return {
        "type": "input",
        "block_id": "i",
        "label": plain("L"),
        "element": {"type": "plain_text_input", "action_id": "v", **extra},
    }


def number_input(**extra: Any) -> dict[str, Any]:
    return {
        "type": "input",
        "block_id": "n",
        "label": plain("N"),
        "element": {"type": "number_input", "action_id": "v", "is_decimal_allowed": False, **extra},
    }


def budget_message(cost: int) -> Check:
    """Five sections whose text plus per-block overhead counts exactly `cost`."""
    text = cost - 5 * LIMITS.block_overhead
    sizes = [text // 5 + (1 if i < text % 5 else 0) for i in range(5)]
    return message(*(section("x" * size) for size in sizes))


def view_of_bytes(size: int) -> Check:
    """A modal whose JSON is exactly `size` bytes as the emulator measures it."""
    blocks = [section("x" * 2900) for _ in range(size // 2950)]
    view: dict[str, Any] = {"type": "modal", "title": plain("T"), "blocks": blocks}
    measured = len(json.dumps(view, separators=(",", ":")).encode())
    filler = size - measured - len(json.dumps(section(""), separators=(",", ":"))) - 1
    view["blocks"].append(section("y" * filler))
    assert len(json.dumps(view, separators=(",", ":")).encode()) == size
    return lambda: check_view(view, LIMITS)


def metadata_of_chars(size: int) -> Check:
    base = {"event_type": "hitl_case", "event_payload": {"case_id": ""}}
    pad = size - len(json.dumps(base, ensure_ascii=False))
    return lambda: check_metadata({"event_type": "hitl_case", "event_payload": {"case_id": "x" * pad}}, LIMITS)


CASES: list[tuple[str, Callable[[int], Check], int, str]] = [
    # messages
    ("message blocks", lambda n: message(*(section() for _ in range(n))), 50, "invalid_blocks"),
    ("message text", lambda n: message(section(), text="x" * n), 40_000, "msg_too_long"),
    ("message blocks text budget", budget_message, 13_000, "msg_blocks_too_long"),
    ("section text", lambda n: message(section("x" * n)), 3000, "invalid_blocks"),
    ("section text, emoji count 2", lambda n: message(section("😀" * n)), 1500, "invalid_blocks"),
    ("section fields", lambda n: message({"type": "section", "fields": [mrkdwn("f")] * n}), 10, "invalid_blocks"),
    ("section field text", lambda n: message({"type": "section", "fields": [mrkdwn("f" * n)]}), 2000, "invalid_blocks"),
    ("block_id", lambda n: message(section(block_id="b" * n)), 255, "invalid_blocks"),
    ("header text", lambda n: message({"type": "header", "text": plain("h" * n)}), 150, "invalid_blocks"),
    ("context elements", lambda n: message({"type": "context", "elements": [mrkdwn("c")] * n}), 10, "invalid_blocks"),
    (
        "context element text",
        lambda n: message({"type": "context", "elements": [mrkdwn("c" * n)]}),
        3000,
        "invalid_blocks",
    ),
    (
        "actions elements",
        lambda n: message({"type": "actions", "elements": [button(action_id=f"a{i}") for i in range(n)]}),
        25,
        "invalid_blocks",
    ),
    (
        "button text",
        lambda n: message({"type": "actions", "elements": [button(text=plain("b" * n))]}),
        75,
        "invalid_blocks",
    ),
    (
        "button value",
        lambda n: message({"type": "actions", "elements": [button(value="v" * n)]}),
        2000,
        "invalid_blocks",
    ),
    (
        "button url",
        lambda n: message({"type": "actions", "elements": [button(url="https://e.x/" + "u" * (n - 12))]}),
        3000,
        "invalid_blocks",
    ),
    (
        "button action_id",
        lambda n: message({"type": "actions", "elements": [button(action_id="a" * n)]}),
        255,
        "invalid_blocks",
    ),
    (
        "button accessibility_label",
        lambda n: message({"type": "actions", "elements": [button(accessibility_label="l" * n)]}),
        75,
        "invalid_blocks",
    ),
    (
        "select options",
        lambda n: message(
            section(accessory={"type": "static_select", "action_id": "s", "options": [option(i) for i in range(n)]})
        ),
        100,
        "invalid_blocks",
    ),
    (
        "select placeholder",
        lambda n: message(
            section(
                accessory={
                    "type": "static_select",
                    "action_id": "s",
                    "placeholder": plain("p" * n),
                    "options": [option()],
                }
            )
        ),
        150,
        "invalid_blocks",
    ),
    (
        "option groups",
        lambda n: message(
            section(
                accessory={
                    "type": "static_select",
                    "action_id": "s",
                    "option_groups": [{"label": plain("g"), "options": [option(i)]} for i in range(n)],
                }
            )
        ),
        100,
        "invalid_blocks",
    ),
    (
        "option group label",
        lambda n: message(
            section(
                accessory={
                    "type": "static_select",
                    "action_id": "s",
                    "option_groups": [{"label": plain("g" * n), "options": [option()]}],
                }
            )
        ),
        75,
        "invalid_blocks",
    ),
    (
        "option text",
        lambda n: message(
            section(
                accessory={
                    "type": "static_select",
                    "action_id": "s",
                    "options": [{"text": plain("o" * n), "value": "1"}],
                }
            )
        ),
        75,
        "invalid_blocks",
    ),
    (
        "option value",
        lambda n: message(
            section(
                accessory={
                    "type": "static_select",
                    "action_id": "s",
                    "options": [{"text": plain("o"), "value": "v" * n}],
                }
            )
        ),
        150,
        "invalid_blocks",
    ),
    (
        "option description",
        lambda n: message(
            section(accessory={"type": "checkboxes", "action_id": "c", "options": [option(description=plain("d" * n))]})
        ),
        75,
        "invalid_blocks",
    ),
    (
        "checkboxes options",
        lambda n: message(
            section(accessory={"type": "checkboxes", "action_id": "c", "options": [option(i) for i in range(n)]})
        ),
        10,
        "invalid_blocks",
    ),
    (
        "overflow options",
        lambda n: message(
            section(accessory={"type": "overflow", "action_id": "o", "options": [option(i) for i in range(n)]})
        ),
        5,
        "invalid_blocks",
    ),
    (
        "overflow option url",
        lambda n: message(
            section(
                accessory={
                    "type": "overflow",
                    "action_id": "o",
                    "options": [option(url="https://e.x/" + "u" * (n - 12))],
                }
            )
        ),
        3000,
        "invalid_blocks",
    ),
    (
        "confirm title",
        lambda n: message(
            {
                "type": "actions",
                "elements": [
                    button(
                        confirm={"title": plain("t" * n), "text": plain("x"), "confirm": plain("y"), "deny": plain("n")}
                    )
                ],
            }
        ),
        100,
        "invalid_blocks",
    ),
    (
        "confirm text",
        lambda n: message(
            {
                "type": "actions",
                "elements": [
                    button(
                        confirm={"title": plain("t"), "text": plain("x" * n), "confirm": plain("y"), "deny": plain("n")}
                    )
                ],
            }
        ),
        300,
        "invalid_blocks",
    ),
    (
        "confirm button",
        lambda n: message(
            {
                "type": "actions",
                "elements": [
                    button(
                        confirm={"title": plain("t"), "text": plain("x"), "confirm": plain("y" * n), "deny": plain("n")}
                    )
                ],
            }
        ),
        30,
        "invalid_blocks",
    ),
    (
        "image alt_text",
        lambda n: message({"type": "image", "image_url": "https://e.x/i.png", "alt_text": "a" * n}),
        2000,
        "invalid_blocks",
    ),
    (
        "image url",
        lambda n: message({"type": "image", "image_url": "https://e.x/" + "i" * (n - 12), "alt_text": "a"}),
        3000,
        "invalid_blocks",
    ),
    ("metadata JSON", metadata_of_chars, 8000, "invalid_metadata_format"),
    # views
    ("modal blocks", lambda n: modal(*(section() for _ in range(n))), 100, "invalid_arguments"),
    ("modal title", lambda n: modal(title=plain("t" * n)), 24, "invalid_arguments"),
    ("modal submit", lambda n: modal(submit=plain("s" * n)), 24, "invalid_arguments"),
    ("modal close", lambda n: modal(close=plain("c" * n)), 24, "invalid_arguments"),
    ("private_metadata", lambda n: modal(private_metadata="m" * n), 3000, "invalid_arguments"),
    ("private_metadata, emoji count 2", lambda n: modal(private_metadata="😀" * n), 1500, "invalid_arguments"),
    ("callback_id", lambda n: modal(callback_id="c" * n), 255, "invalid_arguments"),
    ("external_id", lambda n: modal(external_id="e" * n), 255, "invalid_arguments"),
    ("view bytes", view_of_bytes, 250_000, "view_too_large"),
    ("input label", lambda n: modal({**text_input(), "label": plain("l" * n)}), 2000, "invalid_arguments"),
    ("input hint", lambda n: modal({**text_input(), "hint": plain("h" * n)}), 2000, "invalid_arguments"),
    ("plain_text_input max_length", lambda n: modal(text_input(max_length=n)), 3000, "invalid_arguments"),
    ("plain_text_input min_length", lambda n: modal(text_input(min_length=n)), 3000, "invalid_arguments"),
    ("plain_text_input initial_value", lambda n: modal(text_input(initial_value="v" * n)), 3000, "invalid_arguments"),
    (
        "plain_text_input initial_value vs max_length",
        lambda n: modal(text_input(initial_value="v" * n, max_length=100)),
        100,
        "invalid_arguments",
    ),
    ("plain_text_input placeholder", lambda n: modal(text_input(placeholder=plain("p" * n))), 150, "invalid_arguments"),
    (
        "number_input initial_value digits",
        lambda n: modal(number_input(initial_value="9" * n)),
        24,
        "invalid_arguments",
    ),
]


@pytest.mark.parametrize("make, limit, error", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_value_at_the_limit_passes_and_one_past_it_is_refused(
    make: Callable[[int], Check], limit: int, error: str
) -> None:
    make(limit)()
    with pytest.raises(SlackError) as refused:
        make(limit + 1)()
    assert refused.value.error == error
    assert refused.value.errors


REFUSED: list[tuple[str, Check, str]] = [
    ("empty text", message(section("")), "invalid_blocks"),
    ("blank text", message(section(" \n\u200b\u2028")), "invalid_blocks"),
    ("header in mrkdwn", message({"type": "header", "text": mrkdwn("h")}), "invalid_blocks"),
    (
        "emoji on mrkdwn",
        message(section() | {"text": {"type": "mrkdwn", "text": "x", "emoji": True}}),
        "invalid_blocks",
    ),
    (
        "verbatim on plain_text",
        message(section() | {"text": {"type": "plain_text", "text": "x", "verbatim": True}}),
        "invalid_blocks",
    ),
    ("empty context", message({"type": "context", "elements": []}), "invalid_blocks"),
    ("empty actions", message({"type": "actions", "elements": []}), "invalid_blocks"),
    ("duplicate action_id", message({"type": "actions", "elements": [button(), button()]}), "invalid_blocks"),
    ("duplicate block_id", message(section(block_id="d"), section(block_id="d")), "invalid_blocks"),
    ("button style", message({"type": "actions", "elements": [button(style="green")]}), "invalid_blocks"),
    (
        "initial option not an option",
        message(
            section(
                accessory={
                    "type": "static_select",
                    "action_id": "s",
                    "options": [option(1)],
                    "initial_option": option(2),
                }
            )
        ),
        "invalid_blocks",
    ),
    (
        "url on a select option",
        message(section(accessory={"type": "static_select", "action_id": "s", "options": [option(url="https://e.x")]})),
        "invalid_blocks",
    ),
    (
        "input without submit",
        lambda: check_view({"type": "modal", "title": plain("T"), "blocks": [text_input()]}, LIMITS),
        "invalid_arguments",
    ),
    ("number_input exponent", modal(number_input(initial_value="1e+308")), "invalid_arguments"),
    ("number_input decimals when whole", modal(number_input(initial_value="1.5")), "invalid_arguments"),
    ("number_input out of range", modal(number_input(initial_value="5", max_value="4")), "invalid_arguments"),
    ("number_input min over max", modal(number_input(min_value="5", max_value="4")), "invalid_arguments"),
    ("metadata without event_type", lambda: check_metadata({"event_payload": {}}, LIMITS), "invalid_metadata_format"),
    (
        "metadata nested too deep",
        lambda: check_metadata({"event_type": "e", "event_payload": {"a": {"b": {"c": 1}}}}, LIMITS),
        "invalid_metadata_format",
    ),
    ("view not an object", lambda: check_view("[]", LIMITS), "invalid_arguments"),
]


@pytest.mark.parametrize("check, error", [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_shapes_slack_refuses(check: Check, error: str) -> None:
    with pytest.raises(SlackError) as refused:
        check()
    assert refused.value.error == error


def test_negative_zero_and_plain_decimals_are_numbers() -> None:
    modal(number_input(initial_value="-0", min_value="-10", max_value="10"))()
    modal(
        {
            **number_input(initial_value="-0.0"),
            "element": {**number_input()["element"], "is_decimal_allowed": True, "initial_value": "-0.0"},
        }
    )()


def test_slack_len_counts_utf16_units() -> None:
    assert [slack_len(s) for s in ("abc", "é", "日本", "😀", "👩‍👩‍👧")] == [3, 1, 2, 2, 8]
