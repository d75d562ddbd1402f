# ruff: disable[E501]  # the table of limits keeps one row a line
"""Block Kit checks the emulator runs on every message and view write: it refuses what Slack refuses.

Two passes. slack_sdk's model classes check structure (known block and element types, required fields) and
some lengths when `.to_dict()` runs. Then `_Checker` checks every limit in `LIMITS` itself, counting length
the way Slack may (see `slack_len`), whether or not slack_sdk checks it too. The table says where each limit
comes from: a page of Slack's reference, or an observation where Slack documents nothing. Where Slack is
silent or sources disagree, the emulator takes the stricter reading, so a render the tests accept is one
Slack accepts; those rows say "conservative".

Sources (`DOC` = https://docs.slack.dev/reference):

| limit | value | source | slack_sdk checks it |
| --- | ---: | --- | --- |
| text object `text` | 1..3,000 | DOC/block-kit/composition-objects/text-object | in sections only |
| text object not blank (whitespace or format characters only) | - | conservative: Slack trims text | no |
| `emoji` only on plain_text, `verbatim` only on mrkdwn | - | text-object ("only usable when type is …") | no |
| `block_id` | 255, unique in a message or view | every block page, e.g. DOC/block-kit/blocks/section-block | length only |
| section `text` | 3,000 | DOC/block-kit/blocks/section-block | yes |
| section `fields` | 10 items of 2,000 | section-block | count only |
| header `text` (plain_text) | 150 | DOC/block-kit/blocks/header-block | length only |
| context `elements` | 1..10 | DOC/block-kit/blocks/context-block | max only |
| actions `elements` | 1..25, unique `action_id`s | DOC/block-kit/blocks/actions-block | max only |
| input `label` / `hint` (plain_text) | 2,000 | DOC/block-kit/blocks/input-block | yes |
| image `image_url` / `alt_text` / `title` | 3,000 / 2,000 / 2,000 | DOC/block-kit/blocks/image-block | partly |
| `action_id` | 255 | every element page | yes |
| button `text` / `value` / `url` / `accessibility_label` | 75 / 2,000 / 3,000 / 75 | DOC/block-kit/block-elements/button-element | yes |
| button `style` | primary, danger | button-element | yes |
| select `placeholder` | 150 | DOC/block-kit/block-elements/select-menu-element | yes |
| select `options` / `option_groups` | 100 / 100 | select-menu-element, option-group-object | yes |
| select `initial_option` | one of `options` | select-menu-element | no |
| checkboxes / radio `options` | 1..10 | DOC/block-kit/block-elements/checkboxes-element | no |
| overflow `options` | 1..5 | DOC/block-kit/block-elements/overflow-menu-element | yes |
| option `text` / `value` / `description` / `url` | 75 / 150 / 75 / 3,000 | DOC/block-kit/composition-objects/option-object | no |
| option group `label` / `options` | 75 / 100 | DOC/block-kit/composition-objects/option-group-object | no |
| confirm `title` / `text` / `confirm` / `deny` | 100 / 300 / 30 / 30 | DOC/block-kit/composition-objects/confirmation-dialog-object | yes |
| plain_text_input `placeholder` | 150 | DOC/block-kit/block-elements/plain-text-input-element | yes |
| plain_text_input `min_length` / `max_length` | 0..3,000 / 1..3,000 | plain-text-input-element | no |
| plain_text_input `initial_value` | ≤ `max_length` (3,000 without one) | conservative: undocumented | no |
| number_input `initial_value`, `min_value`, `max_value` | decimal numerals (no exponent, ≤ 24 chars), whole when decimals are off, min ≤ initial ≤ max | number-input-element says "numbers"; the rest conservative | no |
| blocks per message | 50 | DOC/block-kit/blocks ("up to 50 blocks in each message") | no |
| blocks per modal / Home tab | 100 | DOC/views/modal-views | yes |
| modal `title` / `submit` / `close` (plain_text) | 24 each | modal-views | no |
| modal `submit` | required with an input block | modal-views | no |
| `private_metadata` / `callback_id` / `external_id` | 3,000 / 255 / 255 | modal-views, DOC/methods/views.open | no |
| a view as sent (JSON, non-ASCII escaped as slack_sdk sends it) | 250,000 bytes, else `view_too_large` | DOC/methods/views.open ("greater than 250kb") | no |
| message `text` | 40,000, else `msg_too_long` | DOC/methods/chat.postMessage documents truncation past 40,000; `msg_too_long` is in the method's error list (Slack's OpenAPI spec) and seen from chat.update (F3-Nation/archive-slackblast#64): refused, conservative | no |
| text of a message's blocks | 13,000 counting 50 per block, else `msg_blocks_too_long` | undocumented; observed 13,297 for markdown blocks alone and 13,172 with a divider (bolt-js#2509), 13,202 (metabase#79908), a 45-block message refused at 11,341 characters of text while a 50-block one passed at 9,597 (bolt-js#2867): this count refuses all of those | no |
| message `metadata` | `event_type` a non-empty string, `event_payload` an object of strings, numbers, booleans, objects and lists of objects; else `invalid_metadata_format` | DOC/.../messaging/message-metadata; no size is documented: refused over 8,000 characters of JSON, conservative | no |

Errors, as Slack names them: a message's bad blocks are `invalid_blocks` (`invalid_blocks_format` when not
JSON); a view's bad fields or blocks are `invalid_arguments` (views.* list no `invalid_blocks`), a view over
250 kB `view_too_large`. Detail strings copy Slack's shape: `must be less than 3001 characters
[json-pointer:/blocks/0/text/text]`.
"""
# ruff: enable[E501]

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from slack_emulator.workspace import SlackError


