"""One outbound item never stalls the others: cards Slack refuses become minimal cards or dead letters, a
failing head of line is passed after a bounded wait, and operators see and redrive dead letters."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import update

from blocks.ids import ActionId
from bot.cli import main
from bot.outbox import LINE_WAIT_ATTEMPTS
from store import outbox as outbox_store
from store.models import Case
from tests.support import Harness
from tests.test_review_loop import actions_of, card_text, open_modal

MINIMAL = "Content too large for Slack"
# Failures below are Slack's transient `internal_error` answered with HTTP 200: retried by the outbox, not inside
# slack-sdk's call (which sleeps in real time on a 5xx).


def _about(case_id: str, *, full_only: bool = False) -> Any:
    """Matches the Slack calls about this case (its case_id appears nowhere else) in its queue's channel, or
    only those of its full render (not the ops channel, where a dead letter is reported)."""

    def match(args: dict[str, Any]) -> bool:
        text = json.dumps(args)
        return args.get("channel") == "C0BILLING" and case_id in text and not (full_only and MINIMAL in text)

    return match


def _cards(h: Harness, channel: str) -> list[tuple[str, str]]:
    """(case_id, whether minimal) of the cards in a channel, in the order Slack holds them."""
    found = []
    for message in h.emulator.messages(channel):
        if (message.metadata or {}).get("event_type") == "hitl_case":
            found.append((message.metadata["event_payload"]["case_id"], MINIMAL in card_text(message.blocks)))
    return found


async def _three_cards(h: Harness) -> None:
    for case_id in ("good-1", "poison", "good-2"):
        assert (await h.escalate(case_id=case_id)).status_code == 201


async def test_a_card_slack_refuses_goes_out_minimal_and_the_others_keep_their_order(hitl: Harness) -> None:
    hitl.emulator.faults.refuse(
        "chat.postMessage", "msg_blocks_too_long", count=None, when=_about("poison", full_only=True)
    )
    await _three_cards(hitl)
    await hitl.settle()
    assert _cards(hitl, "C0BILLING") == [("good-1", False), ("poison", True), ("good-2", False)]
    minimal = next(
        m
        for m in hitl.emulator.messages("C0BILLING")
        if (m.metadata or {}).get("event_payload", {}).get("case_id") == "poison"
    )
    assert "GET /v1/escalations/poison" in card_text(minimal.blocks)
    assert actions_of(minimal.blocks) == [
        ActionId.APPROVE.value,
        ActionId.EDIT.value,
        ActionId.REJECT.value,
        ActionId.CLAIM.value,
    ]
    assert (await hitl.status("poison"))["message_ts"] == minimal.ts
    # The minimal card is a working card: a reviewer decides from it.
    view = await open_modal(hitl, "U0SME1", "poison", ActionId.APPROVE)
    await hitl.slack.submit_view("U0SME1", view["id"], {})
    await hitl.settle()
    assert (await hitl.status("poison"))["status"] == "approved"


async def test_a_card_even_the_minimal_form_cant_post_is_a_dead_letter_told_to_ops_once(hitl: Harness) -> None:
    hitl.emulator.faults.refuse("chat.postMessage", "invalid_blocks", count=None, when=_about("poison"))
    await _three_cards(hitl)
    await hitl.settle()
    assert _cards(hitl, "C0BILLING") == [("good-1", False), ("good-2", False)]
    status = await hitl.status("poison")
    [post] = [d for d in status["deliveries"] if d["kind"] == "post_card"]
    assert post["state"] == "failed" and post["last_error"] == "refused by Slack: invalid_blocks"
    [notice] = [m for m in hitl.emulator.messages("C0OPS") if "dead letter" in m.text]
    assert "poison" in notice.text and "hitl outbox retry" in notice.text


async def test_a_channel_slack_refuses_tells_ops_once_an_hour_and_other_channels_go_on(hitl: Harness) -> None:
    hitl.emulator.faults.refuse(
        "chat.postMessage", "not_in_channel", count=None, when=lambda a: a.get("channel") == "C0BILLING"
    )
    for n in range(3):
        await hitl.escalate(case_id=f"billing-{n}")
    await hitl.escalate(case_id="other", skill="shipping")
    await hitl.settle()
    assert _cards(hitl, "C0GENERAL") == [("other", False)]
    notices = [m for m in hitl.emulator.messages("C0OPS") if "dead letter" in m.text]
    assert len(notices) == 1 and "not_in_channel" in notices[0].text


async def test_a_head_of_line_that_keeps_failing_is_passed_after_a_bounded_wait(hitl: Harness) -> None:
    hitl.emulator.faults.refuse("chat.postMessage", "internal_error", count=None, when=_about("poison"))
    await _three_cards(hitl)
    await hitl.settle()
    assert _cards(hitl, "C0BILLING") == [("good-1", False)]
    for _ in range(LINE_WAIT_ATTEMPTS):
        hitl.clock.advance(timedelta(minutes=6))  # past any back-off (capped at 5 minutes)
        await hitl.settle()
    assert _cards(hitl, "C0BILLING") == [("good-1", False), ("good-2", False)]
    # Slack takes it again: the stray card arrives by itself.
    hitl.emulator.faults.clear()
    hitl.clock.advance(timedelta(minutes=6))
    await hitl.settle()
    assert _cards(hitl, "C0BILLING") == [("good-1", False), ("good-2", False), ("poison", False)]


async def test_a_decided_card_too_large_for_slack_is_updated_minimal_without_buttons(hitl: Harness) -> None:
    await hitl.escalate(case_id="poison")
    await hitl.settle()
    hitl.emulator.faults.refuse("chat.update", "msg_blocks_too_long", count=None, when=_about("poison", full_only=True))
    view = await open_modal(hitl, "U0SME1", "poison", ActionId.APPROVE)
    await hitl.slack.submit_view("U0SME1", view["id"], {})
    await hitl.settle()
    card = await hitl.card("poison")
    assert MINIMAL in card_text(card.blocks) and "Approved" in card_text(card.blocks)
    assert actions_of(card.blocks) == []


async def test_stored_data_the_card_cant_draw_still_reaches_reviewers(hitl: Harness) -> None:
    hitl.emulator.faults.refuse("chat.postMessage", "internal_error", count=None)
    await hitl.escalate(case_id="odd")
    await hitl.settle()
    async with hitl.rt.db.write.begin() as session:  # a row written by hand, or by a newer version
        await session.execute(
            update(Case).where(Case.case_id == "odd").values(payload={"case_id": "odd", "model_draft": 12})
        )
    hitl.emulator.faults.clear()
    hitl.clock.advance(timedelta(minutes=6))
    await hitl.settle()
    assert _cards(hitl, "C0BILLING") == [("odd", True)]


@pytest.fixture
def cli(hitl: Harness, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Any:
    monkeypatch.setenv("HITL_DATABASE_URL", hitl.rt.settings.database_url)

    async def run(*argv: str) -> tuple[int, str, str]:
        code = await asyncio.to_thread(main, list(argv))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


async def test_operators_list_retry_and_drop_dead_letters(hitl: Harness, cli: Any) -> None:
    refusal = hitl.emulator.faults.refuse("chat.postMessage", "is_archived", count=None, when=_about("poison"))
    await hitl.escalate(case_id="poison")
    await hitl.escalate(case_id="never", skill="shipping")
    await hitl.settle()
    code, out, _ = await cli("outbox", "list", "--dead")
    assert code == 0 and "poison" in out and "refused by Slack: is_archived" in out
    item_id = int(next(line for line in out.splitlines() if "post_card" in line).split()[0])
    # The channel is unarchived: redrive it.
    hitl.emulator.faults.rules.remove(refusal)
    code, out, _ = await cli("outbox", "retry", str(item_id))
    assert code == 0 and "pending" in out
    hitl.clock.advance(timedelta(minutes=1))  # the CLI stamps real time; the server here runs on the test clock
    await hitl.settle()
    assert _cards(hitl, "C0BILLING") == [("poison", False)]
    timeline = [e["action"] for e in (await hitl.status("poison"))["timeline"]]
    assert "outbox_retried" in timeline and timeline[-1] == "posted"
    # A delivered item can't be retried or dropped; the answer is one line.
    assert (await cli("outbox", "retry", str(item_id)))[0] == 2
    assert (await cli("outbox", "drop", "999999"))[0] == 2


async def test_an_operator_drops_a_stuck_item_and_the_line_moves_on(hitl: Harness, cli: Any) -> None:
    hitl.emulator.faults.refuse("chat.postMessage", "internal_error", count=None, when=_about("poison"))
    await _three_cards(hitl)
    await hitl.settle()
    code, out, _ = await cli("outbox", "list")
    poison_line = next(line for line in out.splitlines() if "poison" in line and "post_card" in line)
    code, out, _ = await cli("outbox", "drop", poison_line.split()[0])
    assert code == 0 and "dropped" in out
    await hitl.settle()
    assert _cards(hitl, "C0BILLING") == [("good-1", False), ("good-2", False)]
    [post] = [d for d in (await hitl.status("poison"))["deliveries"] if d["kind"] == "post_card"]
    assert post["state"] == "failed" and post["last_error"] == "dropped by an operator"


FATES = st.lists(st.sampled_from(["good", "too_large", "refused", "flaky"]), min_size=2, max_size=6)


async def _clear_outbox(h: Harness) -> None:
    """Gives up whatever an earlier example left open (one that failed, while hypothesis shrinks it), so each
    example's line starts empty."""
    async with h.rt.db.write() as session:
        for item in await outbox_store.list_items(session, dead=False, limit=1000):
            await outbox_store.drop_item(session, item.id, h.clock.now(), "left by an earlier example")


