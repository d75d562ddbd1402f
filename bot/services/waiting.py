"""Long-polling for decisions: `GET /v1/escalations/{case_id}?wait=30s` answers as soon as the case is decided.

Waiters park on an in-process event per case. A decision made in this process wakes its waiters at once
(`notify`, called after the commit). Decisions made by another replica are found by one query a second for
all the cases anybody here waits on (`SELECT … WHERE case_id IN (…) AND decided`), never one query per waiter,
so a thousand idle waiters cost a thousand parked futures and one small query a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable

log = logging.getLogger(__name__)

# The longest a request may be held. Proxies and load balancers commonly cut idle requests at 60 s.
MAX_WAIT_SECONDS = 55.0
POLL_SECONDS = 1.0
_POLL_CHUNK = 500

# Given case ids, which of them are settled (decided, or unhandled past the last tier)?
SettledQuery = Callable[[list[str]], Awaitable[Iterable[str]]]


class DecisionWaiters:
    def __init__(self, settled: SettledQuery, *, poll_seconds: float = POLL_SECONDS) -> None:
        self._settled = settled
        self._poll_seconds = poll_seconds
        self._events: dict[str, asyncio.Event] = {}
        self._counts: dict[str, int] = {}
        self._task: asyncio.Task[None] | None = None

    @property
    def waiting(self) -> int:
        return sum(self._counts.values())

    @contextlib.asynccontextmanager
    async def watch(self, case_id: str) -> AsyncIterator[Callable[[float], Awaitable[bool]]]:
        """Watch a case from before its state is read, so a decision landing between the read and the wait is
        not missed. Yields `wait(seconds)`: park until settled (True) or the time is up (False)."""
        event = self._events.setdefault(case_id, asyncio.Event())
        self._counts[case_id] = self._counts.get(case_id, 0) + 1

        async def wait(seconds: float) -> bool:
            try:
                async with asyncio.timeout(min(seconds, MAX_WAIT_SECONDS)):
                    await event.wait()
                return True
            except TimeoutError:
                return False

        try:
            yield wait
        finally:
            self._counts[case_id] -= 1
            if not self._counts[case_id]:
                del self._counts[case_id]
                self._events.pop(case_id, None)

    def notify(self, case_id: str) -> None:
        """The case was settled (by this process, or found settled by the poll): wake its waiters."""
        event = self._events.get(case_id)
        if event is not None:
            event.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._poll(), name="hitl-decision-waiters")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for event in self._events.values():
            event.set()

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self._poll_seconds)
            waited = list(self._events)
            if not waited:
                continue
            try:
                for start in range(0, len(waited), _POLL_CHUNK):
                    for case_id in await self._settled(waited[start : start + _POLL_CHUNK]):
                        self.notify(case_id)
            except Exception as exc:  # noqa: BLE001 - a missed poll only delays a waiter; the next one retries
                log.warning("could not check waited cases: %s", type(exc).__name__)
