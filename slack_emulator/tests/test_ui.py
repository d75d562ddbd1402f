"""The dev page's HTTP face (`slack_emulator/ui.py`): state, and each /ui route turning into the request Slack would
send. A fake bot (a tiny Starlette app answering /slack/events) receives them, so every signed request can be
inspected; hitl's tests/test_dev_ui.py runs the real hitl app through the same routes."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from slack_emulator import Emulator, SlackRequestSender, create_webapi_app, sign
from slack_emulator.ui import DevControls, create_ui_routes, ui_state

SECRET = "fake-bot-signing-secret"
TOKEN = "xoxb-fake"
USERS = [
    {"id": "U0REV", "name": "Rita Reviewer", "roles": ["billing tier 1 reviewer"]},
    {"id": "U0OUTSIDER", "name": "Outsider", "roles": []},
]
CHANNELS = [
    {"id": "C0BILLING", "name": "billing-review", "purpose": "billing tier 1"},
    {"id": "C0OPS", "name": "hitl-ops", "purpose": "ops"},
]
CARD = [
    {"type": "header", "text": {"type": "plain_text", "text": "Review needed"}},
    {"type": "section", "text": {"type": "mrkdwn", "text": "*Draft* <!date^1700000000^{date_short_pretty}|Nov 14>"}},
    {
        "type": "actions",
        "block_id": "acts",
        "elements": [
            {
                "type": "button",
                "action_id": "approve",
                "value": "case-1",
                "style": "primary",
                "text": {"type": "plain_text", "text": "Approve"},
            },
            {
                "type": "button",
                "action_id": "open_modal",
                "value": "case-1",
                "text": {"type": "plain_text", "text": "Reject"},
            },
        ],
    },
]
MODAL = {
    "type": "modal",
    "callback_id": "reject",
    "notify_on_close": True,
    "title": {"type": "plain_text", "text": "Reject draft"},
    "submit": {"type": "plain_text", "text": "Reject"},
    "close": {"type": "plain_text", "text": "Cancel"},
    "private_metadata": "secret-ish",
    "blocks": [
        {
            "type": "input",
            "block_id": "reason",
            "label": {"type": "plain_text", "text": "Why?"},
            "element": {
                "type": "static_select",
                "action_id": "value",
                "options": [
                    {"text": {"type": "plain_text", "text": "Hallucination"}, "value": "hallucination"},
                    {"text": {"type": "plain_text", "text": "Other"}, "value": "other"},
                ],
            },
        },
        {
            "type": "input",
            "block_id": "note",
            "label": {"type": "plain_text", "text": "Note"},
            "element": {"type": "plain_text_input", "action_id": "value", "multiline": True},
        },
        {
            "type": "input",
            "block_id": "amount",
            "optional": True,
            "label": {"type": "plain_text", "text": "Amount"},
            "element": {"type": "number_input", "action_id": "value", "is_decimal_allowed": True},
        },
        {
            "type": "input",
            "block_id": "checks",
            "optional": True,
            "label": {"type": "plain_text", "text": "Checks"},
            "element": {
                "type": "checkboxes",
                "action_id": "value",
                "options": [
                    {"text": {"type": "plain_text", "text": "A"}, "value": "0"},
                    {"text": {"type": "plain_text", "text": "B"}, "value": "1"},
                ],
            },
        },
    ],
}


@dataclass
class FakeControls:
    clock: datetime = field(default_factory=lambda: datetime(2026, 11, 21, 9, 0, tzinfo=UTC))
    advanced: list[float] = field(default_factory=list)

    def users(self) -> list[dict[str, Any]]:
        return USERS

    def channels(self) -> list[dict[str, Any]]:
        return CHANNELS

    def now(self) -> datetime:
        return self.clock

    async def advance(self, seconds: float) -> None:
        self.advanced.append(seconds)
        self.clock += timedelta(seconds=seconds)


@dataclass
class FakeBot:
    """Answers /slack/events like a Bolt app would, after checking Slack's signature; keeps what it got."""

    emulator: Emulator
    requests: list[dict[str, Any]] = field(default_factory=list)
    command_status: int = 200

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/slack/events", self.events, methods=["POST"])])

    async def events(self, request: Request) -> Response:
        body = await request.body()
        ts = request.headers["x-slack-request-timestamp"]
        assert request.headers["x-slack-signature"] == sign(SECRET, ts, body), "bad signature"
        form = {k: v[0] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
        if "payload" in form:
            payload = json.loads(form["payload"])
            self.requests.append(payload)
            return await self.interaction(payload)
        self.requests.append(form)
        if self.command_status != 200:
            return Response(status_code=self.command_status)
        if form["text"] == "public":
            return JSONResponse({"response_type": "in_channel", "text": "said out loud"})
        if form["text"] == "modal":
            await self.emulator.handle("views.open", {"trigger_id": form["trigger_id"], "view": MODAL}, TOKEN)
            return Response()
        blocks = [
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": f"*status* for <@{form['user_id']}>: {form['text']}"},
            }
        ]
        return JSONResponse({"response_type": "ephemeral", "text": "status", "blocks": blocks})

    async def interaction(self, payload: dict[str, Any]) -> Response:
        if payload["type"] == "block_actions" and payload["actions"][0]["action_id"] == "open_modal":
            reply = await self.emulator.handle(
                "views.open", {"trigger_id": payload["trigger_id"], "view": MODAL}, TOKEN
            )
            assert reply.body["ok"], reply.body
        if payload["type"] == "view_submission":
            values = payload["view"]["state"]["values"]
            errors = {}
            if not (values["note"]["value"]["value"] or "").strip():
                errors["note"] = "Add a note."
            if values["reason"]["value"]["selected_option"] is None:
                errors["reason"] = "Pick one."
            if errors:
                return JSONResponse({"response_action": "errors", "errors": errors})
        return Response()


