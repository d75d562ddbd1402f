"""Under a backlog, a case's steps keep their order and their clocks: a tier's SLA starts when its page is
delivered, and no re-page, reminder or unhandled alert of a case reaches Slack before the step it follows."""

from __future__ import annotations

from datetime import datetime, timedelta

from tests.support import Harness
from tests.test_sla import sweep_at


def _to(channel: str) -> object:
    return lambda args: args.get("channel") == channel


def _slack_order(h: Harness, case_id: str) -> list[str]:
    """What reached Slack about a case, in order: card, page, reminder, re-page, alert (successful posts)."""
    order = []
    for call in h.emulator.calls_to("chat.postMessage"):
        if not call.ok or case_id not in str(call.args):
            continue
        marker = (call.args.get("metadata") or {}).get("event_payload", {})
        if "tier" in marker:
            order.append(f"page{marker['tier']}")
        elif "case_id" in marker:
            order.append("card")
        else:
            key = str(marker.get("key", ""))
            order.append(key.split(":")[0])
    return order


async def test_the_next_tiers_clock_starts_when_its_page_is_delivered(hitl: Harness) -> None:
    await hitl.escalate()
    await hitl.card("case-1")
    hitl.emulator.faults.refuse("chat.postMessage", "internal_error", count=None, when=_to("C0BILLESC"))
    await sweep_at(hitl, timedelta(hours=4))
    status = await hitl.status("case-1")
    assert status["tier"] == 2 and status["next_deadline"] is None  # nothing is due until the page is out
    await sweep_at(hitl, timedelta(minutes=30))
    assert [e["action"] for e in (await hitl.status("case-1"))["paging_history"]] == ["sla_breached"]
    hitl.emulator.faults.clear()
    hitl.clock.advance(timedelta(minutes=6))
    delivered = hitl.clock.now()
    await hitl.settle()
    status = await hitl.status("case-1")
    assert datetime.fromisoformat(status["tier_deadline"]) == delivered + timedelta(hours=1)
    paged = status["paging_history"][-1]
    assert paged["action"] == "paged" and paged["details"]["tier_deadline"] == status["tier_deadline"]
    # Its reminder comes at three quarters of the hour that began with the page, not of the one before.
    await sweep_at(hitl, timedelta(minutes=44))
    assert [e["action"] for e in (await hitl.status("case-1"))["paging_history"]][-1] == "paged"
    await sweep_at(hitl, timedelta(minutes=1))
    assert [e["action"] for e in (await hitl.status("case-1"))["paging_history"]][-1] == "reminded"


async def test_re_pages_and_the_unhandled_alert_never_overtake_the_page(hitl: Harness) -> None:
    await hitl.escalate()
    await hitl.card("case-1")
    hitl.emulator.faults.refuse("chat.postMessage", "internal_error", count=None, when=_to("C0BILLESC"))
    await sweep_at(hitl, timedelta(hours=4))
    for _ in range(6):  # hours pass while the page can't get out: nothing of tier 2 may go before it
        await sweep_at(hitl, timedelta(minutes=30))
    assert _slack_order(hitl, "case-1") == ["card"]
    hitl.emulator.faults.clear()
    hitl.clock.advance(timedelta(minutes=6))
    await hitl.settle()
    await sweep_at(hitl, timedelta(minutes=45))  # the tier-2 reminder
    await sweep_at(hitl, timedelta(minutes=15))  # tier 2 (the last) breaches: first re-page
    for _ in range(3):
        await sweep_at(hitl, timedelta(minutes=30))
    assert _slack_order(hitl, "case-1") == [
        "card",
        "page2",
        "note",
        "remind",
        "repage",
        "repage",
        "repage",
        "unhandled",
    ]


async def test_a_page_waits_for_the_card_it_follows(hitl: Harness) -> None:
    hitl.emulator.faults.refuse("chat.postMessage", "internal_error", count=None, when=_to("C0BILLING"))
    await hitl.escalate()
    await hitl.settle()
    hitl.clock.advance(timedelta(hours=4))
    await hitl.rt.sweep.run()
    hitl.clock.advance(timedelta(minutes=6))
    await hitl.settle()
    assert _slack_order(hitl, "case-1") == []
    hitl.emulator.faults.clear()
    for _ in range(3):
        hitl.clock.advance(timedelta(minutes=6))
        await hitl.settle()
    assert _slack_order(hitl, "case-1") == ["card", "page2", "note"]


async def test_a_page_slack_refuses_for_good_still_starts_the_clock_and_ops_hear_of_it(hitl: Harness) -> None:
    await hitl.escalate()
    await hitl.card("case-1")
    hitl.emulator.faults.refuse("chat.postMessage", "channel_not_found", count=None, when=_to("C0BILLESC"))
    await sweep_at(hitl, timedelta(hours=4))
    status = await hitl.status("case-1")
    assert [e["action"] for e in status["paging_history"]] == ["sla_breached"]
    assert "page_failed" in [e["action"] for e in status["timeline"]]
    assert status["next_deadline"] is not None  # the case goes on: re-pages and the alert will follow
    assert any("dead letter" in m.text and "C0BILLESC" in m.text for m in hitl.emulator.messages("C0OPS"))
