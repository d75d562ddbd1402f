"""The outbox: nothing lost, nothing twice, per-channel order, across crashes and competing workers."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import timedelta

from sqlalchemy import select, update

from bot.clock import ManualClock
from bot.runtime import build_runtime
from store import outbox
from store.models import OutboxItem
from tests.conftest import Harness, issue_policy, make_settings


async def test_card_that_reached_slack_before_a_crash_is_adopted_not_reposted(hitl: Harness) -> None:
    hitl.emulator.faults.fail("chat.postMessage", status=500, count=None)
    await hitl.escalate()
    await hitl.settle()
    # One of those attempts did reach Slack before the process died: the card is in the channel.
    landed = hitl.emulator.workspace.post_message(
        "C0BILLING", text="card", blocks=[], metadata={"event_type": "hitl_case", "event_payload": {"case_id": "case-1"}}
    )
    hitl.emulator.faults.clear()
    hitl.clock.advance(timedelta(minutes=10))
    await hitl.settle()
    status = await hitl.status("case-1")
    assert status["message_ts"] == landed.ts
    assert [c for c in hitl.emulator.calls_to("chat.postMessage") if c.ok] == []
    posted = next(e for e in status["timeline"] if e["action"] == "posted")
    assert "recovered" in posted["details"]


async def test_two_workers_never_deliver_an_item_twice_and_keep_order(db_url: str) -> None:
    clock = ManualClock()
    runtimes = [build_runtime(make_settings(db_url, "http://127.0.0.1:9/api/"), issue_policy(), clock) for _ in range(2)]
    delivered: list[tuple[str, int]] = []

    async def deliver(_rt, item: OutboxItem):  # type: ignore[no-untyped-def]
        await asyncio.sleep(0.002)
        delivered.append((item.ordering_key or "", item.payload["n"]))
        return None

    for rt in runtimes:
        assert rt.outbox is not None
        rt.outbox.register("test", deliver)
    async with runtimes[0].sessions.begin() as session:
        for n in range(60):
            await outbox.enqueue(session, kind="test", dedupe_key=f"t{n}", payload={"n": n}, ordering_key=f"channel:C{n % 3}", now=clock.now())
        # A duplicate enqueue is a no-op.
        assert not await outbox.enqueue(session, kind="test", dedupe_key="t0", payload={"n": 0}, now=clock.now())

    await asyncio.gather(*(rt.outbox.drain() for rt in runtimes))  # type: ignore[union-attr]
    assert sorted(n for _, n in delivered) == list(range(60))
    by_key: dict[str, list[int]] = defaultdict(list)
    for key, n in delivered:
        by_key[key].append(n)
    assert all(ns == sorted(ns) for ns in by_key.values())
    async with runtimes[0].sessions() as session:
        rows = (await session.execute(select(OutboxItem))).scalars().all()
    assert all(r.delivered_at is not None and r.attempts == 1 for r in rows)
    for rt in runtimes:
        await rt.close()


async def test_failed_item_blocks_later_items_of_its_channel_only(db_url: str) -> None:
    clock = ManualClock()
    rt = build_runtime(make_settings(db_url, "http://127.0.0.1:9/api/"), issue_policy(), clock)
    delivered: list[int] = []

    async def deliver(_rt, item: OutboxItem):  # type: ignore[no-untyped-def]
        if item.payload["n"] == 0 and item.attempts == 1:
            raise RuntimeError("slack down")
        delivered.append(item.payload["n"])
        return None

    assert rt.outbox is not None
    rt.outbox.register("test", deliver)
    async with rt.sessions.begin() as session:
        for n, key in enumerate(["channel:A", "channel:A", "channel:B"]):
            await outbox.enqueue(session, kind="test", dedupe_key=f"t{n}", payload={"n": n}, ordering_key=key, now=clock.now())
    await rt.outbox.drain()
    assert delivered == [2]
    clock.advance(timedelta(minutes=6))
    await rt.outbox.drain()
    assert delivered == [2, 0, 1]
    async with rt.sessions() as session:
        first = (await session.execute(select(OutboxItem).where(OutboxItem.dedupe_key == "t0"))).scalar_one()
    assert first.attempts == 2 and first.last_error is None
    await rt.close()


async def test_expired_lease_is_claimed_again(db_url: str) -> None:
    clock = ManualClock()
    rt = build_runtime(make_settings(db_url, "http://127.0.0.1:9/api/"), issue_policy(), clock)
    async with rt.sessions.begin() as session:
        await outbox.enqueue(session, kind="test", dedupe_key="t", payload={}, now=clock.now())
        # A worker claimed it and died.
        await session.execute(update(OutboxItem).values(claimed_until=clock.now() + timedelta(seconds=120), claim_token="dead", attempts=1))
    async with rt.sessions.begin() as session:
        assert await outbox.claim_due(session, now=clock.now(), lease=timedelta(seconds=60), token="a", limit=10) == []
    clock.advance(timedelta(seconds=121))
    async with rt.sessions.begin() as session:
        [item] = await outbox.claim_due(session, now=clock.now(), lease=timedelta(seconds=60), token="b", limit=10)
    assert item.attempts == 2 and item.claim_token == "b"
    await rt.close()


async def test_an_enqueue_behind_a_delivery_in_flight_claims_nothing_until_it_ends(db_url: str) -> None:
    clock = ManualClock()
    # A long poll, so only wake-ups can explain a prompt claim.
    rt = build_runtime(make_settings(db_url, "http://127.0.0.1:9/api/", HITL_OUTBOX_POLL_SECONDS=30), issue_policy(), clock)
    worker = rt.outbox
    assert worker is not None
    release = asyncio.Event()
    delivered: list[int] = []
    claims = 0

    async def deliver(_rt, item: OutboxItem):  # type: ignore[no-untyped-def]
        if item.payload["n"] == 0:
            await release.wait()  # like a card waiting for its channel's pacer slot
        delivered.append(item.payload["n"])
        return None

    real_claim = worker._claim

    async def counting_claim(limit: int):  # type: ignore[no-untyped-def]
        nonlocal claims
        claims += 1
        return await real_claim(limit)

    worker.register("test", deliver)
    worker._claim = counting_claim  # type: ignore[method-assign]

    async def enqueue(n: int, key: str) -> None:
        async with rt.sessions.begin() as session:
            await outbox.enqueue(session, kind="test", dedupe_key=f"t{n}", payload={"n": n}, ordering_key=key, now=clock.now())
        worker.wake(key)

    async def eventually(check) -> None:  # type: ignore[no-untyped-def]
        for _ in range(200):
            if check():
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"timed out: claims={claims} delivered={delivered}")

    worker.start()
    try:
        await eventually(lambda: claims == 1)  # the claim at start finds nothing
        await enqueue(0, "channel:A")
        await eventually(lambda: claims == 2)
        await enqueue(1, "channel:A")  # behind item 0, which is in flight: no claim
        await asyncio.sleep(0.2)
        assert claims == 2
        await enqueue(2, "channel:B")  # another channel: claimed and delivered at once
        await eventually(lambda: delivered == [2])
        release.set()  # item 0's end wakes the loop, which claims item 1
        await eventually(lambda: delivered == [2, 0, 1])
    finally:
        release.set()
        await worker.stop()
        await rt.close()