@dataclass
class Setup:
    emulator: Emulator
    bot: FakeBot
    controls: FakeControls
    ui: httpx.AsyncClient

    async def post_card(self, channel: str = "C0BILLING", **extra: Any) -> str:
        reply = await self.emulator.handle(
            "chat.postMessage", {"channel": channel, "text": "Review needed", "blocks": CARD, **extra}, TOKEN
        )
        assert reply.body["ok"], reply.body
        return reply.body["ts"]

    async def state(self, user: str = "U0REV") -> dict[str, Any]:
        response = await self.ui.get("/ui/state", params={"user": user})
        assert response.status_code == 200, response.text
        return response.json()

    async def post(self, path: str, body: dict[str, Any], status: int = 200) -> dict[str, Any]:
        response = await self.ui.post(path, json=body)
        assert response.status_code == status, response.text
        return response.json()


@pytest.fixture
async def setup() -> Any:
    emulator = Emulator(strict_triggers=True)
    for channel in CHANNELS:
        emulator.workspace.add_channel(channel["id"], channel["name"])
    bot = FakeBot(emulator)
    controls = FakeControls()
    transport = httpx.ASGITransport(bot.app())
    routes = create_ui_routes(
        emulator,
        sender_factory=lambda: SlackRequestSender("http://bot.test", SECRET, emulator, transport=transport),
        controls=controls,
    )
    app = create_webapi_app(emulator, extra_routes=routes)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://127.0.0.1:8765") as ui:
        yield Setup(emulator, bot, controls, ui)
    emulator.assert_no_rejections()


def test_controls_protocol_is_satisfied_by_the_fake() -> None:
    controls: DevControls = FakeControls()
    assert controls.users()[0]["id"] == "U0REV"


async def test_page_and_assets_are_served_with_a_strict_policy(setup: Setup) -> None:
    page = await setup.ui.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert '<script src="/static/app.js"' in page.text
    for asset, kind in (("app.js", "javascript"), ("app.css", "css")):
        response = await setup.ui.get(f"/static/{asset}")
        assert response.status_code == 200 and kind in response.headers["content-type"]
    assert "innerHTML" not in (await setup.ui.get("/static/app.js")).text
    # The Web API is still there beside the page.
    assert (await setup.ui.post("/api/auth.test", headers={"Authorization": f"Bearer {TOKEN}"})).json()["ok"] is True


