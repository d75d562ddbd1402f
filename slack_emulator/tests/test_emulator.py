"""The Slack emulator, driven through the real slack_sdk AsyncWebClient over loopback HTTP."""

from __future__ import annotations

import inspect
import json
import time
import types
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import builtin_async_handlers
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from slack_emulator import Emulator, Limits, SlackRequestSender, serve_asgi, serve_emulator, sign
from slack_emulator.tests import slack_fixtures
from slack_emulator.workspace import TEAM_ID

SECRET = "test-signing-secret"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Env:
    def __init__(self, emulator: Emulator, client: AsyncWebClient, base_url: str, clock: FakeClock) -> None:
        self.em, self.client, self.base_url, self.clock = emulator, client, base_url, clock


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    clock = FakeClock()
    emulator = Emulator(clock=clock, seed=7)
    async with serve_emulator(emulator) as base_url:
        yield Env(emulator, AsyncWebClient(token="xoxb-test", base_url=base_url), base_url, clock)


class FakeBot:
    """A minimal ASGI 'bot': verifies Slack signatures and records what arrives."""

    def __init__(self, respond: Callable[[dict[str, Any]], Any] | None = None) -> None:
        self.verifier = SignatureVerifier(SECRET)
        self.received: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.raw: list[bytes] = []
        self.respond = respond
        self.app = Starlette(routes=[Route("/slack/events", self.events, methods=["POST"])])

    async def events(self, request: Request) -> Response:
        body = await request.body()
        self.headers.append(dict(request.headers))
        if not self.verifier.is_valid_request(body, dict(request.headers)):
            return Response("invalid signature", status_code=401)
        form = dict(parse_qsl(body.decode(), keep_blank_values=True))
        data = json.loads(form["payload"]) if "payload" in form else form
        self.raw.append(body)
        self.received.append(data)
        result = self.respond(data) if self.respond else None
        if inspect.isawaitable(result):
            result = await result
        return result if result is not None else Response()

    def sender(self, emulator: Emulator | None) -> SlackRequestSender:
        return SlackRequestSender("http://bot.test", SECRET, emulator, transport=httpx.ASGITransport(app=self.app))


def fixture(name: str) -> dict[str, Any]:
    return slack_fixtures.load(name)


def button_blocks(action_id: str = "approve", text: str = "Approve") -> list[dict[str, Any]]:
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": "Deploy *api* to prod?"}},
        {
            "type": "actions",
            "block_id": "decision",
            "elements": [
                {
                    "type": "button",
                    "action_id": action_id,
                    "text": {"type": "plain_text", "text": text},
                    "value": "req-1",
                },
                {
                    "type": "button",
                    "action_id": "reject",
                    "text": {"type": "plain_text", "text": "Reject"},
                    "value": "req-1",
                },
            ],
        },
    ]


def modal(**extra: Any) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": "reason",
        "title": {"type": "plain_text", "text": "Why?"},
        "submit": {"type": "plain_text", "text": "Send"},
        "blocks": [
            {
                "type": "input",
                "block_id": "why",
                "label": {"type": "plain_text", "text": "Reason"},
                "element": {"type": "plain_text_input", "action_id": "text"},
            },
            {
                "type": "input",
                "block_id": "sev",
                "label": {"type": "plain_text", "text": "Severity"},
                "element": {
                    "type": "static_select",
                    "action_id": "pick",
                    "options": [
                        {"text": {"type": "plain_text", "text": "Low"}, "value": "low"},
                        {"text": {"type": "plain_text", "text": "High"}, "value": "high"},
                    ],
                },
            },
            {
                "type": "input",
                "block_id": "flags",
                "optional": True,
                "label": {"type": "plain_text", "text": "Flags"},
                "element": {
                    "type": "checkboxes",
                    "action_id": "boxes",
                    "options": [
                        {"text": {"type": "plain_text", "text": "Page"}, "value": "page"},
                        {"text": {"type": "plain_text", "text": "Audit"}, "value": "audit"},
                    ],
                },
            },
            {
                "type": "input",
                "block_id": "mins",
                "optional": True,
                "label": {"type": "plain_text", "text": "Minutes"},
                "element": {"type": "number_input", "action_id": "n", "is_decimal_allowed": False},
            },
        ],
        **extra,
    }