@dataclass(frozen=True)
class Limits:
    """The surface-wide limits (tests may relax them); per-field limits are `LIMITS`."""

    message_blocks: int = 50
    modal_blocks: int = 100
    message_text: int = 40_000
    message_blocks_text: int = 13_000
    block_overhead: int = 50  # counted per block against message_blocks_text
    view_text_field: int = 24  # title / submit / close
    private_metadata: int = 3_000
    view_bytes: int = 250_000  # JSON bytes as sent
    metadata_chars: int = 8_000


# Per-field maximum lengths (in `slack_len` units) and item counts, by "object.field".
LIMITS: dict[str, int] = {
    "text": 3000,
    "block_id": 255,
    "action_id": 255,
    "section.fields": 10,
    "section.field": 2000,
    "header.text": 150,
    "context.elements": 10,
    "actions.elements": 25,
    "input.label": 2000,
    "input.hint": 2000,
    "image.image_url": 3000,
    "image.alt_text": 2000,
    "image.title": 2000,
    "button.text": 75,
    "button.value": 2000,
    "button.url": 3000,
    "button.accessibility_label": 75,
    "placeholder": 150,
    "select.options": 100,
    "select.option_groups": 100,
    "checkboxes.options": 10,
    "radio_buttons.options": 10,
    "overflow.options": 5,
    "option.text": 75,
    "option.value": 150,
    "option.description": 75,
    "option.url": 3000,
    "option_group.label": 75,
    "option_group.options": 100,
    "confirm.title": 100,
    "confirm.text": 300,
    "confirm.confirm": 30,
    "confirm.deny": 30,
    "plain_text_input.length": 3000,
    "number": 24,
    "view.callback_id": 255,
    "view.external_id": 255,
}

_SELECTS = {"static_select", "external_select", "users_select", "conversations_select", "channels_select"}
_MULTI_SELECTS = {f"multi_{kind}" for kind in _SELECTS}
_DECIMAL = re.compile(r"^-?\d+(\.\d+)?$")


def slack_len(text: str) -> int:
    """A string's length as Slack may count it: UTF-16 code units, so an emoji or other astral character is 2.

    Slack's pages say "characters" without defining them. A 3,000-character Japanese section passes (so not
    bytes); for astral characters counting units is the stricter reading, the one JavaScript clients use.
    """
    return len(text.encode("utf-16-le")) // 2


