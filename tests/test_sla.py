"""SLA clock and tiered paging, with time moved by the test clock instead of slept."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from blocks.ids import ActionId
from bot.clock import ManualClock
from bot.compose import build_hitl
from bot.server import create_asgi_app
from bot.startup import start_hitl
from slack_emulator import Message, serve_emulator
from slack_emulator.webapi import serve_asgi
from tests.support import Harness, issue_policy, make_emulator, make_settings
from tests.test_review_loop import actions_of, card_text, ephemerals_for, open_modal


async def sweep_at(h: Harness, delta: timedelta) -> None:
    h.clock.advance(delta)
    await h.rt.sweep.run()
    await h.settle()


def posts_to(h: Harness, channel: str) -> list:  # type: ignore[type-arg]
    return [c for c in h.emulator.calls_to("chat.postMessage") if c.ok and c.args["channel"] == channel]


async def test_reminder_at_three_quarters_is_posted_once_in_the_thread(hitl: Harness) -> None:
    await hitl.escalate()
    card = await hitl.card("case-1")
    await sweep_at(hitl, timedelta(hours=2, minutes=59))
    assert hitl.emulator.thread(card.channel, card.ts)[1:] == []
    await sweep_at(hitl, timedelta(minutes=1))
    replies = hitl.emulator.thread(card.channel, card.ts)[1:]
    assert len(replies) == 1
    assert (
        "Due in 1h 00m" in replies[0].text
        and "<@U0SME1>" in replies[0].text
        and "<!subteam^S0BILLING>" in replies[0].text
    )
    await sweep_at(hitl, timedelta(minutes=30))
    assert len(hitl.emulator.thread(card.channel, card.ts)) == 2
    assert [e["action"] for e in (await hitl.status("case-1"))["paging_history"]] == ["reminded"]


async def test_breach_pages_next_tier_with_a_reviewable_card(hitl: Harness) -> None:
    await hitl.escalate()
    card = await hitl.card("case-1")
    await sweep_at(hitl, timedelta(hours=4))
    [page] = posts_to(hitl, "C0BILLESC")
    page_text = json.dumps(page.args["blocks"])
    assert "<@U0SME2> please review" in page_text and "Escalated to tier 2 (Billing SME)" in page_text
    assert actions_of(page.args["blocks"]) == [
        ActionId.APPROVE.value,
        ActionId.EDIT.value,
        ActionId.REJECT.value,
        ActionId.CLAIM.value,
    ]
    status = await hitl.status("case-1")
    assert status["tier"] == 2
    assert [e["action"] for e in status["paging_history"]] == ["sla_breached", "paged"]
    paged = status["paging_history"][1]["details"]
    assert paged["tier"] == 2 and paged["targets"] == ["U0SME2"]
    # The original card says where it went, with the page's permalink, and a note is in its thread.
    original = card_text(next(m for m in hitl.emulator.messages("C0BILLING") if m.ts == card.ts).blocks)
    assert "Escalated after SLA breach to <https://" in original
    notes = hitl.emulator.thread(card.channel, card.ts)[1:]
    assert any("escalated to tier 2 (Billing SME)" in n.text for n in notes)
    # Tier 2's SME may now decide on the page; tier 1 keeps the right.
    page_ts = page.response["ts"]
    response = await hitl.slack.click("U0SME2", "C0BILLESC", page_ts, ActionId.APPROVE.value)
    assert response.status_code == 200
    await asyncio.sleep(0.05)
    view = hitl.emulator.calls_to("views.open")[-1].response["view"]
    await hitl.slack.submit_view("U0SME2", view["id"], {})
    await hitl.settle()
    assert (await hitl.status("case-1"))["decision"]["tier"] == 2
    # Both messages show the decision.
    for channel, ts in (("C0BILLING", card.ts), ("C0BILLESC", page_ts)):
        message = next(m for m in hitl.emulator.messages(channel) if m.ts == ts)
        assert "✅ Approved* by <@U0SME2>" in card_text(message.blocks)
        assert actions_of(message.blocks) == []


async def test_tier_one_keeps_the_right_to_decide_after_a_page(hitl: Harness) -> None:
    await hitl.escalate()
    await hitl.card("case-1")
    await sweep_at(hitl, timedelta(hours=4))
    view = await open_modal(hitl, "U0SME1", "case-1", ActionId.REJECT)
    await hitl.slack.submit_view("U0SME1", view["id"], {"reason": "other", "note": "n"})
    assert (await hitl.status("case-1"))["status"] == "rejected"


async def test_last_tier_repages_then_alerts_ops_once(hitl: Harness) -> None:
    await hitl.escalate()
    await hitl.card("case-1")
    await sweep_at(hitl, timedelta(hours=4))  # tier 1 breached: page tier 2 (sla 1h)
    page_ts = posts_to(hitl, "C0BILLESC")[0].response["ts"]
    await sweep_at(hitl, timedelta(hours=1))  # tier 2 breached: re-page 1
    for _ in range(2):
        await sweep_at(hitl, timedelta(minutes=30))  # re-pages 2 and 3
    repages = [m for m in hitl.emulator.thread("C0BILLESC", page_ts)[1:] if "re-page" in m.text]
    assert next(("re-page 1 of 3" in m.text, "re-page 3 of 3" in m.text) for m in repages) == (True, False)
    assert len(repages) == 3 and all("<@U0SME2>" in m.text for m in repages)
    assert hitl.emulator.calls_to("chat.postMessage")[-1].args.get("reply_broadcast") is True
    assert posts_to(hitl, "C0OPS") == []
    await sweep_at(hitl, timedelta(minutes=30))
    [alert] = posts_to(hitl, "C0OPS")
    assert "Unhandled review" in alert.args["text"] and "<@U0OPS1>" in alert.args["text"]
    for _ in range(3):
        await sweep_at(hitl, timedelta(hours=1))
    assert len(posts_to(hitl, "C0OPS")) == 1
    status = await hitl.status("case-1")
    assert status["unhandled_at"] and status["status"] == "pending"
    assert [e["action"] for e in status["paging_history"]] == [
        "sla_breached",
        "paged",
        "sla_breached",
        "repaged",
        "repaged",
        "repaged",
        "unhandled",
    ]
    # Still decidable, by the last tier.
    view = await open_modal(hitl, "U0SME2", "case-1", ActionId.APPROVE)
    await hitl.slack.submit_view("U0SME2", view["id"], {})
    assert (await hitl.status("case-1"))["status"] == "approved"


async def test_decision_cancels_pending_pages(hitl: Harness) -> None:
    await hitl.escalate()
    await hitl.card("case-1")
    hitl.emulator.faults.fail("chat.postMessage", status=500, count=None)
    await sweep_at(hitl, timedelta(hours=4))
    assert posts_to(hitl, "C0BILLESC") == []
    hitl.emulator.faults.clear()
    view = await open_modal(hitl, "U0SME1", "case-1", ActionId.APPROVE)
    await hitl.slack.submit_view("U0SME1", view["id"], {})
    hitl.clock.advance(timedelta(hours=1))
    await hitl.settle()
    await sweep_at(hitl, timedelta(hours=5))
    assert posts_to(hitl, "C0BILLESC") == []
    deliveries = {d["kind"]: d["state"] for d in (await hitl.status("case-1"))["deliveries"]}
    assert deliveries["page"] == "cancelled"


async def card_once(h: Harness, ts: str, shows: Callable[[str], bool], timeout: float = 5.0) -> Message:
    """The card as soon as it shows what the click should have made it show (the click's listener runs after
    its ack, so the card changes some milliseconds after the click's HTTP answer)."""
    deadline = time.monotonic() + timeout
    while True:
        await h.settle()
        message = next(m for m in h.emulator.messages("C0BILLING") if m.ts == ts)
        if shows(card_text(message.blocks)):
            return message
        if time.monotonic() > deadline:
            raise AssertionError(f"the card never showed it: {card_text(message.blocks)[:300]}")
        await asyncio.sleep(0.02)


async def test_claim_and_unclaim(hitl: Harness) -> None:
    await hitl.escalate()
    card = await hitl.card("case-1")
    await hitl.slack.click("U0BILL1", card.channel, card.ts, ActionId.CLAIM.value, user_name="dana")
    message = await card_once(hitl, card.ts, lambda text: "Claimed by <@U0BILL1>" in text)
    assert ActionId.UNCLAIM.value in actions_of(message.blocks)
    # Someone else can't take it or give it back.
    await hitl.slack.click("U0SME1", card.channel, card.ts, ActionId.UNCLAIM.value)
    [text] = await ephemerals_for(hitl, "U0SME1")
    assert "Only <@U0BILL1>" in text
    await hitl.slack.click("U0BILL1", card.channel, card.ts, ActionId.UNCLAIM.value)
    await card_once(hitl, card.ts, lambda text: "Claimed by" not in text)
    status = await hitl.status("case-1")
    assert [e["action"] for e in status["timeline"] if "claim" in e["action"]] == ["claimed", "unclaimed"]
    # Claiming does not stop the clock.
    await hitl.slack.click("U0BILL1", card.channel, card.ts, ActionId.CLAIM.value)
    await sweep_at(hitl, timedelta(hours=4))
    assert (await hitl.status("case-1"))["tier"] == 2


async def test_slack_failure_during_a_page_is_retried_without_duplicates(hitl: Harness) -> None:
    await hitl.escalate()
    await hitl.card("case-1")
    hitl.emulator.faults.rate_limit("chat.postMessage", retry_after=1, count=1)
    hitl.emulator.faults.fail("chat.postMessage", status=503, count=6)
    await sweep_at(hitl, timedelta(hours=4))
    hitl.clock.advance(timedelta(minutes=10))
    await hitl.settle()
    hitl.clock.advance(timedelta(minutes=10))
    await hitl.settle()
    assert len(posts_to(hitl, "C0BILLESC")) == 1
    paged = [e for e in (await hitl.status("case-1"))["timeline"] if e["action"] == "paged"]
    assert len(paged) == 1


async def test_restart_pages_a_breach_missed_while_down(db_url: str) -> None:
    emulator = make_emulator()
    clock = ManualClock(datetime.now(UTC).replace(microsecond=0))
    async with serve_emulator(emulator) as api_url:
        settings = make_settings(db_url, api_url)
        rt = await start_hitl(settings, issue_policy(), clock)
        async with serve_asgi(create_asgi_app(rt), lifespan="on") as url:
            import httpx

            from tests.support import API_TOKEN, escalation

            async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {API_TOKEN}"}) as api:
                assert (await api.post("/v1/escalations", json=escalation())).status_code == 201
            await rt.outbox.drain()  # type: ignore[union-attr]
        # The process is gone for 5 hours; tier 1's 4h SLA ran out meanwhile.
        clock.advance(timedelta(hours=5))
        rt2 = await start_hitl(settings, issue_policy(), clock)
        async with serve_asgi(create_asgi_app(rt2), lifespan="on"):
            for _ in range(300):
                if any(c.ok and c.args["channel"] == "C0BILLESC" for c in emulator.calls_to("chat.postMessage")):
                    break
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.2)
    pages = [c for c in emulator.calls_to("chat.postMessage") if c.ok and c.args["channel"] == "C0BILLESC"]
    assert len(pages) == 1