async def test_state_shape(setup: Setup) -> None:
    first = await setup.post_card()
    second = await setup.post_card()
    reply = await setup.emulator.handle(
        "chat.postMessage", {"channel": "C0BILLING", "text": "⏰ reminder", "thread_ts": first}, TOKEN
    )
    broadcast = await setup.emulator.handle(
        "chat.postMessage",
        {"channel": "C0BILLING", "text": "re-page", "thread_ts": first, "reply_broadcast": True},
        TOKEN,
    )
    await setup.emulator.handle(
        "chat.update", {"channel": "C0BILLING", "ts": second, "text": "Decided", "blocks": CARD[:2]}, TOKEN
    )
    await setup.emulator.handle(
        "chat.postEphemeral", {"channel": "C0BILLING", "user": "U0REV", "text": "only Rita"}, TOKEN
    )
    await setup.emulator.handle(
        "chat.postEphemeral", {"channel": "C0BILLING", "user": "U0OUTSIDER", "text": "only the outsider"}, TOKEN
    )
    await setup.emulator.handle(
        "chat.postEphemeral", {"channel": "C0BILLING", "user": "U0REV", "text": "in thread", "thread_ts": first}, TOKEN
    )
    await setup.post_card(channel="C0STRAY")
    third = await setup.post_card()
    await setup.emulator.handle(
        "chat.postEphemeral",
        {"channel": "C0BILLING", "user": "U0REV", "text": "alone in a thread", "thread_ts": third},
        TOKEN,
    )
    await setup.emulator.handle(
        "chat.postEphemeral",
        {"channel": "C0BILLING", "user": "U0REV", "text": "on a reply", "thread_ts": reply.body["ts"]},
        TOKEN,
    )

    state = await setup.state("U0REV")
    assert state["user"] == USERS[0] and state["users"] == USERS
    assert state["now"] == "2026-11-21T09:00:00+00:00" and state["now_epoch"] == setup.controls.clock.timestamp()
    assert [c["id"] for c in state["channels"]] == ["C0BILLING", "C0OPS", "C0STRAY"]
    billing, ops, stray = state["channels"]
    assert (billing["name"], billing["purpose"], billing["kind"]) == ("billing-review", "billing tier 1", "channel")
    assert ops["messages"] == [] and stray["kind"] == "other"
    timeline = billing["messages"]
    assert [m["ts"] for m in timeline] == sorted((m["ts"] for m in timeline), key=float)  # oldest first
    assert [(m["text"], m.get("ephemeral", False), m.get("broadcast", False)) for m in timeline] == [
        ("Review needed", False, False),
        ("Decided", False, False),
        ("re-page", False, True),
        ("only Rita", True, False),
        ("Review needed", False, False),
    ]
    card = timeline[0]
    assert card["blocks"][0]["type"] == "header" and card["bot"] is True and card["user_name"] == "hitl"
    assert [r["text"] for r in card["replies"]] == ["⏰ reminder", "re-page", "in thread", "on a reply"]
    assert card["reply_count"] == 2 and card["replies"][2]["ephemeral"] is True
    assert [r["text"] for r in timeline[-1]["replies"]] == ["alone in a thread"] and timeline[-1]["reply_count"] == 0
    assert card["replies"][0]["ts"] == reply.body["ts"] and timeline[2]["ts"] == broadcast.body["ts"]
    assert (card["edited"], timeline[1]["edited"]) == (False, True)
    assert state["modals"] == []
    assert (
        state["names"]["users"]["U0REV"] == "Rita Reviewer"
        and state["names"]["channels"]["C0BILLING"] == "billing-review"
    )

    outsider = await setup.state("U0OUTSIDER")
    assert [m["text"] for m in outsider["channels"][0]["messages"] if m.get("ephemeral")] == ["only the outsider"]
    # The version names the content: unchanged state answers in a few bytes.
    again = await setup.ui.get("/ui/state", params={"user": "U0REV", "since": state["version"]})
    assert again.json() == {"version": state["version"], "unchanged": True}
    assert ui_state(setup.emulator, setup.controls, "U0REV")["version"] == state["version"]
    await setup.post_card()
    assert (await setup.state())["version"] != state["version"]


