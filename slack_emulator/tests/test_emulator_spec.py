"""The emulator answers the Web API methods hitl uses the way Slack documents them (Slack's OpenAPI spec in
../shared/slack-fixtures, when it is beside the repository; skipped otherwise): success bodies carry every
required field with its documented type, and error codes are among those the method documents. The spec
predates views.* details, so those check `ok` only. The scope table (scopes.py) agrees with the spec's scopes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from slack_emulator import Emulator, serve_emulator
from slack_emulator.scopes import METHOD_SCOPES
from slack_emulator.tests import slack_fixtures

SPEC_PATH = slack_fixtures.shared_file("slack_web_openapi_v2.json")
pytestmark = pytest.mark.skipif(SPEC_PATH is None, reason="Slack's OpenAPI spec is not beside the repository")
JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "object": (dict,),
    "array": (list,),
    "boolean": (bool,),
    "integer": (int,),
    "number": (int, float),
}


def _spec() -> dict[str, Any]:
    assert SPEC_PATH is not None
    return json.loads(SPEC_PATH.read_text())


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["definitions"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _types(spec: dict[str, Any], schema: dict[str, Any]) -> tuple[type, ...] | None:
    schema = _resolve(spec, schema)
    if "type" in schema:
        declared = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        return tuple(t for name in declared if name in JSON_TYPES for t in JSON_TYPES[name])
    return None


def check_success(spec: dict[str, Any], method: str, body: dict[str, Any]) -> None:
    operation = next(iter(spec["paths"][f"/{method}"].values()))
    schema = _resolve(spec, operation["responses"]["200"]["schema"])
    for field in schema.get("required", []):
        assert field in body, f"{method}: missing required {field!r}"
    for field, value in body.items():
        declared = schema.get("properties", {}).get(field)
        if declared is None or value is None:
            continue
        types = _types(spec, declared)
        if types:
            assert isinstance(value, types), f"{method}.{field}: {type(value).__name__} is not {types}"


def documented_errors(spec: dict[str, Any], method: str) -> list[str]:
    operation = next(iter(spec["paths"][f"/{method}"].values()))
    schema = _resolve(spec, operation["responses"].get("default", {}).get("schema", {}))
    return schema.get("properties", {}).get("error", {}).get("enum", [])


@pytest.fixture
async def client() -> Any:
    emulator = Emulator(strict_triggers=False, auto_create_channels=False)
    emulator.workspace.add_channel("C0SPEC", "spec")
    emulator.workspace.add_usergroup("S0GROUP", ["U0A", "U0B"])
    async with serve_emulator(emulator) as url:
        yield AsyncWebClient(token="xoxb-spec", base_url=url)


async def test_success_responses_match_the_spec(client: AsyncWebClient) -> None:
    spec = _spec()
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "hi"}}]
    posted = await client.chat_postMessage(
        channel="C0SPEC",
        text="hi",
        blocks=blocks,
        metadata={"event_type": "hitl_case", "event_payload": {"case_id": "x"}},
    )
    check_success(spec, "chat.postMessage", posted.data)  # type: ignore[arg-type]
    ts = posted["ts"]
    calls = {
        "auth.test": client.auth_test(),
        "chat.update": client.chat_update(channel="C0SPEC", ts=ts, text="edited", blocks=blocks),
        "chat.postEphemeral": client.chat_postEphemeral(channel="C0SPEC", user="U0A", text="only you"),
        "chat.getPermalink": client.chat_getPermalink(channel="C0SPEC", message_ts=ts),
        "conversations.history": client.conversations_history(channel="C0SPEC", include_all_metadata=True),
        "conversations.replies": client.conversations_replies(channel="C0SPEC", ts=ts),
        "conversations.info": client.conversations_info(channel="C0SPEC"),
        "usergroups.users.list": client.usergroups_users_list(usergroup="S0GROUP"),
        "users.info": client.users_info(user="U0A"),
        "views.open": client.views_open(
            trigger_id="1.2.x", view={"type": "modal", "title": {"type": "plain_text", "text": "t"}, "blocks": blocks}
        ),
    }
    for method, call in calls.items():
        response = await call
        assert response["ok"] is True, method
        check_success(spec, method, response.data)  # type: ignore[arg-type]
    view = (
        await client.views_open(
            trigger_id="1.2.y", view={"type": "modal", "title": {"type": "plain_text", "text": "t"}, "blocks": blocks}
        )
    )["view"]
    updated = await client.views_update(
        view_id=view["id"], view={"type": "modal", "title": {"type": "plain_text", "text": "u"}, "blocks": blocks}
    )
    check_success(spec, "views.update", updated.data)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "method, call",
    [
        ("chat.update", lambda c: c.chat_update(channel="C0SPEC", ts="1.000001", text="x")),
        ("chat.getPermalink", lambda c: c.chat_getPermalink(channel="C0NOPE", message_ts="1.000001")),
        ("usergroups.users.list", lambda c: c.usergroups_users_list(usergroup="S0NOPE")),
        ("conversations.history", lambda c: c.conversations_history(channel="C0NOPE")),
        ("chat.postEphemeral", lambda c: c.chat_postEphemeral(channel="C0NOPE", user="U0A", text="x")),
        ("conversations.info", lambda c: c.conversations_info(channel="C0NOPE")),
        ("chat.postMessage", lambda c: c.chat_postMessage(channel="C0NOPE", text="x")),
    ],
)
async def test_error_codes_are_documented_ones(client: AsyncWebClient, method: str, call: Any) -> None:
    await client.chat_postMessage(channel="C0SPEC", text="exists")
    with pytest.raises(SlackApiError) as err:
        await call(client)
    code = err.value.response["error"]
    documented = documented_errors(_spec(), method)
    assert code in documented or code in ("no_such_subteam", "message_not_found"), (method, code, documented)


def _granular(scope: str) -> str:
    """Slack's 2020 spec names the old perspective scopes; granular bot tokens dropped the suffix."""
    return scope.removesuffix(":bot").removesuffix(":user")


def test_the_scope_table_agrees_with_slacks_spec() -> None:
    spec = _spec()
    checked = 0
    for method, scopes in METHOD_SCOPES.items():
        operations = spec["paths"].get(f"/{method}")
        if operations is None:
            continue  # newer than the 2020 spec (files.getUploadURLExternal, files.completeUploadExternal)
        listed = {
            _granular(s)
            for op in operations.values()
            for req in op.get("security", [])
            for s in req.get("slackAuth", [])
        }
        if listed == {"none"}:
            assert scopes == (), (method, scopes)
        else:
            assert scopes and set(scopes) <= listed, (method, scopes, sorted(listed))
        checked += 1
    assert checked >= len(METHOD_SCOPES) - 2