async def test_two_sweepers_page_each_of_200_cases_exactly_once(db_url: str) -> None:
    clock = ManualClock(datetime.now(UTC).replace(microsecond=0))
    settings = make_settings(db_url, "http://127.0.0.1:9/api/")
    runtimes = [build_hitl(settings, issue_policy(), clock) for _ in range(2)]
    from bot.domain.audit import SYSTEM
    from bot.domain.escalation import Escalation
    from tests.support import escalation

    for n in range(200):
        raw = escalation(f"case-{n}")
        await runtimes[0].ingest.receive(raw, Escalation.model_validate(raw), SYSTEM)
    clock.advance(timedelta(hours=4, seconds=1))
    moved = await asyncio.gather(*(rt.sweep.run(batch=25) for rt in runtimes))
    assert sum(moved) == 200
    from sqlalchemy import func, select

    from store.models import AuditEvent, Case, OutboxItem

    async with runtimes[0].db.write() as session:
        tiers = (await session.execute(select(Case.tier, func.count()).group_by(Case.tier))).all()
        pages = (
            await session.execute(select(func.count()).select_from(OutboxItem).where(OutboxItem.kind == "page"))
        ).scalar_one()
        breaches = (
            await session.execute(
                select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "sla_breached")
            )
        ).scalar_one()
    assert tiers == [(2, 200)] and pages == 200 and breaches == 200
    for rt in runtimes:
        await rt.close()