async def test_click_is_forwarded_signed_like_slack(setup: Setup) -> None:
    ts = await setup.post_card()
    answer = await setup.post(
        "/ui/click",
        {
            "user": "U0REV",
            "channel": "C0BILLING",
            "ts": ts,
            "action_id": "approve",
            "block_id": "acts",
            "value": "case-1",
        },
    )
    assert answer == {"ok": True, "status": 200}
    [payload] = setup.bot.requests
    assert payload["type"] == "block_actions"
    assert payload["user"] == {"id": "U0REV", "username": "Rita Reviewer", "name": "Rita Reviewer", "team_id": "T0HITL"}
    assert payload["container"] == {
        "type": "message",
        "message_ts": ts,
        "channel_id": "C0BILLING",
        "is_ephemeral": False,
    }
    assert payload["actions"][0]["action_id"] == "approve" and payload["actions"][0]["value"] == "case-1"
    assert payload["message"]["ts"] == ts and payload["trigger_id"]
    # A button that is not on the message cannot be clicked.
    refused = await setup.post(
        "/ui/click", {"user": "U0REV", "channel": "C0BILLING", "ts": ts, "action_id": "nope"}, status=409
    )
    assert refused["error"] == "not_possible" and "nope" in refused["message"]
    assert len(setup.bot.requests) == 1


async def test_modal_opens_shows_errors_under_inputs_and_submits(setup: Setup) -> None:
    ts = await setup.post_card()
    await setup.post(
        "/ui/click",
        {
            "user": "U0REV",
            "channel": "C0BILLING",
            "ts": ts,
            "action_id": "open_modal",
            "block_id": "acts",
            "value": "case-1",
        },
    )
    [modal] = (await setup.state())["modals"]
    assert modal["view"]["title"]["text"] == "Reject draft" and modal["errors"] == {}
    assert "private_metadata" not in modal["view"]
    assert (await setup.state("U0OUTSIDER"))["modals"] == []
    view_id = modal["id"]
    # Someone else cannot submit Rita's modal through the page.
    await setup.post("/ui/submit", {"user": "U0OUTSIDER", "view_id": view_id, "values": {}}, status=409)

    answer = await setup.post(
        "/ui/submit",
        {
            "user": "U0REV",
            "view_id": view_id,
            "values": {"reason": "hallucination", "note": None, "amount": "12.5", "checks": ["1"]},
        },
    )
    assert (
        answer["response_action"] == "errors" and answer["errors"] == {"note": "Add a note."} and answer["open"] is True
    )
    [modal] = (await setup.state())["modals"]
    assert modal["errors"] == {"note": "Add a note."}
    values = setup.bot.requests[-1]["view"]["state"]["values"]
    assert values["reason"]["value"]["selected_option"]["value"] == "hallucination"
    assert values["note"]["value"] == {"type": "plain_text_input", "value": None}
    assert values["amount"]["value"] == {"type": "number_input", "value": "12.5"}
    assert [o["value"] for o in values["checks"]["value"]["selected_options"]] == ["1"]

    answer = await setup.post(
        "/ui/submit", {"user": "U0REV", "view_id": view_id, "values": {"reason": "other", "note": "Wrong invoice"}}
    )
    assert answer["ok"] is True and answer["open"] is False and "response_action" not in answer
    assert (await setup.state())["modals"] == []
    await setup.post("/ui/submit", {"user": "U0REV", "view_id": view_id, "values": {}}, status=409)  # closed now


async def test_closing_a_modal_tells_the_bot_when_it_asked(setup: Setup) -> None:
    ts = await setup.post_card()
    await setup.post(
        "/ui/click", {"user": "U0REV", "channel": "C0BILLING", "ts": ts, "action_id": "open_modal", "value": "case-1"}
    )
    [modal] = (await setup.state())["modals"]
    await setup.post("/ui/close", {"user": "U0REV", "view_id": modal["id"]})
    assert setup.bot.requests[-1]["type"] == "view_closed"
    assert (await setup.state())["modals"] == []