# ---- messages ---------------------------------------------------------------------


async def test_post_with_blocks_and_metadata_then_find_it_in_history(env: Env) -> None:
    metadata = {"event_type": "hitl_request", "event_payload": {"request_id": "r-42"}}
    posted = await env.client.chat_postMessage(
        channel="C0OPS", text="fallback", blocks=button_blocks(), metadata=metadata
    )
    assert posted["channel"] == "C0OPS" and posted["message"]["text"] == "fallback"
    # Slack assigns block_ids to blocks that lack one; interaction payloads quote them.
    assert posted["message"]["blocks"][0]["block_id"]

    with_md = await env.client.conversations_history(channel="C0OPS", include_all_metadata=True)
    found = [m for m in with_md["messages"] if m.get("metadata", {}).get("event_payload") == {"request_id": "r-42"}]
    assert [m["ts"] for m in found] == [posted["ts"]]

    without = await env.client.conversations_history(channel="C0OPS")
    assert "metadata" not in without["messages"][0]
    # slack_sdk encodes booleans in query strings as "1"/"0".
    assert env.em.calls_to("conversations.history")[0].args["include_all_metadata"] == "1"
    assert env.em.last_call("chat.postMessage").args["blocks"][1]["block_id"] == "decision"  # type: ignore[union-attr]


async def test_ts_values_strictly_increase_and_history_is_newest_first(env: Env) -> None:
    tss = [(await env.client.chat_postMessage(channel="C0OPS", text=f"m{i}"))["ts"] for i in range(5)]
    assert tss == sorted(tss, key=float) and len(set(tss)) == 5
    seen: list[str] = []
    has_more: list[bool] = []
    # slack_sdk's cursor iteration mutates and re-yields one response object.
    async for page in await env.client.conversations_history(channel="C0OPS", limit=2):
        seen += [m["ts"] for m in page["messages"]]
        has_more.append(page["has_more"])
    assert seen == list(reversed(tss)) and has_more == [True, True, False]


async def test_thread_replies_stay_out_of_history(env: Env) -> None:
    parent = await env.client.chat_postMessage(channel="C0OPS", text="parent")
    reply = await env.client.chat_postMessage(channel="C0OPS", text="reply", thread_ts=parent["ts"])
    history = await env.client.conversations_history(channel="C0OPS")
    assert [m["text"] for m in history["messages"]] == ["parent"]
    assert history["messages"][0]["reply_count"] == 1
    replies = await env.client.conversations_replies(channel="C0OPS", ts=parent["ts"])
    assert [m["ts"] for m in replies["messages"]] == [parent["ts"], reply["ts"]]
    link = await env.client.chat_getPermalink(channel="C0OPS", message_ts=reply["ts"])
    assert link["permalink"].startswith("https://hitl-emulator.slack.com/archives/C0OPS/p")
    assert [m.text for m in env.em.thread("C0OPS", parent["ts"])] == ["parent", "reply"]


async def test_chat_update_edits_in_place_and_unknown_ts_fails(env: Env) -> None:
    posted = await env.client.chat_postMessage(channel="C0OPS", text="pending", blocks=button_blocks())
    updated = await env.client.chat_update(channel="C0OPS", ts=posted["ts"], text="approved by <@U1>")
    assert updated["ts"] == posted["ts"] and updated["message"]["text"] == "approved by <@U1>"
    (message,) = env.em.messages("C0OPS")
    assert message.edits == 1
    assert message.blocks[1]["block_id"] == "decision"  # omitted blocks are retained, as on Slack
    with pytest.raises(SlackApiError) as err:
        await env.client.chat_update(channel="C0OPS", ts="1.000001", text="x")
    assert err.value.response["error"] == "message_not_found"


