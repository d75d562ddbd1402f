"""Socket Mode: with SLACK_APP_TOKEN, Slack's requests arrive as envelopes on a WebSocket the app opened, and the
whole review loop works the same as over HTTP (the emulator speaks Slack's side of the protocol)."""

from __future__ import annotations

import asyncio

import pytest

from blocks.ids import ActionId, CallbackId
from bot.clock import ManualClock
from bot.config import ConfigError, load_settings
from slack_emulator import Emulator, SlackRequestSender
from slack_emulator.socket_mode import SocketModeTransport
from tests.support import serve_hitl
from tests.test_ops import text_of
from tests.test_review_loop import actions_of, card_text

APP_TOKEN = "xapp-1-A0HITL-1-socketmodetest"


async def test_the_review_loop_over_socket_mode(db_url: str, emulator: Emulator, clock: ManualClock) -> None:
    async with serve_hitl(db_url, emulator, clock, SLACK_APP_TOKEN=APP_TOKEN, SLACK_SIGNING_SECRET=None) as hitl:
        await asyncio.wait_for(emulator.socket_mode.connected.wait(), timeout=10)
        [opened] = emulator.calls_to("apps.connections.open")
        assert opened.ok
        # No signing secret: the HTTP endpoint for Slack is not there to be forged.
        assert (await hitl.api.post("/slack/events", content=b"payload=%7B%7D")).status_code == 404

        async with SlackRequestSender(
            hitl.url, "", emulator, transport=SocketModeTransport(emulator.socket_mode)
        ) as slack:
            await hitl.escalate()
            card = await hitl.card("case-1")
            assert (await slack.click("U0SME1", card.channel, card.ts, ActionId.APPROVE.value)).status_code == 200
            for _ in range(300):
                if emulator.calls_to("views.open"):
                    break
                await asyncio.sleep(0.01)
            [call] = emulator.calls_to("views.open")
            assert call.ok and call.response["view"]["callback_id"] == CallbackId.APPROVE.value

            # The submission's acknowledgement is the envelope's answer: none here, so the modal closes.
            response = await slack.submit_view(
                "U0SME1", call.response["view"]["id"], {"note": "Checked over the socket"}
            )
            assert response.status_code == 200 and response.content == b""
            card = await hitl.card("case-1")
            assert actions_of(card.blocks) == [] and "Approved* by <@U0SME1>" in card_text(card.blocks)
            status = await hitl.status("case-1")
            assert status["status"] == "approved" and status["decision"]["note"] == "Checked over the socket"

            # A slash command's answer travels back in the acknowledgement's payload.
            assert "kill" in text_of(await slack.slash_command("U0OPS1", "/hitl", "help"))


async def test_socket_mode_waits_for_slack_and_the_api_serves_meanwhile(
    db_url: str, emulator: Emulator, clock: ManualClock
) -> None:
    emulator.faults.fail("apps.connections.open", status=500, count=1)
    async with serve_hitl(db_url, emulator, clock, SLACK_APP_TOKEN=APP_TOKEN) as hitl:
        assert (await hitl.escalate()).status_code == 201
        await asyncio.wait_for(emulator.socket_mode.connected.wait(), timeout=15)
        assert [c.status_code for c in emulator.calls_to("apps.connections.open")][-1] == 200


def test_socket_mode_needs_an_app_level_token() -> None:
    base = {"SLACK_BOT_TOKEN": "xoxb-1", "HITL_API_TOKEN": "t", "_env_file": None}
    load_settings(**base, SLACK_APP_TOKEN=APP_TOKEN).require_serving()  # no signing secret needed
    with pytest.raises(ConfigError, match="xapp-"):
        load_settings(**base, SLACK_APP_TOKEN="xoxb-not-an-app-token").require_serving()
    with pytest.raises(ConfigError, match="SLACK_SIGNING_SECRET"):
        load_settings(**base).require_serving()


async def test_a_double_click_over_socket_mode_opens_one_modal(
    db_url: str, emulator: Emulator, clock: ManualClock
) -> None:
    async with serve_hitl(db_url, emulator, clock, SLACK_APP_TOKEN=APP_TOKEN) as hitl:
        await asyncio.wait_for(emulator.socket_mode.connected.wait(), timeout=10)
        async with SlackRequestSender(
            hitl.url, "", emulator, transport=SocketModeTransport(emulator.socket_mode)
        ) as slack:
            await hitl.escalate()
            card = await hitl.card("case-1")
            answers = await asyncio.gather(
                *(slack.click("U0SME1", card.channel, card.ts, ActionId.EDIT.value) for _ in range(2))
            )
            assert [a.status_code for a in answers] == [200, 200]  # both acknowledged within Slack's 3 s
            await asyncio.sleep(0.5)
            assert len(emulator.calls_to("views.open")) == 1
