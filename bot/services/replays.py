"""Slack requests seen twice: the same signed body again within Slack's signature window is a replay, or Slack's
retry of a request already handled (or still in flight), and is dropped on whichever replica it reaches.

Each body's key (sha256) is a row of `slack_request_keys`, and each process also remembers the keys it saw:

- PostgreSQL (several replicas): the database decides. `INSERT … ON CONFLICT DO NOTHING` on the ack path: the
  first replica to insert a key processes the body, every other sighting anywhere is dropped.
- SQLite (one process by design): the process's memory decides, and the keys are written in batches off the ack
  path (as `viewed` audit rows are) and read back at start, so a restart forgets nothing but the last quarter
  second. A write on every click would queue each ack behind SQLite's one writer: a click must be answered (and
  its modal opened) even while another transaction holds the write lock.

When the database can't be reached on PostgreSQL the process's memory still drops what this process saw; the
request is not refused (the reviewer hears what happened, as with every click during an outage).

A request that was not processed (a 5xx, or Bolt refused it) has its key forgotten, so Slack's retry of it goes
through.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import OrderedDict
from datetime import datetime, timedelta

from bot.clock import Clock
from bot.services.write_behind import WriteBehind
from store import slack_requests
from store.db import DATABASE_BUSY, Database, create_unsynced_engine

log = logging.getLogger(__name__)

# slack_sdk's SignatureVerifier accepts a timestamp up to 5 minutes either side of our clock.
SIGNATURE_WINDOW = timedelta(minutes=5)
# A body signed 5 minutes ahead of our clock stays acceptable until 5 minutes after it: keep each key for twice
# the window, so no body is still acceptable once its key is gone.
KEEP_KEYS_FOR = 2 * SIGNATURE_WINDOW
PRUNE_BATCH = 500
# Keys a process remembers: 10 minutes of 160 requests/s (about 23 MB); past that the oldest go first.
MEMORY_KEYS = 100_000
WRITE_INTERVAL = 0.25
MAX_UNWRITTEN = 100_000


class RecentKeys:
    """A bounded, expiring set, in this process's memory."""

    def __init__(self, max_size: int = 20_000) -> None:
        self._expiry: OrderedDict[str, float] = OrderedDict()
        self._max = max_size

    def add_if_new(self, key: str, ttl: float) -> bool:
        now = time.monotonic()
        while self._expiry and (len(self._expiry) > self._max or next(iter(self._expiry.values())) < now):
            self._expiry.popitem(last=False)
        if self._expiry.get(key, 0.0) > now:
            return False
        self._expiry[key] = now + ttl
        self._expiry.move_to_end(key)
        return True

    def forget(self, key: str) -> None:
        self._expiry.pop(key, None)


def request_key(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


class SlackReplays:
    """First sightings of Slack request bodies: per process in memory, for every replica in the database."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock
        self.database_decides = not db.is_sqlite
        # Its own small pool: the check never waits behind listeners for a connection, is one round trip, and
        # does not wait for PostgreSQL's disk (a key lost in a crash of PostgreSQL is a replay window of a few
        # hundred milliseconds).
        self._keys = create_unsynced_engine(db.url) if self.database_decides else None
        self._seen = RecentKeys(MEMORY_KEYS)
        self._unwritten: dict[str, datetime] = {}  # SQLite: seen, not yet in the database
        self._unforgotten: set[str] = set()  # forgotten here, still to delete from the database
        self._writing = asyncio.Lock()
        # One transaction per interval however fast requests come: each waits its turn for SQLite's one writer.
        self._writer = WriteBehind(
            self.flush,
            lambda: len(self._unwritten) + len(self._unforgotten),
            interval=WRITE_INTERVAL,
            what="Slack request key(s)",
        )

    async def load(self) -> int:
        """SQLite: remember the keys the database holds from before a restart. How many were loaded."""
        if self.database_decides:
            return 0
        now = self.clock.now()
        async with self.db.read() as session:
            rows = await slack_requests.seen_since(session, now - KEEP_KEYS_FOR)
        for key, seen_at in rows:
            self._seen.add_if_new(key, (seen_at + KEEP_KEYS_FOR - now).total_seconds())
        return len(rows)

    async def first_sight(self, key: str) -> bool:
        """True for the first request with this body; False for every later one (on any replica on PostgreSQL)."""
        if not self._seen.add_if_new(key, KEEP_KEYS_FOR.total_seconds()):
            return False
        now = self.clock.now()
        if not self.database_decides:
            self._write_later(key, now)
            return True
        assert self._keys is not None
        try:
            async with self._keys.connect() as connection:
                first = await slack_requests.remember(connection, key, now)
        except (*DATABASE_BUSY, TimeoutError) as exc:
            log.warning(
                "Slack request checked for replays in this process only, the database is unavailable or slow: %s",
                type(exc).__name__,
            )
            return True
        if not first:
            # Another replica has it. Only what this process claimed stays in its memory: should that replica
            # fail and forget the key, Slack's retry must get through here too.
            self._seen.forget(key)
        return first

    async def forget(self, key: str) -> None:
        """The request was not processed: let Slack's retry of it through, here and on every replica."""
        self._seen.forget(key)
        if self._unwritten.pop(key, None) is not None:
            return  # never reached the database
        self._unforgotten.add(key)
        try:
            await self.flush()
        except DATABASE_BUSY as exc:
            # Likely why the request failed; Slack retries after a minute, then five.
            log.warning("a failed Slack request's key stays in the database for now (%s); retrying", type(exc).__name__)
            self._writer.schedule()

    def _write_later(self, key: str, seen_at: datetime) -> None:
        if len(self._unwritten) >= MAX_UNWRITTEN:
            # The database has been unwritable for a long while: this process's memory still has every key.
            self._unwritten.pop(next(iter(self._unwritten)))
            log.warning(
                "a Slack request key was not persisted: %d waiting while the database is unavailable", MAX_UNWRITTEN
            )
        self._unwritten[key] = seen_at
        self._writer.schedule()

    async def flush(self) -> None:
        """Write what waits, in one transaction: the keys not yet in the database, the deletions of forgotten ones."""
        async with self._writing:
            unwritten, self._unwritten = self._unwritten, {}
            unforgotten = sorted(self._unforgotten)
            if not unwritten and not unforgotten:
                return
            try:
                async with self.db.write.begin() as session:
                    await slack_requests.remember_many(session, unwritten)
                    await slack_requests.forget(session, unforgotten)
            except BaseException:
                self._unwritten = {**unwritten, **self._unwritten}
                raise
            self._unforgotten.difference_update(unforgotten)

    async def close(self) -> None:
        await self._writer.close()
        if self._keys is not None:
            await self._keys.dispose()


async def prune_request_keys(db: Database, clock: Clock, batch: int = PRUNE_BATCH) -> int:
    """Delete the keys older than KEEP_KEYS_FOR, `batch` rows per transaction so no lock is held for long."""
    before = clock.now() - KEEP_KEYS_FOR
    pruned = 0
    while True:
        async with db.write.begin() as session:
            deleted = await slack_requests.prune(session, before, batch)
        pruned += deleted
        if deleted < batch:
            return pruned