async def test_unknown_channel_rejected_when_auto_create_is_off() -> None:
    emulator = Emulator(auto_create_channels=False)
    emulator.workspace.add_channel("C0OPS", "ops")
    by_name = await emulator.handle("chat.postMessage", {"channel": "#ops", "text": "by name"}, "xoxb-t")
    unknown = await emulator.handle("chat.postMessage", {"channel": "C0NOPE", "text": "x"}, "xoxb-t")
    assert by_name.body["channel"] == "C0OPS"
    assert (unknown.status, unknown.body["error"]) == (200, "channel_not_found")


async def test_ephemeral_is_stored_for_its_user(env: Env) -> None:
    env.em.workspace.add_user("U1", "alice")
    res = await env.client.chat_postEphemeral(channel="C0OPS", user="U1", text="only you")
    (eph,) = env.em.workspace.ephemerals
    assert (eph.user, eph.text, eph.ts) == ("U1", "only you", res["message_ts"])


# ---- Block Kit validation ------------------------------------------------------------


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


@pytest.mark.parametrize(
    "blocks",
    [
        button_blocks(text="x" * 80),
        [_section("hi") for _ in range(51)],
        [_section("x" * 3001)],
        [{"type": "no_such_block"}],
        [_section("a") | {"block_id": "dup"}, _section("b") | {"block_id": "dup"}],
    ],
    ids=["button-text-80", "51-blocks", "section-3001", "unknown-type", "duplicate-block-id"],
)
async def test_invalid_blocks_are_rejected_like_slack(env: Env, blocks: list[dict[str, Any]]) -> None:
    with pytest.raises(SlackApiError) as err:
        await env.client.chat_postMessage(channel="C0OPS", text="t", blocks=blocks)
    assert err.value.response["error"] == "invalid_blocks"
    assert err.value.response["errors"] and "json-pointer:/blocks" in err.value.response["errors"][0]
    assert env.em.messages("C0OPS") == [] and len(env.em.rejected) == 1
    with pytest.raises(AssertionError, match="invalid_blocks"):
        env.em.assert_no_rejections()


async def test_total_block_text_budget_gives_msg_blocks_too_long(env: Env) -> None:
    blocks = [_section("x" * 2900) for _ in range(5)]  # each block valid, 14,500 chars total
    with pytest.raises(SlackApiError) as err:
        await env.client.chat_postMessage(channel="C0OPS", text="t", blocks=blocks)
    assert err.value.response["error"] == "msg_blocks_too_long"
    # Emulator.handle() is the transport-free core; no server needed for a config check.
    relaxed = Emulator(limits=Limits(message_blocks_text=20_000))
    reply = await relaxed.handle("chat.postMessage", {"channel": "C0OPS", "text": "t", "blocks": blocks}, "xoxb-t")
    assert reply.body["ok"] and len(relaxed.messages("C0OPS")) == 1


async def test_form_encoded_and_query_arguments_are_understood(env: Env) -> None:
    async with httpx.AsyncClient(base_url=env.base_url) as http:
        form = {"token": "xoxb-form", "channel": "C0OPS", "text": "t", "blocks": json.dumps([_section("form")])}
        res = (await http.post("chat.postMessage", data=form)).json()
        hist = (
            await http.get(
                "conversations.history", params={"channel": "C0OPS"}, headers={"Authorization": "Bearer xoxb-q"}
            )
        ).json()
        unknown = await http.post("no.such.method", headers={"Authorization": "Bearer xoxb-q"})
    assert res["ok"] and res["message"]["blocks"][0]["text"]["text"] == "form"
    assert isinstance(env.em.last_call("chat.postMessage").args["blocks"], list)  # type: ignore[union-attr]
    assert "token" not in env.em.last_call("chat.postMessage").args  # type: ignore[union-attr]
    assert [m["ts"] for m in hist["messages"]] == [res["ts"]]
    assert (unknown.status_code, unknown.json()["error"]) == (200, "unknown_method")


async def test_auth_is_required(env: Env) -> None:
    for token, error in [(None, "not_authed"), ("bogus", "invalid_auth")]:
        with pytest.raises(SlackApiError) as err:
            await AsyncWebClient(token=token, base_url=env.base_url).auth_test()
        assert err.value.response["error"] == error
    me = await env.client.auth_test()
    assert (me["team_id"], me["user_id"], me["bot_id"]) == ("T0HITL", "U0HITLBOT", "B0HITL")


