"""Posts to one channel are spaced at the configured rate; channels do not wait for each other."""

from __future__ import annotations

import asyncio

from bot.slack import ChannelPacer


async def test_pacer_spaces_posts_per_channel() -> None:
    slept: list[tuple[str, float]] = []
    current = {"channel": ""}

    async def record(seconds: float) -> None:
        slept.append((current["channel"], round(seconds, 6)))

    pacer = ChannelPacer(4.0, clock=lambda: 100.0, sleep=record)  # the clock stands still: every wait queues up
    for channel in ("C1", "C1", "C1", "C2", "C1"):
        current["channel"] = channel
        async with pacer.slot(channel):
            pass
    assert slept == [("C1", 0.25), ("C1", 0.5), ("C1", 0.75)]


async def test_a_slow_post_pushes_the_next_slot_back() -> None:
    now = {"t": 0.0}
    slept: list[float] = []

    async def record(seconds: float) -> None:
        slept.append(round(seconds, 6))
        now["t"] += seconds

    pacer = ChannelPacer(5.0, clock=lambda: now["t"], sleep=record)
    async with pacer.slot("C1"):
        now["t"] += 0.15  # the request took 150 ms
    async with pacer.slot("C1"):
        pass
    # The gap is counted from when the first post finished (0.15 s), not from its slot (0 s).
    assert slept == [0.2]


async def test_concurrent_waiters_get_distinct_slots() -> None:
    slots: list[float] = []

    async def record(seconds: float) -> None:
        slots.append(seconds)

    pacer = ChannelPacer(10.0, clock=lambda: 5.0, sleep=record)

    async def post() -> None:
        async with pacer.slot("C1"):
            pass

    await asyncio.gather(*(post() for _ in range(5)))
    # Five concurrent posts: the first goes now, the others 0.1 s apart, none shares a slot.
    assert sorted(round(s, 6) for s in slots) == [0.1, 0.2, 0.3, 0.4]
