"""The dev page in a real browser: Playwright drives Debian's Chromium against the real bot, the emulator and
the page's routes, all on loopback. Screenshots go to test-artifacts/.

Needs the `playwright` pip package (no `playwright install`: the browser is `/usr/bin/chromium`, from Debian's
`chromium` package); skipped with the reason when either is missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from bot.clock import ManualClock
from bot.compose import Hitl
from bot.server import create_asgi_app
from bot.startup import start_hitl
from slack_emulator import Emulator, SlackRequestSender, serve_emulator
from slack_emulator.ui import create_ui_routes
from slack_emulator.webapi import serve_asgi
from store.models import OutboxItem
from tests import dbs
from tests.support import API_TOKEN, SIGNING_SECRET, escalation, issue_policy, make_emulator, make_settings

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
BROWSER_TZ = "America/New_York"  # not the machine's: dates must follow the browser's zone

_missing = [
    why
    for why, absent in (
        (f"{CHROMIUM} is missing (apt-get install chromium)", not os.path.exists(CHROMIUM)),
        ("the playwright package is missing (pip install playwright)", importlib.util.find_spec("playwright") is None),
    )
    if absent
]
pytestmark = [pytest.mark.browser, pytest.mark.skipif(bool(_missing), reason="; ".join(_missing) or "ok")]

USERS = [
    {"id": "U0SME1", "name": "Dana Reyes", "roles": ["billing tier 1 reviewer"]},
    {"id": "U0BILL1", "name": "Bo Lindqvist", "roles": ["billing tier 1 reviewer (S0BILLING)"]},
    {"id": "U0SME2", "name": "Sam Okafor", "roles": ["billing tier 2 reviewer"]},
    {"id": "U0LAW1", "name": "Lee Marsh", "roles": ["legal tier 1 reviewer (S0LEGAL)"]},
    {"id": "U0OPS1", "name": "Ola Operator", "roles": ["operator"]},
    {"id": "U0OUTSIDER", "name": "Outsider", "roles": []},
]
CHANNELS = [
    {"id": "C0BILLING", "name": "billing-review", "purpose": "billing tier 1 · Support specialist"},
    {"id": "C0BILLESC", "name": "billing-escalation", "purpose": "billing tier 2 · Billing SME"},
    {"id": "C0LEGAL", "name": "legal-review", "purpose": "legal tier 1 · Legal reviewer"},
    {"id": "C0GENERAL", "name": "content-ops", "purpose": "general tier 1 · Content ops"},
    {"id": "C0OPS", "name": "hitl-ops", "purpose": "ops: announcements and unhandled alerts"},
]


class RuntimeControls:
    """DevControls over a test Hitl: what `hitl dev` does, with the ManualClock the tests use."""

    def __init__(self) -> None:
        self.rt: Hitl | None = None

    def users(self) -> list[dict[str, Any]]:
        return USERS

    def channels(self) -> list[dict[str, Any]]:
        return CHANNELS

    def now(self) -> datetime:
        assert self.rt is not None
        return self.rt.clock.now()

    async def advance(self, seconds: float) -> None:
        assert self.rt is not None and isinstance(self.rt.clock, ManualClock)
        self.rt.clock.advance(timedelta(seconds=seconds))
        for _ in range(20):  # a long jump can pass several SLA moments of one case
            moved = await self.rt.sweep.run()
            await settle(self.rt)
            if not moved:
                return


async def settle(rt: Hitl, timeout: float = 10.0) -> None:
    assert rt.outbox is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        await rt.outbox.drain()
        async with rt.db.write() as session:
            due = (
                await session.execute(
                    select(func.count())
                    .select_from(OutboxItem)
                    .where(
                        OutboxItem.delivered_at.is_(None),
                        OutboxItem.dead_at.is_(None),
                        OutboxItem.next_attempt_at <= rt.clock.now(),
                    )
                )
            ).scalar_one()
        if due == 0:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("outbox did not settle")


@dataclass
class Dev:
    rt: Hitl
    emulator: Emulator
    ui_url: str
    api: httpx.AsyncClient
    page: Any  # playwright.async_api.Page

    async def escalate(self, **overrides: Any) -> None:
        response = await self.api.post("/v1/escalations", json=escalation(**overrides))
        assert response.status_code == 201, response.text
        await settle(self.rt)

    async def shot(self, name: str, focus: Any = None) -> None:
        if focus is not None:  # bring a message's top into view first
            await focus.evaluate("n => n.scrollIntoView({block: 'start'})")
        ARTIFACTS.mkdir(exist_ok=True)
        await self.page.screenshot(path=str(ARTIFACTS / f"browser-{name}.png"))

    async def act_as(self, user_id: str) -> None:
        await self.page.select_option("[data-testid=user-select]", user_id)
        await self.page.wait_for_function(
            "id => window.hitlDev.state() && window.hitlDev.state().user.id === id", arg=user_id
        )

    async def open_channel(self, name: str) -> None:
        await self.page.locator(".channel-link", has_text=name).click()
        await self.page.wait_for_function(
            "n => document.getElementById('channel-title').textContent.includes(n)", arg=name
        )

    def card(self, text: str) -> Any:
        return self.page.locator("#messages .msg", has_text=text)

    def modal(self) -> Any:
        return self.page.locator(".modal")


@pytest.fixture
async def dev(sqlite_template_path: Path, tmp_path: Path) -> AsyncIterator[Dev]:
    from playwright.async_api import async_playwright

    clock = ManualClock(datetime.now(UTC).replace(microsecond=0))
    emulator = make_emulator()
    emulator.workspace.wall_clock = lambda: (
        clock.now().timestamp()
    )  # message ts follow the bot's clock, as in `hitl dev`
    for channel in CHANNELS:
        emulator.workspace.add_channel(channel["id"], channel["name"])
    for user in USERS:
        emulator.workspace.add_user(user["id"], name=user["name"].split()[0].lower(), real_name=user["name"])
    controls = RuntimeControls()
    bot: dict[str, str] = {}
    routes = create_ui_routes(
        emulator, sender_factory=lambda: SlackRequestSender(bot["url"], SIGNING_SECRET, emulator), controls=controls
    )
    db_url = dbs.fresh_sqlite(sqlite_template_path, tmp_path)
    async with serve_emulator(emulator, extra_routes=routes) as api_url:
        rt = await start_hitl(make_settings(db_url, api_url), issue_policy(), clock)
        controls.rt = rt
        async with serve_asgi(create_asgi_app(rt), lifespan="on") as bot_url:
            bot["url"] = bot_url
            async with httpx.AsyncClient(
                base_url=bot_url, headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=10
            ) as api:
                async with async_playwright() as pw:
                    browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
                    try:
                        context = await browser.new_context(
                            viewport={"width": 1440, "height": 900}, timezone_id=BROWSER_TZ, locale="en-US"
                        )
                        page = await context.new_page()
                        page.set_default_timeout(8000)
                        errors: list[str] = []
                        page.on("pageerror", lambda exc: errors.append(str(exc)))
                        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
                        yield Dev(rt, emulator, api_url.removesuffix("/api/"), api, page)
                        assert errors == [], errors
                    finally:
                        with contextlib.suppress(Exception):
                            await browser.close()
    emulator.assert_no_rejections()


async def open_page(dev: Dev, user: str = "U0SME1", channel: str = "C0BILLING") -> None:
    await dev.page.goto(f"{dev.ui_url}/?user={user}&channel={channel}")
    await dev.page.wait_for_selector(".channel-link")


async def test_seeded_cards_edit_in_modal_and_card_updates(dev: Dev) -> None:
    await dev.escalate(case_id="case-1")
    await dev.escalate(
        case_id="case-2",
        model_draft="Your plan renews on the 1st; no refund is due.",
        user_question="Why was I charged on the 1st?",
    )
    await open_page(dev, user="U0OUTSIDER")
    page = dev.page
    # The sidebar lists the policy's channels; the two cards are in #billing-review, rendered from Block Kit.
    assert await page.locator("#channel-list .channel-name").all_inner_texts() == [c["name"] for c in CHANNELS]
    await dev.card("case-1").wait_for()
    await dev.card("case-2").wait_for()
    card = dev.card("billing: case-1")
    assert await card.locator(".block-header").inner_text() == "Review needed · billing: case-1"
    assert await card.locator("button[data-action-id]").all_inner_texts() == ["Approve", "Edit", "Reject", "Claim"]
    assert await card.locator(".btn.primary").inner_text() == "Approve"
    assert await card.locator(".btn.danger").inner_text() == "Reject"
    await dev.shot("01-seeded-cards")

    await dev.act_as("U0SME1")
    assert "billing tier 1 reviewer" in await page.locator("#me").inner_text()
    await card.locator("button[data-action-id='hitl.edit']").click()
    modal = dev.modal()
    await modal.wait_for()
    assert await modal.locator(".modal-title").inner_text() == "Edit draft"
    draft = modal.locator(".input-block[data-block-id=draft_0] textarea")
    assert await draft.input_value() == escalation()["model_draft"]
    edited = "Yes. The double charge on invoice 1042 will be refunded ($49.00) within 5 days."
    await draft.fill(edited)
    await modal.locator(".input-block[data-block-id=note] textarea").fill("Refunds take 5 days")
    await dev.shot("02-edit-modal")
    await modal.locator(".modal-submit").click()
    await modal.wait_for(state="detached")
    await card.locator("text=Final answer (as edited)").wait_for()
    text = await card.inner_text()
    assert "Edited by @Dana Reyes" in text and "within 5 days" in text
    assert await card.locator("button[data-action-id]").count() == 0
    assert await card.locator(".edited").inner_text() == "(edited)"
    await dev.shot("03-card-edited", focus=card)
    status = (await dev.api.get("/v1/escalations/case-1")).json()
    assert status["status"] == "edited" and status["decision"]["decided_by"]["name"] == "Dana Reyes"


async def test_reject_with_missing_note_shows_inline_errors(dev: Dev) -> None:
    await dev.escalate()
    await open_page(dev, user="U0BILL1")
    page = dev.page
    card = dev.card("billing: case-1")
    await card.locator("button[data-action-id='hitl.reject']").click()
    modal = dev.modal()
    await modal.wait_for()
    # Nothing filled: the client refuses, as Slack's does, under each required input.
    await modal.locator(".modal-submit").click()
    errors = modal.locator(".input-block.has-error")
    assert await errors.evaluate_all("nodes => nodes.map(n => n.dataset.blockId)") == ["reason", "note"]
    await modal.locator(".input-block[data-block-id=reason] select").select_option("hallucination")
    # A note of blanks passes the client; the bot answers response_action=errors, shown under the note only.
    await modal.locator(".input-block[data-block-id=note] textarea").fill("   ")
    await modal.locator(".modal-submit").click()
    note_error = modal.locator(".input-block[data-block-id=note] .input-error")
    await page.wait_for_function(
        "() => (document.querySelector('.input-block[data-block-id=note] .input-error') || {})"
        ".textContent?.startsWith('Add a note')"
    )
    assert (await note_error.inner_text()).startswith("Add a note: what is wrong")
    assert await modal.locator(".input-block[data-block-id=reason] .input-error").is_hidden()
    assert await modal.locator(".input-block[data-block-id=reason] select").input_value() == "hallucination"
    await dev.shot("04-reject-inline-error")
    await modal.locator(".input-block[data-block-id=note] textarea").fill("Invoice 1042 was never charged twice")
    await modal.locator(".modal-submit").click()
    await modal.wait_for(state="detached")
    await card.locator("text=Reason:").wait_for()
    assert "Rejected by @Bo Lindqvist" in await card.inner_text()


async def test_outsider_sees_own_ephemeral_only(dev: Dev) -> None:
    await dev.escalate()
    await open_page(dev, user="U0OUTSIDER")
    card = dev.card("billing: case-1")
    await card.locator("button[data-action-id='hitl.approve']").click()
    ephemeral = dev.page.locator(".msg.ephemeral")
    await ephemeral.wait_for()
    assert "not a reviewer for billing tier 1" in await ephemeral.inner_text()
    assert "Only visible to you" in await ephemeral.inner_text()
    await dev.shot("05-outsider-ephemeral")
    await dev.act_as("U0SME1")
    assert await dev.page.locator(".msg.ephemeral").count() == 0
    await dev.act_as("U0OUTSIDER")
    await ephemeral.wait_for()
    await ephemeral.locator("text=Dismiss message").click()
    await ephemeral.wait_for(state="detached")


async def test_hitl_status_command_answers_ephemerally(dev: Dev) -> None:
    await dev.escalate()
    await open_page(dev, user="U0OPS1", channel="C0OPS")
    page = dev.page
    await page.fill("[data-testid=command-input]", "/hitl status")
    await page.press("[data-testid=command-input]", "Enter")
    answer = page.locator(".msg.ephemeral")
    await answer.wait_for()
    text = await answer.inner_text()
    assert "hitl status" in text and "Open cases: 1" in text and "Automation is running" in text
    assert await page.input_value("[data-testid=command-input]") == ""
    await dev.shot("06-hitl-status")
    # Not a command: refused on the page, nothing sent.
    await page.fill("[data-testid=command-input]", "hello")
    await page.press("[data-testid=command-input]", "Enter")
    assert "Only slash commands" in await page.locator("#composer-note").inner_text()


async def test_advancing_the_clock_past_the_sla_pages_the_next_tier(dev: Dev) -> None:
    await dev.escalate()
    await open_page(dev, user="U0SME2")
    page = dev.page
    card = dev.card("billing: case-1")
    await card.wait_for()
    before = await page.inner_text("[data-testid=clock-now]")
    # Due in 4h, shown in the browser's zone (New York), as Slack would for this viewer.
    deadline = dev.rt.clock.now() + timedelta(hours=4)
    local = deadline.astimezone(__import__("zoneinfo").ZoneInfo(BROWSER_TZ))
    shown = f"{local.strftime('%I:%M %p').lstrip('0')}"
    assert shown in await card.inner_text()
    # 3h in: the reminder (at 3/4 of the 4h SLA) lands in the card's thread.
    await page.fill("#clock-input", "3h")
    await page.press("#clock-input", "Enter")
    await card.locator(".replies-link", has_text="1 reply").wait_for()
    assert await page.inner_text("[data-testid=clock-now]") != before
    assert await page.locator(".channel-link[data-channel=C0BILLESC] .badge").count() == 0
    # +1h: tier 1's SLA is breached and the case is paged in tier 2's channel (a badge in the sidebar).
    await page.click("button[data-advance='3600']")
    escalation_link = page.locator(".channel-link[data-channel=C0BILLESC]")
    await escalation_link.locator(".badge").wait_for()
    await card.locator(".replies-link", has_text="2 replies").wait_for()
    await dev.shot("07-clock-advanced")
    await dev.open_channel("billing-escalation")
    paged = dev.card("billing: case-1")
    await paged.wait_for()
    assert "<@" not in await paged.inner_text()
    assert await paged.locator("button[data-action-id='hitl.approve']").count() == 1
    await dev.shot("08-paged-in-tier-2", focus=paged)
    # The original card's thread carries the reminder and the escalation note.
    await dev.open_channel("billing-review")
    await card.locator(".replies-link").click()
    thread = page.locator("[data-testid=thread]")
    await thread.locator("text=SLA breached").wait_for()
    assert "Due in 1h 00m" in await thread.inner_text()
    # Messages carry the bot's time (the workspace's wall clock follows it): the breach note is 4h after the card.
    stamps = await thread.locator(".msg .time").evaluate_all("nodes => nodes.map(n => n.closest('.msg').dataset.ts)")
    assert float(stamps[-1]) - float(stamps[0]) >= 4 * 3600
    await dev.shot("09-thread")
    # The note's permalink opens the page in #billing-escalation, inside the dev workspace; tier 2 decides there.
    await thread.locator("a", has_text="the page").click()
    await page.wait_for_function(
        "() => document.getElementById('channel-title').textContent.includes('billing-escalation')"
    )
    assert await page.locator("#thread").is_hidden()
    await paged.locator("button[data-action-id='hitl.approve']").click()
    await dev.modal().wait_for()
    await dev.modal().locator(".modal-submit").click()
    await dev.modal().wait_for(state="detached")
    await paged.locator("text=Approved").first.wait_for()


async def test_mrkdwn_is_rendered_as_nodes_never_html(dev: Dev) -> None:
    await open_page(dev)
    rendered = await asyncio.wait_for(
        dev.page.evaluate(
            """() => {
        const r = (t, v) => window.hitlDev.renderMrkdwn(t, {verbatim: v});
        const hostile = r('&lt;img src=x onerror=alert(1)&gt; <javascript:alert(1)|click> '
          + '\\u00010\\u0002 *b* _i_ ~s~ `c` &amp;amp;');
        const rich = r('*bold* _it_ ~gone~ `x<y` <https://example.com/a_b|label> <@U0SME1> '
          + '<!subteam^S0BILLING> <#C0OPS>\\n&gt; quoted\\n```pre *not bold*```');
        const date = r('<!date^1700000000^{date_short_pretty} at {time}|fallback>');
        const styledLink = r('<https://example.com|`case-9` *now*>').querySelector('a');
        return {
          hostileImgs: hostile.querySelectorAll('img, script').length,
          hostileLinks: Array.from(hostile.querySelectorAll('a')).map(a => a.getAttribute('href')),
          hostileText: hostile.textContent,
          strong: rich.querySelector('strong')?.textContent, em: rich.querySelector('em')?.textContent,
          s: rich.querySelector('s')?.textContent, code: rich.querySelector('code')?.textContent,
          link: [rich.querySelector('a[href^="https"]')?.textContent, rich.querySelector('a[href^="https"]')?.href],
          mentions: Array.from(rich.querySelectorAll('.mention')).map(m => m.textContent),
          quote: rich.querySelector('blockquote')?.textContent, pre: rich.querySelector('pre')?.textContent,
          date: date.textContent,
          styledLink: [styledLink.querySelector('code')?.textContent, styledLink.querySelector('strong')?.textContent],
        };
    }"""
        ),
        timeout=10,
    )
    assert rendered["hostileImgs"] == 0 and rendered["hostileLinks"] == []
    assert rendered["hostileText"].startswith("<img src=x onerror=alert(1)> click")
    assert "&amp;" in rendered["hostileText"] and "\ufffd" in rendered["hostileText"]
    assert (rendered["strong"], rendered["em"], rendered["s"], rendered["code"]) == ("bold", "it", "gone", "x<y")
    assert rendered["link"] == ["label", "https://example.com/a_b"]
    assert rendered["mentions"] == ["@Dana Reyes", "@S0BILLING", "#hitl-ops"]
    assert rendered["quote"] == "quoted" and rendered["pre"] == "pre *not bold*"
    assert rendered["styledLink"] == ["case-9", "now"]
    # 1700000000 is 2023-11-14 22:13:20 UTC, 17:13 in New York.
    assert re.fullmatch(r"Nov 14, 2023 at 5:13\sPM", rendered["date"]), rendered["date"]
