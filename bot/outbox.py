"""The outbox worker: delivers queued outbound work after commit, with leases, retries and back-off.

Every replica runs one. Items are claimed in SQL (SKIP LOCKED on PostgreSQL, one writer at a time on SQLite),
so two workers never hold the same item; items sharing an ordering key go out one at a time, oldest first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

import aiohttp
import httpx
from slack_sdk.errors import SlackApiError, SlackClientError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.domain.outbox import OutboxKind, OutboxMessage, parse_message
from bot.slack import retry_after_seconds, slack_error_code
from store import outbox as store
from store.db import DATABASE_BUSY, Database
from store.models import OutboxItem

log = logging.getLogger(__name__)

# What to do in the transaction that marks the item delivered (store a ts, append an audit row…).
AfterDelivery = Callable[[AsyncSession], Awaitable[None]]
# Delivers one item, given as stored (attempts, dedupe key…) and as its typed message.
Deliverer = Callable[[OutboxItem, OutboxMessage], Awaitable[AfterDelivery | None]]
# What to do in the transaction that makes an item a dead letter (start a clock that waited on it, tell ops…).
OnDead = Callable[[AsyncSession, OutboxItem, str], Awaitable[None]]
# What services call after committing new outbox items: claim soon (given the items' ordering key).
Wake = Callable[[str | None], None]


@dataclass(frozen=True)
class Delivery:
    """How one kind of item goes out. `retry_base`: the first retry comes after between half of it and all of
    it, then doubles. `on_dead`: runs in the transaction that makes an item of this kind a dead letter."""

    deliver: Deliverer
    retry_base: float = 2.0
    on_dead: OnDead | None = None


# Slack's answers that no retry can change: the content, the channel or the token is refused.
PERMANENT_SLACK_ERRORS = frozenset(
    {
        "invalid_blocks",
        "invalid_blocks_format",
        "msg_too_long",
        "msg_blocks_too_long",
        "invalid_arguments",
        "invalid_metadata_format",
        "invalid_metadata_schema",
        "metadata_too_large",
        "too_many_attachments",
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "restricted_action",
        "restricted_action_read_only_channel",
        "restricted_action_thread_only_channel",
        "restricted_action_non_threadable_channel",
        "cannot_reply_to_message",
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "no_permission",
        "missing_scope",
        "ekm_access_denied",
        "team_access_not_granted",
    }
)
# Failing transiently at the head of its ordering line this many times (about a minute of back-off) releases
# the line: the items behind it go on, and it keeps being retried on its own.
LINE_WAIT_ATTEMPTS = 5
# A failure nobody classified (an unknown error code, a bug in a renderer) is retried this many times (about
# 1.5 hours) and then dead-lettered, instead of forever. Network errors, 5xx and 429 are never given up.
UNCLASSIFIED_ATTEMPTS = 20


class GiveUp(Exception):
    """Delivering this item can never succeed; stop retrying it (it becomes a dead letter)."""


class RetryLater(Exception):
    """Not deliverable yet (e.g. waiting on another item); try again after `seconds` without alarm."""

    def __init__(self, reason: str, seconds: float = 1.0) -> None:
        super().__init__(reason)
        self.seconds = seconds


def backoff(attempts: int, *, base: float = 2.0, cap: float = 300.0) -> float:
    """Exponential back-off with full jitter on the upper half: 2 s, 4 s, 8 s… capped at 5 minutes."""
    # The exponent is bounded: transient failures are retried forever, and 2.0 ** 1024 overflows a float.
    ceiling = min(cap, base * 2.0 ** min(max(attempts - 1, 0), 64))
    return random.uniform(ceiling / 2, ceiling)


class OutboxWorker:
    # Short, and renewed every few seconds while a delivery runs: a crashed worker's items come free quickly.
    lease = timedelta(seconds=20)
    heartbeat_seconds = 5.0
    batch = 32
    concurrency = 16

    def __init__(
        self,
        db: Database,
        clock: Clock,
        deliveries: Mapping[OutboxKind, Delivery],
        *,
        dead_letter_hooks: Sequence[OnDead] = (),
        poll_seconds: float = 1.0,
    ) -> None:
        self.db = db
        self.clock = clock
        self.deliveries = dict(deliveries)
        # Run for every dead letter, whatever its kind (they tell ops).
        self.dead_letter_hooks = tuple(dead_letter_hooks)
        self.poll_seconds = poll_seconds
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._slots = asyncio.Semaphore(self.concurrency)
        self._held: dict[int, str] = {}
        # Ordering keys of the items the background loop is delivering (a channel's card waiting for its pacer
        # slot); each delivery's end wakes the loop.
        self._busy_keys: Counter[str] = Counter()

    def _delivery(self, item: OutboxItem) -> Delivery | None:
        """How this item's kind goes out (None: a kind this version doesn't know, from a newer one)."""
        return self.deliveries.get(OutboxKind(item.kind)) if item.kind in OutboxKind._value2member_map_ else None

    def wake(self, ordering_key: str | None = None) -> None:
        """Claim again soon. Given the ordering key of what was just queued, not while this worker delivers an
        item of that key: the new item cannot be claimed before that one is done, and its end wakes the loop.
        (Otherwise every ingest ran the claim query while the pacer held each channel's card for its slot.)"""
        if ordering_key is not None and self._busy_keys[ordering_key]:
            return
        self._wake.set()

    def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="hitl-outbox")

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        """Keep up to `concurrency` deliveries in flight and claim again as soon as one finishes.

        A finished delivery wakes the loop, so the next item of the same ordering key (the next card or page
        in a channel) goes out right away instead of waiting for unrelated deliveries of the same batch.
        """
        poll = self.poll_seconds
        in_flight: set[asyncio.Task[None]] = set()
        heartbeat = asyncio.create_task(self._renew_leases(), name="hitl-outbox-heartbeat")
        while not self._stopping:
            self._wake.clear()
            free = self.concurrency - len(in_flight)
            if free > 0:
                try:
                    for task in await self._start_due(free):
                        in_flight.add(task)
                        task.add_done_callback(in_flight.discard)
                        task.add_done_callback(lambda _t: self._wake.set())
                except DATABASE_BUSY as exc:
                    log.warning("outbox claim postponed, database busy: %s", type(exc).__name__)
                except Exception:  # keep the loop alive whatever happens
                    log.exception("outbox claim failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=poll)
        await asyncio.gather(*in_flight, return_exceptions=True)
        heartbeat.cancel()
        await asyncio.gather(heartbeat, return_exceptions=True)

    async def _renew_leases(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_seconds)
            if not self._held:
                continue
            try:
                async with self.db.write.begin() as session:
                    await store.renew_leases(session, dict(self._held), until=self.clock.now() + self.lease)
            except Exception:  # a missed renewal only risks a second attempt, which adopts
                log.warning("could not renew outbox leases", exc_info=True)

    async def _claim(self, limit: int) -> tuple[list[OutboxItem], str]:
        token = uuid.uuid4().hex[:16]
        async with self.db.write.begin() as session:
            items = await store.claim_due(session, now=self.clock.now(), lease=self.lease, token=token, limit=limit)
        return items, token

    async def _start_due(self, limit: int) -> list[asyncio.Task[None]]:
        items, token = await self._claim(limit)
        return [self._start(item, token) for item in items]

    def _start(self, item: OutboxItem, token: str) -> asyncio.Task[None]:
        """Deliver in the background; its ordering key counts as busy until then (see `wake`)."""
        task = asyncio.create_task(self._deliver(item, token))
        key = item.ordering_key
        if key is not None:
            self._busy_keys[key] += 1
            task.add_done_callback(lambda _t: self._release(key))
        return task

    def _release(self, key: str) -> None:
        self._busy_keys[key] -= 1
        if not self._busy_keys[key]:
            del self._busy_keys[key]

    async def run_once(self) -> int:
        """Claim one batch of what is due and deliver it. Returns how many items were claimed."""
        items, token = await self._claim(self.batch)
        if items:
            await asyncio.gather(*(self._bounded(item, token) for item in items))
        return len(items)

    async def _bounded(self, item: OutboxItem, token: str) -> None:
        async with self._slots:
            await self._deliver(item, token)

    async def drain(self, max_passes: int = 1000) -> None:
        """Deliver until nothing is due (tests and the CLI; the server uses the background loop)."""
        for _ in range(max_passes):
            if not await self.run_once():
                return

    async def _deliver(self, item: OutboxItem, token: str) -> None:
        """Deliver the item, then the rest of its ordering line while the next one is due: each next item is
        claimed in the transaction that marks the previous one delivered, so a channel's backlog goes out at
        the pace Slack allows instead of one claim query and one wake-up per item."""
        next_item: OutboxItem | None = item
        while next_item is not None:
            current = next_item
            self._held[current.id] = token
            try:
                next_item = await self._deliver_held(current, token)
            finally:
                self._held.pop(current.id, None)

    async def _deliver_held(self, item: OutboxItem, token: str) -> OutboxItem | None:
        """Deliver one item; return the next item of its line, already claimed under `token`, if one is due."""
        delivery = self._delivery(item)
        try:
            if delivery is None:
                raise GiveUp(f"no delivery for kind {item.kind!r}")
            try:
                message = parse_message(item.kind, item.payload)
            except ValueError as exc:  # pydantic's ValidationError too: a payload this version can't read
                raise GiveUp(f"unreadable payload: {exc}") from None
            after = await delivery.deliver(item, message)
        except RetryLater as exc:
            await self._retry(item, token, str(exc), exc.seconds)
            return None
        except GiveUp as exc:
            await self._dead(item, token, f"given up: {exc}")
            return None
        except Exception as exc:  # noqa: BLE001 - classified below; nothing escapes the worker
            await self._failed(item, token, exc)
            return None
        now = self.clock.now()
        async with self.db.write.begin() as session:
            if await store.mark_delivered(session, item.id, token, now) and after is not None:
                await after(session)
            if item.ordering_key is None or self._stopping:
                return None
            return await store.claim_next_in_line(session, item.ordering_key, now=now, lease=self.lease, token=token)

    async def _failed(self, item: OutboxItem, token: str, exc: Exception) -> None:
        code = slack_error_code(exc)
        if code in PERMANENT_SLACK_ERRORS:
            await self._dead(item, token, f"refused by Slack: {code}")
            return
        if not is_transient(exc) and item.attempts >= UNCLASSIFIED_ATTEMPTS:
            log.error(
                "outbox %s %s failed %d times (%s: %s)",
                item.kind,
                item.dedupe_key,
                item.attempts,
                type(exc).__name__,
                exc,
                exc_info=exc,
            )
            await self._dead(item, token, f"gave up after {item.attempts} attempts: {code}")
            return
        delivery = self._delivery(item)
        wait = max(
            retry_after_seconds(exc) or 0.0, backoff(item.attempts, base=delivery.retry_base if delivery else 2.0)
        )
        log.warning(
            "outbox %s %s failed (attempt %d): %s; retry in %.1fs",
            item.kind,
            item.dedupe_key,
            item.attempts,
            code,
            wait,
            exc_info=not is_transient(exc),
        )
        await self._retry(item, token, code, wait, rate_limited=code == "ratelimited")

    async def _retry(
        self, item: OutboxItem, token: str, error: str, seconds: float, *, rate_limited: bool = False
    ) -> None:
        # A rate limit holds every item of the channel alike: letting the next one pass would only reorder them.
        release = (
            item.ordering_key is not None
            and item.line_released_at is None
            and item.attempts >= LINE_WAIT_ATTEMPTS
            and not rate_limited
        )
        if release:
            log.warning(
                "outbox %s %s keeps failing at the head of %s: the items behind it go on",
                item.kind,
                item.dedupe_key,
                item.ordering_key,
            )
        now = self.clock.now()
        async with self.db.write.begin() as session:
            await store.mark_failed(
                session,
                item.id,
                token,
                error=error,
                retry_at=now + timedelta(seconds=seconds),
                now=now,
                release_line=release,
            )

    async def _dead(self, item: OutboxItem, token: str, error: str) -> None:
        """A dead letter: never retried by itself, never in anyone's way; ops hear of it (`hitl outbox retry`)."""
        log.error("outbox %s %s is a dead letter: %s", item.kind, item.dedupe_key, error)
        async with self.db.write.begin() as session:
            if not await store.mark_failed(session, item.id, token, error=error, retry_at=None, now=self.clock.now()):
                return
            delivery = self._delivery(item)
            hooks = [delivery.on_dead] if delivery and delivery.on_dead else []
            for hook in [*hooks, *self.dead_letter_hooks]:
                await hook(session, item, error)


def is_transient(exc: BaseException) -> bool:
    """Failures that say nothing about the item: the network, Slack's or the receiver's 5xx and 429, a busy
    database. They are retried for as long as it takes."""
    if isinstance(
        exc,
        (
            *DATABASE_BUSY,
            OSError,
            asyncio.TimeoutError,
            TimeoutError,
            SlackClientError,
            aiohttp.ClientError,
            httpx.TransportError,
        ),
    ):
        return not isinstance(exc, SlackApiError) or _transient_slack_answer(exc)
    status = getattr(getattr(exc, "response", None), "status_code", None)
    return isinstance(status, int) and (status == 429 or status >= 500)


def _transient_slack_answer(exc: SlackApiError) -> bool:
    status = getattr(exc.response, "status_code", 200)
    return status == 429 or status >= 500 or slack_error_code(exc) in TRANSIENT_SLACK_ERRORS


# Slack's own words for "try again": answered with HTTP 200 and ok: false.
TRANSIENT_SLACK_ERRORS = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)