# ---- views and triggers -------------------------------------------------------------------


async def test_views_open_trigger_rules(env: Env) -> None:
    ws = env.em.workspace
    for trigger, error in [("12345.67890.abcdef", "invalid_trigger_id")]:
        with pytest.raises(SlackApiError) as err:
            await env.client.views_open(trigger_id=trigger, view=modal())
        assert err.value.response["error"] == error

    trigger = ws.issue_trigger_id("U1")
    assert len(trigger.split(".")) == 3
    opened = await env.client.views_open(trigger_id=trigger, view=modal())
    view = opened["view"]
    assert view["id"].startswith("V") and view["hash"] and view["state"] == {"values": {}}
    assert view["root_view_id"] == view["id"] and view["previous_view_id"] is None

    with pytest.raises(SlackApiError) as reused:
        await env.client.views_open(trigger_id=trigger, view=modal())
    assert reused.value.response["error"] == "expired_trigger_id"

    late = ws.issue_trigger_id("U1")
    env.clock.advance(3.01)
    with pytest.raises(SlackApiError) as expired:
        await env.client.views_open(trigger_id=late, view=modal())
    assert expired.value.response["error"] == "expired_trigger_id"


async def test_lenient_triggers_accept_fixture_ids() -> None:
    emulator = Emulator(strict_triggers=False)
    async with serve_emulator(emulator) as base_url:
        client = AsyncWebClient(token="xoxb-test", base_url=base_url)
        res = await client.views_open(trigger_id="111.222.valid", view=modal())
    assert emulator.view(res["view"]["id"])["callback_id"] == "reason"


async def test_views_update_hash_and_push_stack(env: Env) -> None:
    ws = env.em.workspace
    root = (await env.client.views_open(trigger_id=ws.issue_trigger_id("U1"), view=modal(external_id="ext-1")))["view"]
    updated = await env.client.views_update(view_id=root["id"], hash=root["hash"], view=modal(private_metadata="v2"))
    assert updated["view"]["id"] == root["id"] and updated["view"]["hash"] != root["hash"]
    with pytest.raises(SlackApiError) as stale:
        await env.client.views_update(view_id=root["id"], hash=root["hash"], view=modal())
    assert stale.value.response["error"] == "hash_conflict"
    by_external = await env.client.views_update(external_id="ext-1", view=modal(private_metadata="v3"))
    assert by_external["view"]["private_metadata"] == "v3"

    pushed = (await env.client.views_push(trigger_id=ws.issue_trigger_id("U1", view_id=root["id"]), view=modal()))[
        "view"
    ]
    assert (pushed["previous_view_id"], pushed["root_view_id"]) == (root["id"], root["id"])
    assert ws.open_stack("U1") == [root["id"], pushed["id"]]


async def test_invalid_views_are_rejected(env: Env) -> None:
    ws = env.em.workspace
    bad = [
        modal(title={"type": "plain_text", "text": "x" * 25}),
        modal(private_metadata="x" * 3001),
        modal() | {"blocks": [_section("x")] * 101},
    ]
    for view in bad:
        with pytest.raises(SlackApiError) as err:
            await env.client.views_open(trigger_id=ws.issue_trigger_id("U1"), view=view)
        assert err.value.response["error"] == "invalid_arguments"  # views.* have no invalid_blocks
    assert ws.views == {} and len(env.em.rejected) == 3


# ---- faults and rate limits -------------------------------------------------------------


async def test_rate_limit_fault_is_retried_by_slack_sdk_handler(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    # Patch only the retry handler's view of asyncio so the test does not wait 1-2 s.
    monkeypatch.setattr(builtin_async_handlers, "asyncio", types.SimpleNamespace(sleep=fake_sleep))
    env.em.faults.rate_limit("chat.postMessage", retry_after=1, count=1)
    client = AsyncWebClient(
        token="xoxb-test", base_url=env.base_url, retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=2)]
    )
    res = await client.chat_postMessage(channel="C0OPS", text="eventually")
    assert res["ok"] and env.em.served_429 == 1
    assert [c.status_code for c in env.em.calls_to("chat.postMessage")] == [429, 200]
    assert len(slept) == 1 and 1 <= slept[0] < 2  # the handler honoured Retry-After: 1