async def test_slash_command_answer_becomes_an_ephemeral_for_that_user(setup: Setup) -> None:
    answer = await setup.post("/ui/command", {"user": "U0REV", "channel": "C0OPS", "text": "/hitl status"})
    assert answer["ok"] is True and answer["body"]["response_type"] == "ephemeral"
    command = setup.bot.requests[-1]
    assert (command["command"], command["text"], command["user_id"], command["channel_id"]) == (
        "/hitl",
        "status",
        "U0REV",
        "C0OPS",
    )
    [shown] = (await setup.state("U0REV"))["channels"][1]["messages"]
    assert shown["ephemeral"] is True and shown["ts"] == answer["ts"]
    assert shown["blocks"][0]["text"]["text"] == "*status* for <@U0REV>: status"
    assert (await setup.state("U0OUTSIDER"))["channels"][1]["messages"] == []
    # Dismissing it removes it, for its owner only.
    await setup.post("/ui/dismiss", {"user": "U0OUTSIDER", "channel": "C0OPS", "ts": shown["ts"]}, status=404)
    await setup.post("/ui/dismiss", {"user": "U0REV", "channel": "C0OPS", "ts": shown["ts"]})
    assert (await setup.state("U0REV"))["channels"][1]["messages"] == []


async def test_slash_command_variants(setup: Setup) -> None:
    await setup.post("/ui/command", {"user": "U0REV", "channel": "C0OPS", "text": "public"})
    [message] = (await setup.state("U0OUTSIDER"))["channels"][1]["messages"]
    assert message["text"] == "said out loud" and "ephemeral" not in message
    # A bare ack shows nothing; the bot answered with a modal instead.
    await setup.post("/ui/command", {"user": "U0REV", "channel": "C0OPS", "text": "modal"})
    state = await setup.state("U0REV")
    assert len(state["channels"][1]["messages"]) == 1 and state["modals"][0]["view"]["callback_id"] == "reject"
    setup.bot.command_status = 500
    answer = await setup.post("/ui/command", {"user": "U0REV", "channel": "C0OPS", "text": "status"})
    assert answer["ok"] is False and answer["status"] == 500
    failure = (await setup.state("U0REV"))["channels"][1]["messages"][-1]
    assert failure["ephemeral"] and 'failed with the error "dispatch_failed"' in failure["text"]


async def test_clock_endpoint_calls_the_controls(setup: Setup) -> None:
    answer = await setup.post("/ui/clock", {"seconds": 3600})
    assert setup.controls.advanced == [3600.0]
    assert answer["now"] == "2026-11-21T10:00:00+00:00"
    assert (await setup.state())["now"] == "2026-11-21T10:00:00+00:00"
    for bad in (0, -5, "1h", None, True, 10**12):
        await setup.post("/ui/clock", {"seconds": bad}, status=400)
    assert setup.controls.advanced == [3600.0]


async def test_routes_refuse_cross_site_and_non_loopback_requests(setup: Setup) -> None:
    ts = await setup.post_card()
    click = {"user": "U0REV", "channel": "C0BILLING", "ts": ts, "action_id": "approve", "value": "case-1"}
    # A cross-site form post cannot send JSON without a preflight.
    form = await setup.ui.post("/ui/click", content=json.dumps(click), headers={"Content-Type": "text/plain"})
    assert form.status_code == 415
    evil = await setup.ui.post("/ui/click", json=click, headers={"Origin": "http://evil.example"})
    assert evil.status_code == 403 and evil.json()["error"] == "forbidden_origin"
    rebound = await setup.ui.get("/ui/state", headers={"Host": "evil.example"})
    assert rebound.status_code == 403
    assert (await setup.ui.get("/", headers={"Host": "evil.example:8765"})).status_code == 403
    same = await setup.ui.post("/ui/click", json=click, headers={"Origin": "http://127.0.0.1:8765"})
    assert same.status_code == 200
    assert len(setup.bot.requests) == 1
    assert (await setup.ui.post("/ui/click", json={"user": "U0REV"})).status_code == 400


async def test_bot_down_is_a_clear_error(setup: Setup) -> None:
    ts = await setup.post_card()
    routes = create_ui_routes(
        setup.emulator,
        sender_factory=lambda: SlackRequestSender("http://127.0.0.1:9", SECRET, setup.emulator, timeout=2),
        controls=setup.controls,
    )
    app = create_webapi_app(setup.emulator, extra_routes=routes)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://127.0.0.1") as ui:
        response = await ui.post(
            "/ui/click",
            json={"user": "U0REV", "channel": "C0BILLING", "ts": ts, "action_id": "approve", "value": "case-1"},
        )
    assert response.status_code == 502 and response.json()["error"] == "bot_unreachable"
