"""Build interaction payloads (block_actions, view_submission…) the way Slack does.

Pure functions over stored messages/views: what a user "clicks" or "types" is
resolved against the blocks the bot actually sent, so a test cannot click a
button that does not exist or pick an option the bot never offered.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

# Element type -> the key its value has in state.values / actions[].
STATE_KEY: dict[str, str] = {
    "plain_text_input": "value",
    "number_input": "value",
    "email_text_input": "value",
    "url_text_input": "value",
    "rich_text_input": "rich_text_value",
    "static_select": "selected_option",
    "external_select": "selected_option",
    "radio_buttons": "selected_option",
    "multi_static_select": "selected_options",
    "multi_external_select": "selected_options",
    "checkboxes": "selected_options",
    "users_select": "selected_user",
    "multi_users_select": "selected_users",
    "conversations_select": "selected_conversation",
    "multi_conversations_select": "selected_conversations",
    "channels_select": "selected_channel",
    "multi_channels_select": "selected_channels",
    "datepicker": "selected_date",
    "timepicker": "selected_time",
    "datetimepicker": "selected_date_time",
}
# state key -> where the element declares its pre-filled value.
INITIAL_KEY: dict[str, str] = {
    "value": "initial_value",
    "rich_text_value": "initial_value",
    "selected_option": "initial_option",
    "selected_options": "initial_options",
    "selected_user": "initial_user",
    "selected_users": "initial_users",
    "selected_conversation": "initial_conversation",
    "selected_conversations": "initial_conversations",
    "selected_channel": "initial_channel",
    "selected_channels": "initial_channels",
    "selected_date": "initial_date",
    "selected_time": "initial_time",
    "selected_date_time": "initial_date_time",
}
_LIST_KEYS = {"selected_options", "selected_users", "selected_conversations", "selected_channels"}
UNSET: Any = object()


def iter_elements(blocks: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(block, element) for every element that can carry an action_id."""
    for block in blocks:
        for element in block.get("elements") or []:
            if isinstance(element, dict):
                yield block, element
        for key in ("accessory", "element"):
            if isinstance(block.get(key), dict):
                yield block, block[key]


def _options(element: dict[str, Any]) -> list[dict[str, Any]]:
    options = list(element.get("options") or [])
    for group in element.get("option_groups") or []:
        options.extend(group.get("options") or [])
    return options


def resolve_option(element: dict[str, Any], chosen: Any) -> dict[str, Any]:
    """The full option object Slack would send for a chosen value."""
    if isinstance(chosen, dict):
        return copy.deepcopy(chosen)
    options = _options(element)
    if not options:  # external_select: options come from the app, not the view
        return {"text": {"type": "plain_text", "text": str(chosen), "emoji": True}, "value": str(chosen)}
    for option in options:
        if option.get("value") == str(chosen):
            return copy.deepcopy(option)
    offered = [o.get("value") for o in options]
    raise AssertionError(f"option {chosen!r} is not offered by {element.get('action_id')!r}; options: {offered}")


def _converted(element: dict[str, Any], key: str, value: Any) -> Any:
    if value is None:
        return [] if key in _LIST_KEYS else None
    if key == "value":
        return str(value)  # number_input too: Slack sends numbers as strings
    if key == "selected_option":
        return resolve_option(element, value)
    if key == "selected_options":
        values = value if isinstance(value, (list, tuple)) else [value]
        return [resolve_option(element, v) for v in values]
    if key == "selected_date_time":
        return int(value)
    return copy.deepcopy(value)


def element_state(element: dict[str, Any], value: Any = UNSET) -> dict[str, Any]:
    """One element's entry in state.values; UNSET means "left as pre-filled"."""
    kind = element.get("type", "")
    key = STATE_KEY[kind]
    if value is UNSET:
        initial = copy.deepcopy(element.get(INITIAL_KEY[key]))
        value = initial if initial is not None else ([] if key in _LIST_KEYS else None)
    else:
        value = _converted(element, key, value)
    return {"type": kind, key: value}


def is_stateful(element: dict[str, Any]) -> bool:
    return element.get("type") in STATE_KEY


def state_values(
    blocks: list[dict[str, Any]], chosen: dict[tuple[str, str], Any] | None = None
) -> dict[str, dict[str, Any]]:
    """state.values for every stateful element, with chosen[(block_id, action_id)] applied."""
    chosen = chosen or {}
    values: dict[str, dict[str, Any]] = {}
    for block, element in iter_elements(blocks):
        if not is_stateful(element):
            continue
        ids = (block.get("block_id", ""), element.get("action_id", ""))
        values.setdefault(ids[0], {})[ids[1]] = element_state(element, chosen.get(ids, UNSET))
    return values


def match_inputs(blocks: list[dict[str, Any]], given: dict[str, Any]) -> dict[tuple[str, str], Any]:
    """Map test-supplied {block_id or action_id: value} onto (block_id, action_id) pairs."""
    matched: dict[tuple[str, str], Any] = {}
    used: set[str] = set()
    for block, element in iter_elements(blocks):
        if not is_stateful(element):
            continue
        ids = (block.get("block_id", ""), element.get("action_id", ""))
        key = ids[0] if ids[0] in given else ids[1] if ids[1] in given else None
        if key is not None:
            matched[ids] = given[key]
            used.add(key)
    unknown = set(given) - used
    if unknown:
        known = [f"{b.get('block_id')}/{e.get('action_id')}" for b, e in iter_elements(blocks) if is_stateful(e)]
        raise AssertionError(f"no input with block_id/action_id {sorted(unknown)}; inputs: {known}")
    return matched


def find_element(
    blocks: list[dict[str, Any]], action_id: str, *, block_id: str | None = None, value: Any = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The (block, element) a click on action_id hits; AssertionError if absent."""
    hits = [
        (b, e)
        for b, e in iter_elements(blocks)
        if e.get("action_id") == action_id and block_id in (None, b.get("block_id"))
    ]
    if not hits:
        present = [e.get("action_id") for _, e in iter_elements(blocks) if e.get("action_id")]
        raise AssertionError(f"no element with action_id {action_id!r} (block_id {block_id!r}); present: {present}")
    if value is not None:
        buttons = [(b, e) for b, e in hits if e.get("type") == "button"]
        same = [(b, e) for b, e in buttons if e.get("value") == value]
        if buttons and not same:
            raise AssertionError(
                f"no {action_id!r} button with value {value!r}; values: {[e.get('value') for _, e in buttons]}"
            )
        hits = same or hits
    return hits[0]


def action_payload(block: dict[str, Any], element: dict[str, Any], value: Any, action_ts: str) -> dict[str, Any]:
    """One entry of block_actions' `actions`, shaped per element type."""
    kind = element.get("type", "")
    action: dict[str, Any] = {"action_id": element.get("action_id"), "block_id": block.get("block_id")}
    if kind == "button":
        action["text"] = copy.deepcopy(element.get("text"))
        if "value" in element:
            action["value"] = element["value"]
        if "style" in element:
            action["style"] = element["style"]
    elif kind == "overflow":
        action["selected_option"] = resolve_option(element, value)
    elif is_stateful(element):
        state = element_state(element, UNSET if value is None else value)
        action.update({k: v for k, v in state.items() if k != "type"})
        if "placeholder" in element:
            action["placeholder"] = copy.deepcopy(element["placeholder"])
    action.update(type=kind, action_ts=action_ts)
    return action


def user_object(user: dict[str, Any], team_id: str) -> dict[str, Any]:
    return {"id": user["id"], "username": user["name"], "name": user["name"], "team_id": team_id}