async def test_enforced_post_rate_gives_accurate_retry_after(env: Env) -> None:
    env.em.enforce_post_rate(0.25)  # one post per 4 s per channel
    await env.client.chat_postMessage(channel="C0OPS", text="first")
    await env.client.chat_postMessage(channel="C0OTHER", text="other channel is independent")
    env.clock.advance(1.5)
    with pytest.raises(SlackApiError) as err:
        await env.client.chat_postMessage(channel="C0OPS", text="too soon")
    assert err.value.response.status_code == 429
    assert err.value.response.headers["Retry-After"] == "3"  # ceil(4 - 1.5)
    env.clock.advance(2.5)
    assert (await env.client.chat_postMessage(channel="C0OPS", text="now fine"))["ok"]
    assert env.em.served_429 == 1


async def test_server_errors_are_counted_and_then_clear(env: Env) -> None:
    env.em.faults.fail("chat.postMessage", status=503, count=2)
    for _ in range(2):
        with pytest.raises(SlackApiError) as err:
            await env.client.chat_postMessage(channel="C0OPS", text="x")
        assert err.value.response.status_code == 503 and err.value.response["error"] == "internal_error"
    assert (await env.client.chat_postMessage(channel="C0OPS", text="x"))["ok"]
    assert env.em.served_5xx == 2 and len(env.em.messages("C0OPS")) == 1


async def test_delay_fault_forces_client_timeout(env: Env) -> None:
    env.em.faults.delay("auth.test", seconds=5, count=1)
    started = time.monotonic()
    with pytest.raises(Exception) as err:
        await AsyncWebClient(token="xoxb-test", base_url=env.base_url, timeout=0.2).auth_test()  # type: ignore[arg-type]  # slack-sdk says int; aiohttp takes any seconds
    assert "Timeout" in type(err.value).__name__ and time.monotonic() - started < 2


# ---- people --------------------------------------------------------------------------------


async def test_usergroups_and_users(env: Env) -> None:
    env.em.workspace.add_usergroup("S0ONCALL", ["U1", "U2"])
    env.em.workspace.add_user("U1", "alice", "Alice A", tz="Europe/Paris")
    assert (await env.client.usergroups_users_list(usergroup="S0ONCALL"))["users"] == ["U1", "U2"]
    with pytest.raises(SlackApiError) as err:
        await env.client.usergroups_users_list(usergroup="S0NOPE")
    assert err.value.response["error"] == "no_such_subteam"
    user = (await env.client.users_info(user="U1"))["user"]
    assert (user["name"], user["tz"], user["tz_offset"] in (3600, 7200)) == ("alice", "Europe/Paris", True)
    dm = await env.client.chat_postMessage(channel="U0NEW", text="hi")  # posting to a user id opens a DM
    assert dm["channel"] == "D0NEW" and env.em.messages("D0NEW")[0].text == "hi"
    strict = Emulator(auto_create_users=False)
    assert (await strict.handle("users.info", {"user": "U0NEW"}, "xoxb-t")).body["error"] == "user_not_found"


# ---- what Slack sends to the bot -------------------------------------------------------------


async def test_signer_output_is_accepted_by_slack_sdk_verifier() -> None:
    body = b"token=x&command=%2Fhitl&text=hello"
    ts = str(int(time.time()))
    assert SignatureVerifier(SECRET).is_valid(body, ts, sign(SECRET, ts, body))
    assert not SignatureVerifier("other-secret").is_valid(body, ts, sign(SECRET, ts, body))