async def _deliver_until(h: Harness, done: Callable[[list[str]], bool], *, steps: int = 200) -> None:
    """Delivers what is due, then moves the test clock to the next retry, until `done(open dedupe keys)` (or
    `steps` retries)."""
    for _ in range(steps):
        await h.settle()
        async with h.rt.db.write() as session:
            waiting = await outbox_store.list_items(session, dead=False, limit=1000)
        if done([i.dedupe_key for i in waiting]) or not waiting:
            return
        h.clock.set(max(h.clock.now(), min(i.next_attempt_at for i in waiting)) + timedelta(seconds=1))


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(fates=FATES)
async def test_generated_mixes_of_poison_never_stall_or_reorder_the_good_cards(hitl: Harness, fates: list[str]) -> None:
    """Whatever mix of cards Slack refuses for their content, refuses for good, or fails on transiently: the
    good ones arrive in order, the too-large ones as minimal cards in their place, the refused ones never, and
    the flaky ones once Slack takes them again."""
    run = uuid.uuid4().hex[:6]
    ids = [f"{run}-{n}-{fate}" for n, fate in enumerate(fates)]
    # Every example starts at the same moment and stays within tier 1's SLA (4h): the cases of earlier examples
    # never breach, so no paging of theirs runs beside this one's.
    start = hitl.clock.now()
    await _clear_outbox(hitl)
    faults = hitl.emulator.faults
    added = []
    for case_id, fate in zip(ids, fates, strict=True):
        if fate == "too_large":
            added.append(
                faults.refuse(
                    "chat.postMessage", "msg_blocks_too_long", count=None, when=_about(case_id, full_only=True)
                )
            )
        elif fate == "refused":
            added.append(faults.refuse("chat.postMessage", "invalid_blocks", count=None, when=_about(case_id)))
        elif fate == "flaky":
            added.append(faults.refuse("chat.postMessage", "internal_error", count=None, when=_about(case_id)))
    try:
        for case_id in ids:
            assert (await hitl.escalate(case_id=case_id)).status_code == 201
        expected = [(c, f == "too_large") for c, f in zip(ids, fates, strict=True) if f in ("good", "too_large")]

        def posted() -> list[tuple[str, bool]]:
            return [c for c in _cards(hitl, "C0BILLING") if c[0].startswith(run)]

        # Each flaky card holds the line for LINE_WAIT_ATTEMPTS retries, one after the other, then lets it pass;
        # the others are delivered or dead letters by then.
        await _deliver_until(hitl, lambda keys: all(k.endswith("-flaky") for k in keys))
        assert posted() == expected
        for rule in added:
            faults.rules.remove(rule)
        added.clear()
        flaky = {(c, False) for c, f in zip(ids, fates, strict=True) if f == "flaky"}
        await _deliver_until(hitl, lambda keys: not keys)
        # Out of line by then: each goes out on its own retry, in no particular order among themselves.
        assert posted()[: len(expected)] == expected and set(posted()[len(expected) :]) == flaky
    finally:
        for rule in added:
            faults.rules.remove(rule)
        hitl.clock.set(start)
