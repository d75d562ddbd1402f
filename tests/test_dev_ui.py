"""The dev page's routes (`slack_emulator/ui.py`) in front of the real hitl app: an Approve click and its modal
submitted through `/ui/*`, and a slash command's answer shown to the user who ran it. The routes themselves are
tested against a fake bot in slack_emulator/tests/test_ui.py."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import httpx

from blocks.ids import ActionId
from slack_emulator import SlackRequestSender, create_webapi_app
from slack_emulator.ui import create_ui_routes
from tests.support import Harness


class HarnessControls:
    def __init__(self, h: Harness) -> None:
        self.h = h

    def users(self) -> list[dict[str, Any]]:
        return [
            {"id": "U0SME1", "name": "Dana", "roles": ["billing tier 1 reviewer"]},
            {"id": "U0OUTSIDER", "name": "Outsider", "roles": []},
        ]

    def channels(self) -> list[dict[str, Any]]:
        return [
            {"id": "C0BILLING", "name": "billing-review", "purpose": "billing tier 1"},
            {"id": "C0OPS", "name": "hitl-ops", "purpose": "ops"},
        ]

    def now(self) -> datetime:
        return self.h.clock.now()

    async def advance(self, seconds: float) -> None:
        self.h.clock.advance(timedelta(seconds=seconds))


async def until(check: Any, timeout: float = 10.0) -> Any:
    for _ in range(int(timeout / 0.02)):
        result = await check()
        if result:
            return result
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met in time")


async def test_real_bot_approve_through_the_page_routes(hitl: Harness) -> None:
    routes = create_ui_routes(
        hitl.emulator,
        sender_factory=lambda: SlackRequestSender(hitl.url, hitl.slack.signing_secret, hitl.emulator),
        controls=HarnessControls(hitl),
    )
    app = create_webapi_app(hitl.emulator, extra_routes=routes)
    await hitl.escalate()
    card = await hitl.card("case-1")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://127.0.0.1") as ui:

        async def state(user: str = "U0SME1") -> dict[str, Any]:
            return (await ui.get("/ui/state", params={"user": user})).json()

        [shown] = (await state())["channels"][0]["messages"]
        assert shown["ts"] == card.ts and shown["blocks"] == card.blocks
        click = {
            "user": "U0SME1",
            "channel": "C0BILLING",
            "ts": card.ts,
            "action_id": ActionId.APPROVE.value,
            "value": card.blocks[-2]["elements"][0]["value"],
        }
        assert (await ui.post("/ui/click", json=click)).json()["ok"] is True
        modals = await until(lambda: _modals(state))
        assert modals[0]["view"]["title"]["text"] == "Approve draft"
        answer = (
            await ui.post(
                "/ui/submit", json={"user": "U0SME1", "view_id": modals[0]["id"], "values": {"note": "Checked"}}
            )
        ).json()
        assert answer["ok"] is True and answer["open"] is False
        decision = (await hitl.status("case-1"))["decision"]
        assert (
            decision["outcome"] == "approved"
            and decision["decided_by"]["name"] == "Dana"
            and decision["note"] == "Checked"
        )
        # The status command's answer shows up as an ephemeral for the outsider who ran it.
        assert (await ui.post("/ui/command", json={"user": "U0OUTSIDER", "channel": "C0OPS", "text": "status"})).json()[
            "ok"
        ] is True
        [status] = (await state("U0OUTSIDER"))["channels"][1]["messages"]
        assert status["ephemeral"] and status["blocks"][0]["text"]["text"] == "hitl status"
        assert (await state("U0SME1"))["channels"][1]["messages"] == []


async def _modals(state: Any) -> list[dict[str, Any]]:
    return (await state())["modals"]