async def test_send_raw_overrides_for_rejection_paths() -> None:
    bot = FakeBot()
    # Over a real loopback socket this time (serve_asgi is how the real bot is served).
    async with serve_asgi(bot.app) as bot_url, SlackRequestSender(bot_url, SECRET) as sender:
        good = await sender.send_raw(b"a=1", headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"})
        bad_sig = await sender.send_raw(b"a=1", signature="v0=deadbeef")
        stale = await sender.send_raw(b"a=1", timestamp=int(time.time()) - 600)
    assert [good.status_code, bad_sig.status_code, stale.status_code] == [200, 401, 401]
    assert bot.headers[0]["x-slack-retry-num"] == "1"


async def test_slash_command_has_the_fixture_field_set(env: Env) -> None:
    bot = FakeBot()
    async with bot.sender(env.em) as sender:
        res = await sender.slash_command("U1", "/hitl", "status api", user_name="alice")
    assert res.status_code == 200
    sent = bot.received[0]
    expected = fixture("slash_command.json")
    assert set(expected) - {"enterprise_id", "enterprise_name"} <= set(sent)
    assert (sent["command"], sent["text"], sent["team_id"], sent["user_name"]) == (
        "/hitl",
        "status api",
        TEAM_ID,
        "alice",
    )
    assert b"command=%2Fhitl&text=status+api" in bot.raw[0]  # form-encoded like Slack, not payload=
    opened = await env.client.views_open(trigger_id=sent["trigger_id"], view=modal())
    assert opened["ok"]  # the command's trigger_id is a real, fresh emulator trigger


async def test_click_builds_fixture_shaped_payload_and_trigger_works(env: Env) -> None:
    async def on_click(payload: dict[str, Any]) -> None:
        # A bot answering a click by opening a modal with the click's trigger_id.
        await env.client.views_open(trigger_id=payload["trigger_id"], view=modal())

    posted = await env.client.chat_postMessage(channel="C0OPS", text="Deploy?", blocks=button_blocks())
    bot = FakeBot(on_click)
    async with bot.sender(env.em) as sender:
        res = await sender.click("U1", "C0OPS", posted["ts"], "approve", user_name="alice")
        with pytest.raises(AssertionError, match="no element with action_id 'nope'"):
            await sender.click("U1", "C0OPS", posted["ts"], "nope")
    assert res.status_code == 200
    payload = bot.received[0]
    assert set(fixture("block_actions_button_in_message.json")) <= set(payload)
    assert payload["user"] == {"id": "U1", "username": "alice", "name": "alice", "team_id": TEAM_ID}
    assert payload["container"] == {
        "type": "message",
        "message_ts": posted["ts"],
        "channel_id": "C0OPS",
        "is_ephemeral": False,
    }
    assert payload["message"]["blocks"] == posted["message"]["blocks"]
    (action,) = payload["actions"]
    assert set(fixture("block_actions_button_in_message.json")["actions"][0]) == set(action)
    assert (action["block_id"], action["value"], action["text"]["text"]) == ("decision", "req-1", "Approve")
    assert env.em.last_call("views.open").ok  # type: ignore[union-attr]
    assert b"payload=%7B%22type%22%3A%20%22block_actions%22" in bot.raw[0]


async def test_response_url_replaces_the_original_message(env: Env) -> None:
    posted = await env.client.chat_postMessage(channel="C0OPS", text="Deploy?", blocks=button_blocks())
    bot = FakeBot()
    async with bot.sender(env.em) as sender:
        await sender.click("U1", "C0OPS", posted["ts"], "reject")
    async with httpx.AsyncClient() as http:
        hook = await http.post(bot.received[0]["response_url"], json={"replace_original": True, "text": "Rejected"})
    assert hook.status_code == 200
    (message,) = env.em.messages("C0OPS")
    assert (message.text, message.blocks) == ("Rejected", [])


async def test_submit_view_state_shapes_and_response_actions(env: Env) -> None:
    replies: list[Any] = [
        JSONResponse({"response_action": "errors", "errors": {"why": "Say more"}}),
        JSONResponse({"response_action": "update", "view": modal(private_metadata="thanks")}),
        None,  # empty ack: Slack closes the modal
    ]
    bot = FakeBot(lambda payload: replies.pop(0))
    view = (await env.client.views_open(trigger_id=env.em.workspace.issue_trigger_id("U1"), view=modal()))["view"]
    async with bot.sender(env.em) as sender:
        assert sender.last_opened_view()["id"] == view["id"]  # type: ignore[index]
        await sender.submit_view("U1", view["id"], {"why": "", "pick": "high", "boxes": ["audit"], "mins": 15})
        assert env.em.workspace.view_errors[view["id"]] == {"why": "Say more"}
        await sender.submit_view("U1", view["id"], {"why": "ok", "pick": "low"})
        assert sender.open_view(view["id"])["private_metadata"] == "thanks"
        await sender.submit_view("U1", view["id"], {"why": "ok", "pick": "low"})
        with pytest.raises(AssertionError, match="not open"):
            await sender.submit_view("U1", view["id"], {})
    values = bot.received[0]["view"]["state"]["values"]
    assert values["why"]["text"] == {"type": "plain_text_input", "value": ""}
    assert values["sev"]["pick"]["selected_option"] == {"text": {"type": "plain_text", "text": "High"}, "value": "high"}
    assert values["flags"]["boxes"]["selected_options"][0]["value"] == "audit"
    assert values["mins"]["n"] == {"type": "number_input", "value": "15"}
    second = bot.received[1]["view"]["state"]["values"]
    assert second["flags"]["boxes"]["selected_options"] == [] and second["mins"]["n"]["value"] is None
    assert set(fixture("view_submission_plain_text_input.json")) - {"team"} <= set(bot.received[0]) | {"team"}
    assert set(fixture("view_submission_plain_text_input.json")["view"]) <= set(bot.received[0]["view"])
    assert not env.em.workspace.is_view_open(view["id"])


async def test_serve_emulator_refuses_non_loopback_hosts() -> None:
    for host in ("0.0.0.0", "10.1.2.3", "example.com"):
        with pytest.raises(ValueError, match="loopback"):
            async with serve_emulator(Emulator(), host=host):
                pass


async def test_ephemeral_and_modal_clicks(env: Env) -> None:
    ws = env.em.workspace
    ws.add_user("U1", "alice")
    eph = await env.client.chat_postEphemeral(channel="C0OPS", user="U1", text="t", blocks=button_blocks())
    view = (await env.client.views_open(trigger_id=ws.issue_trigger_id("U1"), view=modal()))["view"]
    bot = FakeBot()
    async with bot.sender(env.em) as sender:
        await sender.click("U1", "C0OPS", eph["message_ts"], "approve")
        with pytest.raises(AssertionError, match="only visible to U1"):
            await sender.click("U2", "C0OPS", eph["message_ts"], "approve")
        await sender.click_in_view("U1", view["id"], "pick", value="high")
    on_eph, in_view = bot.received
    assert on_eph["container"]["is_ephemeral"] is True and "message" not in on_eph
    assert in_view["container"] == {"type": "view", "view_id": view["id"]}
    assert in_view["actions"][0]["selected_option"]["value"] == "high"
    assert in_view["view"]["state"]["values"]["sev"]["pick"]["selected_option"]["value"] == "high"
    # A trigger from inside a modal pushes onto that modal's stack.
    pushed = await env.client.views_push(trigger_id=in_view["trigger_id"], view=modal())
    assert pushed["view"]["previous_view_id"] == view["id"]


SHARED_SAMPLES = {
    # our fixture: (Slack's sample beside the repository, how to read its fields)
    "block_actions_button_in_message.json": ("block_actions_button_in_message.json", None),
    "block_actions_button_ephemeral.json": ("block_actions_button_ephemeral.json", None),
    "view_submission_plain_text_input.json": ("view_submission_plain_text_input.json", None),
    "slash_command.json": (
        "slash_command_form_bodies.json",
        "_derived_parse_of_body2 (urllib.parse.parse_qs, not upstream)",
    ),
}


@pytest.mark.parametrize("ours", sorted(SHARED_SAMPLES))
def test_our_fixtures_have_the_fields_of_slacks_own_samples(ours: str) -> None:
    name, key = SHARED_SAMPLES[ours]
    path = slack_fixtures.shared_file(name)
    if path is None:
        pytest.skip("Slack's samples are not beside the repository (../shared/slack-fixtures)")
    theirs = json.loads(path.read_text())
    theirs = theirs[key] if key else theirs
    local = fixture(ours)
    assert set(theirs) <= set(local), set(theirs) - set(local)
    for nested in ("actions", "view", "team", "user", "container"):
        if isinstance(theirs.get(nested), dict):
            assert set(theirs[nested]) <= set(local[nested]), (nested, set(theirs[nested]) - set(local[nested]))
        elif isinstance(theirs.get(nested), list) and theirs[nested]:
            assert set(theirs[nested][0]) == set(local[nested][0]), nested


# ---- identity, scopes and channel membership (what `hitl serve` checks at start) ----------------------------


async def test_auth_test_names_the_workspace_and_the_token_scopes(env: Env) -> None:
    answer = await env.client.auth_test()
    assert (answer["team_id"], answer["user_id"], answer["bot_id"]) == (TEAM_ID, "U0HITLBOT", "B0HITL")
    assert "enterprise_id" not in answer.data
    scopes = {s.strip() for s in answer.headers["x-oauth-scopes"].split(",")}
    assert {"chat:write", "commands", "usergroups:read"} <= scopes
    env.em.workspace.bot_scopes = {"chat:write"}
    env.em.workspace.enterprise_id = "E0ORG"
    again = await env.client.auth_test()
    assert again.headers["x-oauth-scopes"] == "chat:write" and again["enterprise_id"] == "E0ORG"


async def test_revoked_and_unknown_tokens_are_refused_everywhere(env: Env) -> None:
    env.em.revoke_token("xoxb-test", "account_inactive")
    for call in (env.client.auth_test(), env.client.chat_postMessage(channel="C0OPS", text="hi")):
        with pytest.raises(SlackApiError) as refused:
            await call
        assert refused.value.response["error"] == "account_inactive"
    env.em.refused_tokens.clear()
    env.em.bot_token = "xoxb-the-right-one"
    with pytest.raises(SlackApiError) as wrong:
        await env.client.auth_test()
    assert wrong.value.response["error"] == "invalid_auth"
    assert (await AsyncWebClient(token="xoxb-the-right-one", base_url=env.base_url).auth_test())["ok"]


async def test_conversations_info_says_whether_the_bot_is_in_and_private_channels_hide(env: Env) -> None:
    ws = env.em.workspace
    ws.add_channel("C0IN", "in")
    ws.add_channel("C0OUT", "out", member=False)
    ws.add_channel("C0SECRET", "secret", private=True, member=False)
    ws.add_channel("C0PRIV", "priv", private=True)
    info = {c: (await env.client.conversations_info(channel=c))["channel"] for c in ("C0IN", "C0OUT", "C0PRIV")}
    assert [(i["is_member"], i["is_private"]) for i in info.values()] == [(True, False), (False, False), (True, True)]
    with pytest.raises(SlackApiError) as hidden:
        await env.client.conversations_info(channel="C0SECRET")
    assert hidden.value.response["error"] == "channel_not_found"
    ws.bot_scopes.discard("groups:read")
    assert (await env.client.conversations_info(channel="C0IN"))["ok"]  # public: channels:read is enough
    with pytest.raises(SlackApiError) as scope:
        await env.client.conversations_info(channel="C0PRIV")
    assert (scope.value.response["error"], scope.value.response["needed"]) == ("missing_scope", "groups:read")


async def test_posting_needs_membership_or_chat_write_public(env: Env) -> None:
    ws = env.em.workspace
    ws.add_channel("C0OUT", "out", member=False)
    ws.add_channel("C0SECRET", "secret", private=True, member=False)
    ws.add_channel("C0OLD", "old", archived=True)
    assert (await env.client.chat_postMessage(channel="C0OUT", text="public, chat:write.public"))["ok"]
    ws.bot_scopes.discard("chat:write.public")
    expected = {"C0OUT": "not_in_channel", "C0SECRET": "channel_not_found", "C0OLD": "is_archived"}
    for channel, error in expected.items():
        with pytest.raises(SlackApiError) as refused:
            await env.client.chat_postMessage(channel=channel, text="hi")
        assert refused.value.response["error"] == error