def _blank(text: str) -> bool:
    return all(ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf", "Zs", "Zl", "Zp") for ch in text)


class _Checker:
    """Walks blocks, elements and composition objects, collecting Slack-shaped problem strings."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def add(self, message: str, pointer: str) -> None:
        self.problems.append(f"{message} [json-pointer:{pointer}]")

    def string(self, value: Any, key: str, pointer: str, *, required: bool = False) -> None:
        if value is None:
            if required:
                self.add("missing required field", pointer)
            return
        if not isinstance(value, str):
            self.add("must be a string", pointer)
        elif slack_len(value) > LIMITS[key]:
            self.add(f"must be less than {LIMITS[key] + 1} characters", pointer)

    def count(self, items: Any, key: str, pointer: str, *, minimum: int = 1) -> list[Any]:
        if not isinstance(items, list):
            self.add("must be an array", pointer)
            return []
        if len(items) < minimum:
            self.add(f"must provide at least {minimum} items", pointer)
        if len(items) > LIMITS[key]:
            self.add(f"must provide no more than {LIMITS[key]} items", pointer)
        return items

    def text_object(
        self, obj: Any, pointer: str, *, limit: int = LIMITS["text"], plain_only: bool = False, required: bool = True
    ) -> None:
        if obj is None:
            if required:
                self.add("missing required field", pointer)
            return
        if not isinstance(obj, dict) or obj.get("type") not in ("plain_text", "mrkdwn"):
            self.add("must be a text object of type plain_text or mrkdwn", pointer)
            return
        if plain_only and obj["type"] != "plain_text":
            self.add("must be a plain_text text object", f"{pointer}/type")
        if "emoji" in obj and obj["type"] != "plain_text":
            self.add("emoji is only allowed on plain_text", f"{pointer}/emoji")
        if "verbatim" in obj and obj["type"] != "mrkdwn":
            self.add("verbatim is only allowed on mrkdwn", f"{pointer}/verbatim")
        text = obj.get("text")
        if not isinstance(text, str):
            self.add("must be a string", f"{pointer}/text")
        elif not text:
            self.add("must be more than 0 characters", f"{pointer}/text")
        elif _blank(text):
            self.add("must contain a visible character", f"{pointer}/text")
        elif slack_len(text) > min(limit, LIMITS["text"]):
            self.add(f"must be less than {min(limit, LIMITS['text']) + 1} characters", f"{pointer}/text")

    # ---- blocks --------------------------------------------------------------

    def blocks(self, blocks: Any, pointer: str, *, max_blocks: int) -> None:
        if not isinstance(blocks, list):
            self.add("must be an array", pointer)
            return
        if len(blocks) > max_blocks:
            self.add(f"no more than {max_blocks} items allowed", pointer)
        seen: set[str] = set()
        for index, block in enumerate(blocks):
            here = f"{pointer}/{index}"
            if not isinstance(block, dict):
                self.add("block must be an object", here)
                continue
            self.block(block, here)
            block_id = block.get("block_id")
            if isinstance(block_id, str):
                if block_id in seen:
                    self.add(f"duplicate block_id {block_id!r}", f"{here}/block_id")
                seen.add(block_id)

    def block(self, block: dict[str, Any], p: str) -> None:
        self.string(block.get("block_id"), "block_id", f"{p}/block_id")
        kind = block.get("type")
        if kind == "section":
            self.section(block, p)
        elif kind == "header":
            self.text_object(block.get("text"), f"{p}/text", limit=LIMITS["header.text"], plain_only=True)
        elif kind == "context":
            for i, element in enumerate(self.count(block.get("elements"), "context.elements", f"{p}/elements")):
                if isinstance(element, dict) and element.get("type") == "image":
                    self.image(element, f"{p}/elements/{i}")
                else:
                    self.text_object(element, f"{p}/elements/{i}")
        elif kind == "actions":
            elements = self.count(block.get("elements"), "actions.elements", f"{p}/elements")
            action_ids = [e.get("action_id") for e in elements if isinstance(e, dict) and e.get("action_id")]
            if len(action_ids) != len(set(action_ids)):
                self.add("action_ids must be unique in a block", f"{p}/elements")
            for i, element in enumerate(elements):
                self.element(element, f"{p}/elements/{i}")
        elif kind == "input":
            self.text_object(block.get("label"), f"{p}/label", limit=LIMITS["input.label"], plain_only=True)
            self.text_object(
                block.get("hint"), f"{p}/hint", limit=LIMITS["input.hint"], plain_only=True, required=False
            )
            self.element(block.get("element"), f"{p}/element")
        elif kind == "image":
            self.image(block, p)

    def section(self, block: dict[str, Any], p: str) -> None:
        if block.get("text") is None and block.get("fields") is None:
            self.add("a section needs text or fields", p)
        self.text_object(block.get("text"), f"{p}/text", required=False)
        if block.get("fields") is not None:
            for i, field in enumerate(self.count(block["fields"], "section.fields", f"{p}/fields")):
                self.text_object(field, f"{p}/fields/{i}", limit=LIMITS["section.field"])
        if block.get("accessory") is not None:
            self.element(block["accessory"], f"{p}/accessory")

    def image(self, image: dict[str, Any], p: str) -> None:
        self.string(image.get("image_url"), "image.image_url", f"{p}/image_url")
        self.string(image.get("alt_text"), "image.alt_text", f"{p}/alt_text", required=True)
        if image.get("title") is not None:
            self.text_object(image["title"], f"{p}/title", limit=LIMITS["image.title"], plain_only=True)

    # ---- elements ------------------------------------------------------------

    def element(self, element: Any, p: str) -> None:
        if not isinstance(element, dict):
            self.add("element must be an object", p)
            return
        self.string(element.get("action_id"), "action_id", f"{p}/action_id")
        if element.get("placeholder") is not None:
            self.text_object(
                element.get("placeholder"), f"{p}/placeholder", limit=LIMITS["placeholder"], plain_only=True
            )
        if element.get("confirm") is not None:
            self.confirm(element["confirm"], f"{p}/confirm")
        kind = element.get("type")
        if kind == "button":
            self.text_object(element.get("text"), f"{p}/text", limit=LIMITS["button.text"], plain_only=True)
            for key in ("value", "url", "accessibility_label"):
                self.string(element.get(key), f"button.{key}", f"{p}/{key}")
            if element.get("style") not in (None, "primary", "danger"):
                self.add("style must be primary or danger", f"{p}/style")
        elif kind in _SELECTS or kind in _MULTI_SELECTS:
            self.select(element, p)
        elif kind in ("checkboxes", "radio_buttons"):
            options = self.count(element.get("options"), f"{kind}.options", f"{p}/options")
            self.options(options, f"{p}/options", plain_only=False)
            self.initial_options(element, options, p)
        elif kind == "overflow":
            options = self.count(element.get("options"), "overflow.options", f"{p}/options")
            self.options(options, f"{p}/options", plain_only=True, urls=True)
        elif kind == "plain_text_input":
            self.plain_text_input(element, p)
        elif kind == "number_input":
            self.number_input(element, p)
        elif kind == "image":
            self.image(element, p)

    def select(self, element: dict[str, Any], p: str) -> None:
        if element.get("type") not in ("static_select", "multi_static_select"):
            return
        options, groups = element.get("options"), element.get("option_groups")
        if (options is None) == (groups is None):
            self.add("provide exactly one of options and option_groups", p)
        every: list[Any] = []
        if options is not None:
            every = self.count(options, "select.options", f"{p}/options")
            self.options(every, f"{p}/options", plain_only=True)
        if groups is not None:
            for i, group in enumerate(self.count(groups, "select.option_groups", f"{p}/option_groups")):
                here = f"{p}/option_groups/{i}"
                if not isinstance(group, dict):
                    self.add("option group must be an object", here)
                    continue
                self.text_object(
                    group.get("label"), f"{here}/label", limit=LIMITS["option_group.label"], plain_only=True
                )
                grouped = self.count(group.get("options"), "option_group.options", f"{here}/options")
                self.options(grouped, f"{here}/options", plain_only=True)
                every += grouped
        self.initial_options(element, every, p)

    def initial_options(self, element: dict[str, Any], options: list[Any], p: str) -> None:
        chosen = (
            [element["initial_option"]]
            if element.get("initial_option") is not None
            else element.get("initial_options") or []
        )
        for option in chosen:
            if option not in options:
                self.add("initial option must exactly match one of the options", f"{p}/initial_option")

    def options(self, options: list[Any], p: str, *, plain_only: bool, urls: bool = False) -> None:
        for i, option in enumerate(options):
            here = f"{p}/{i}"
            if not isinstance(option, dict):
                self.add("option must be an object", here)
                continue
            self.text_object(option.get("text"), f"{here}/text", limit=LIMITS["option.text"], plain_only=plain_only)
            self.string(option.get("value"), "option.value", f"{here}/value", required=True)
            self.text_object(
                option.get("description"),
                f"{here}/description",
                limit=LIMITS["option.description"],
                plain_only=plain_only,
                required=False,
            )
            if option.get("url") is not None:
                if not urls:
                    self.add("url is only allowed on overflow menu options", f"{here}/url")
                self.string(option["url"], "option.url", f"{here}/url")

    def confirm(self, confirm: Any, p: str) -> None:
        if not isinstance(confirm, dict):
            self.add("confirm must be an object", p)
            return
        for key in ("title", "text", "confirm", "deny"):
            self.text_object(confirm.get(key), f"{p}/{key}", limit=LIMITS[f"confirm.{key}"], plain_only=key != "text")

    def plain_text_input(self, element: dict[str, Any], p: str) -> None:
        longest = LIMITS["plain_text_input.length"]
        bounds = {"min_length": (0, longest), "max_length": (1, longest)}
        for key, (low, high) in bounds.items():
            value = element.get(key)
            if value is not None and (
                not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high
            ):
                self.add(f"must be a whole number from {low} to {high}", f"{p}/{key}")
        declared = element.get("max_length")
        max_length = declared if isinstance(declared, int) else longest
        initial = element.get("initial_value")
        if initial is not None:
            if not isinstance(initial, str):
                self.add("must be a string", f"{p}/initial_value")
            elif slack_len(initial) > max_length:
                self.add(f"must be less than {max_length + 1} characters", f"{p}/initial_value")

    def number_input(self, element: dict[str, Any], p: str) -> None:
        decimals = element.get("is_decimal_allowed")
        if not isinstance(decimals, bool):
            self.add("is_decimal_allowed is required", f"{p}/is_decimal_allowed")
        values: dict[str, Decimal] = {}
        for key in ("initial_value", "min_value", "max_value"):
            raw = element.get(key)
            if raw is None:
                continue
            if not isinstance(raw, str) or len(raw) > LIMITS["number"] or not _DECIMAL.match(raw):
                self.add("must be a number written in decimal digits", f"{p}/{key}")
                continue
            if not decimals and "." in raw:
                self.add("must be a whole number when is_decimal_allowed is false", f"{p}/{key}")
            try:
                values[key] = Decimal(raw)
            except InvalidOperation:
                self.add("must be a number", f"{p}/{key}")
        low, high, initial = values.get("min_value"), values.get("max_value"), values.get("initial_value")
        if low is not None and high is not None and low > high:
            self.add("min_value cannot be greater than max_value", f"{p}/min_value")
        if initial is not None and ((low is not None and initial < low) or (high is not None and initial > high)):
            self.add("initial_value must be between min_value and max_value", f"{p}/initial_value")


def _sdk_block_problems(blocks: list[Any], pointer: str) -> list[str]:
    problems = []
    for i, raw in enumerate(blocks):
        if not isinstance(raw, dict):
            continue
        try:
            block = Block.parse(raw)
            if block is None:
                problems.append(f"unknown block type {raw.get('type')!r} [json-pointer:{pointer}/{i}]")
                continue
            block.to_dict()
        except Exception as exc:  # noqa: BLE001 - slack_sdk raises assorted types for malformed input
            problems.append(f"{exc} [json-pointer:{pointer}/{i}]")
    return problems


def block_problems(blocks: Any, *, max_blocks: int, pointer: str = "/blocks") -> list[str]:
    """Reasons Slack would refuse these blocks ([] when fine)."""
    if not isinstance(blocks, list):
        return [f"blocks must be a JSON array [json-pointer:{pointer}]"]
    checker = _Checker()
    checker.blocks(blocks, pointer, max_blocks=max_blocks)
    return _sdk_block_problems(blocks, pointer) + checker.problems


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


def blocks_text_cost(blocks: list[Any], limits: Limits) -> int:
    """What a message's blocks count against msg_blocks_too_long (see the module's table)."""
    return sum(slack_len(t) for t in iter_texts(blocks)) + limits.block_overhead * len(blocks)


def check_message(text: Any, blocks: Any, limits: Limits) -> None:
    """Raise SlackError the way chat.postMessage/update/postEphemeral would."""
    if text is not None and not isinstance(text, str):
        raise SlackError("invalid_arguments", ["text must be a string"])
    if text and slack_len(text) > limits.message_text:
        raise SlackError("msg_too_long", [f"text is {slack_len(text)} characters, limit {limits.message_text}"])
    if blocks is None:
        return
    if isinstance(blocks, str):
        raise SlackError("invalid_blocks_format", ["blocks is not valid JSON"])
    problems = block_problems(blocks, max_blocks=limits.message_blocks)
    if problems:
        raise SlackError("invalid_blocks", problems)
    cost = blocks_text_cost(blocks, limits)
    if cost > limits.message_blocks_text:
        raise SlackError(
            "msg_blocks_too_long",
            [
                f"blocks count {cost} characters (text plus {limits.block_overhead} a block), "
                f"limit {limits.message_blocks_text}"
            ],
        )


def check_metadata(raw: Any, limits: Limits) -> dict[str, Any] | None:
    """The message metadata Slack would store, or SlackError('invalid_metadata_format')."""
    if raw in (None, ""):
        return None
    problems = []
    if not isinstance(raw, dict) or not isinstance(raw.get("event_type"), str) or not raw["event_type"]:
        problems.append("metadata needs event_type, a non-empty string")
    payload = raw.get("event_payload", {}) if isinstance(raw, dict) else None
    if not isinstance(payload, dict) or not all(_payload_value(v) for v in payload.values()):
        problems.append("event_payload must be an object of strings, numbers, booleans, objects and lists of objects")
    elif len(json.dumps(raw, ensure_ascii=False)) > limits.metadata_chars:
        problems.append(f"metadata is over {limits.metadata_chars} characters of JSON")
    if problems:
        raise SlackError("invalid_metadata_format", problems)
    return {"event_type": raw["event_type"], "event_payload": payload}


def _scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool))


def _payload_value(value: Any) -> bool:
    if isinstance(value, dict):
        return all(_scalar(v) for v in value.values())
    if isinstance(value, list):
        return all(isinstance(item, dict) and all(_scalar(v) for v in item.values()) for item in value)
    return _scalar(value)


def check_view(view: Any, limits: Limits) -> None:
    """Raise SlackError the way views.open/update/push would for a view Slack refuses."""
    if not isinstance(view, dict):  # also a form-encoded view that was not valid JSON
        raise SlackError("invalid_arguments", ["view must be a JSON object [json-pointer:/view]"])
    size = len(json.dumps(view, separators=(",", ":")).encode())
    if size > limits.view_bytes:
        raise SlackError("view_too_large", [f"view is {size} bytes, limit {limits.view_bytes}"])
    problems = _view_field_problems(view, limits)
    problems += block_problems(view.get("blocks", []), max_blocks=limits.modal_blocks, pointer="/view/blocks")
    if not problems:
        problems += _sdk_view_problems(view)
    if problems:
        raise SlackError("invalid_arguments", problems)


def _view_field_problems(view: dict[str, Any], limits: Limits) -> list[str]:
    checker = _Checker()
    kind = view.get("type")
    if kind not in ("modal", "home"):
        checker.add("type must be 'modal' or 'home'", "/view/type")
    if kind == "modal":
        checker.text_object(view.get("title"), "/view/title", limit=limits.view_text_field, plain_only=True)
        for name in ("submit", "close"):
            checker.text_object(
                view.get(name), f"/view/{name}", limit=limits.view_text_field, plain_only=True, required=False
            )
        declared = view.get("blocks")
        blocks = declared if isinstance(declared, list) else []
        if view.get("submit") is None and any(isinstance(b, dict) and b.get("type") == "input" for b in blocks):
            checker.add("submit is required when the view has an input block", "/view/submit")
    metadata = view.get("private_metadata")
    if metadata is not None and (not isinstance(metadata, str) or slack_len(metadata) > limits.private_metadata):
        checker.add(f"must be a string of at most {limits.private_metadata} characters", "/view/private_metadata")
    checker.string(view.get("callback_id"), "view.callback_id", "/view/callback_id")
    checker.string(view.get("external_id"), "view.external_id", "/view/external_id")
    return checker.problems


def _sdk_view_problems(view: dict[str, Any]) -> list[str]:
    # Stored views carry read-only fields (id, hash, state…) when a bot echoes
    # one back; View() tolerates unknown keys, so pass everything through.
    try:
        View(**view).to_dict()
    except Exception as exc:  # noqa: BLE001 - slack_sdk raises assorted types for malformed input
        return [f"{exc} [json-pointer:/view]"]
    return []
