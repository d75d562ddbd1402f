"""The outbox: nothing lost, nothing twice, per-channel order, across crashes and competing workers."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import timedelta

from sqlalchemy import select, update

from bot.clock import ManualClock
from bot.domain.outbox import Announce, OutboxKind, OutboxMessage
from bot.outbox import AfterDelivery, Deliverer, Delivery, OutboxWorker
from store import outbox
from store.db import Database
from store.models import OutboxItem
from tests.support import Harness


def item(n: int, line: str) -> Announce:
    """A test item: `n` rides in the text, the ordering line is the channel."""
    return Announce(channel=line.removeprefix("channel:"), text=str(n), blocks=[], key=f"t{n}")


def number(message: OutboxMessage) -> int:
    assert isinstance(message, Announce)
    return int(message.text)


def worker_for(db_url: str, clock: ManualClock, deliver: Deliverer, *, poll_seconds: float = 0.2) -> OutboxWorker:
    return OutboxWorker(Database(db_url), clock, {OutboxKind.ANNOUNCE: Delivery(deliver)}, poll_seconds=poll_seconds)


async def test_card_that_reached_slack_before_a_crash_is_adopted_not_reposted(hitl: Harness) -> None:
    hitl.emulator.faults.fail("chat.postMessage", status=500, count=None)
    await hitl.escalate()
    await hitl.settle()
    # One of those attempts did reach Slack before the process died: the card is in the channel.
    landed = hitl.emulator.workspace.post_message(
        "C0BILLING",
        text="card",
        blocks=[],
        metadata={"event_type": "hitl_case", "event_payload": {"case_id": "case-1"}},
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
    delivered: list[tuple[str, int]] = []

    async def deliver(stored: OutboxItem, message: OutboxMessage) -> AfterDelivery | None:
        await asyncio.sleep(0.002)
        delivered.append((stored.ordering_key or "", number(message)))
        return None

    workers = [worker_for(db_url, clock, deliver) for _ in range(2)]
    async with workers[0].db.write.begin() as session:
        for n in range(60):
            await outbox.enqueue(session, item(n, f"channel:C{n % 3}"), now=clock.now())
        # A duplicate enqueue is a no-op.
        assert not await outbox.enqueue(session, item(0, "channel:C0"), now=clock.now())

    await asyncio.gather(*(worker.drain() for worker in workers))
    assert sorted(n for _, n in delivered) == list(range(60))
    by_key: dict[str, list[int]] = defaultdict(list)
    for key, n in delivered:
        by_key[key].append(n)
    assert all(ns == sorted(ns) for ns in by_key.values())
    async with workers[0].db.write() as session:
        rows = (await session.execute(select(OutboxItem))).scalars().all()
    assert all(r.delivered_at is not None and r.attempts == 1 for r in rows)
    for worker in workers:
        await worker.db.close()


async def test_failed_item_blocks_later_items_of_its_channel_only(db_url: str) -> None:
    clock = ManualClock()
    delivered: list[int] = []

    async def deliver(stored: OutboxItem, message: OutboxMessage) -> AfterDelivery | None:
        if number(message) == 0 and stored.attempts == 1:
            raise RuntimeError("slack down")
        delivered.append(number(message))
        return None

    worker = worker_for(db_url, clock, deliver)
    async with worker.db.write.begin() as session:
        for n, key in enumerate(["channel:A", "channel:A", "channel:B"]):
            await outbox.enqueue(session, item(n, key), now=clock.now())
    await worker.drain()
    assert delivered == [2]
    clock.advance(timedelta(minutes=6))
    await worker.drain()
    assert delivered == [2, 0, 1]
    async with worker.db.write() as session:
        first = (await session.execute(select(OutboxItem).where(OutboxItem.dedupe_key == "announce:t0"))).scalar_one()
    assert first.attempts == 2 and first.last_error is None
    await worker.db.close()


async def test_expired_lease_is_claimed_again(db_url: str) -> None:
    clock = ManualClock()
    db = Database(db_url)
    async with db.write.begin() as session:
        await outbox.enqueue(session, item(0, "channel:A"), now=clock.now())
        # A worker claimed it and died.
        await session.execute(
            update(OutboxItem).values(
                claimed_until=clock.now() + timedelta(seconds=120), claim_token="dead", attempts=1
            )
        )
    async with db.write.begin() as session:
        assert await outbox.claim_due(session, now=clock.now(), lease=timedelta(seconds=60), token="a", limit=10) == []
    clock.advance(timedelta(seconds=121))
    async with db.write.begin() as session:
        [claimed] = await outbox.claim_due(session, now=clock.now(), lease=timedelta(seconds=60), token="b", limit=10)
    assert claimed.attempts == 2 and claimed.claim_token == "b"
    await db.close()


async def test_an_enqueue_behind_a_delivery_in_flight_claims_nothing_until_it_ends(db_url: str) -> None:
    clock = ManualClock()
    release = asyncio.Event()
    delivered: list[int] = []
    claims = 0

    async def deliver(_stored: OutboxItem, message: OutboxMessage) -> AfterDelivery | None:
        if number(message) == 0:
            await release.wait()  # like a card waiting for its channel's pacer slot
        delivered.append(number(message))
        return None

    # A long poll, so only wake-ups can explain a prompt claim.
    worker = worker_for(db_url, clock, deliver, poll_seconds=30)
    real_claim = worker._claim

    async def counting_claim(limit: int):  # type: ignore[no-untyped-def]
        nonlocal claims
        claims += 1
        return await real_claim(limit)

    worker._claim = counting_claim  # type: ignore[method-assign]

    async def enqueue(n: int, key: str) -> None:
        async with worker.db.write.begin() as session:
            await outbox.enqueue(session, item(n, key), now=clock.now())
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
        await worker.db.close()


async def test_a_renewal_that_arrives_after_the_attempt_ended_holds_nothing(db_url: str) -> None:
    """The heartbeat copies the held leases, then writes; an attempt that failed in between must stay free for its
    retry (a renewed lease held it, and its line with it, for a whole lease)."""
    clock = ManualClock()
    db = Database(db_url)
    async with db.write.begin() as session:
        await outbox.enqueue(session, item(0, "channel:A"), now=clock.now())
        await outbox.enqueue(session, item(1, "channel:A"), now=clock.now())
    async with db.write.begin() as session:
        [claimed] = await outbox.claim_due(session, now=clock.now(), lease=timedelta(seconds=60), token="a", limit=10)
    held = {claimed.id: "a"}
    async with db.write.begin() as session:
        assert await outbox.mark_failed(
            session, claimed.id, "a", error="internal_error", retry_at=clock.now(), now=clock.now()
        )
    async with db.write.begin() as session:
        await outbox.renew_leases(session, held, until=clock.now() + timedelta(seconds=60))
    async with db.write.begin() as session:
        [again] = await outbox.claim_due(session, now=clock.now(), lease=timedelta(seconds=60), token="b", limit=10)
    assert again.id == claimed.id and again.attempts == 2
    await db.close()
