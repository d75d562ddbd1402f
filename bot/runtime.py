"""Everything a running hitl needs, built once and handed to handlers and services (no module globals)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import httpx
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.clock import Clock, SystemClock
from bot.config import Settings
from bot.identity import SlackIdentity
from bot.outbound import OutboundRules
from bot.outbound_http import webhook_client
from bot.policy import Policy
from bot.services.reviewers import ReviewerDirectory
from bot.services.waiting import DecisionWaiters
from bot.slack import ChannelPacer, create_slack_client
from store import cases as case_store
from store.db import create_engine, create_read_engine, create_sessionmaker

if TYPE_CHECKING:
    from bot.outbox import OutboxWorker
    from bot.services.review import ViewLog
    from bot.services.killswitch import KillSwitchBoard


@dataclass
class Runtime:
    settings: Settings
    policy: Policy
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    # Sessions that only read (lookups, listings, reports): on SQLite they never wait for the writer.
    read_engine: AsyncEngine
    reads: async_sessionmaker[AsyncSession]
    slack: AsyncWebClient
    reviewers: ReviewerDirectory
    pacer: ChannelPacer
    waiters: DecisionWaiters
    clock: Clock = field(default_factory=SystemClock)
    # Who the bot is in Slack (auth.test at start): requests from other workspaces are refused. None only in
    # runtimes that serve no Slack requests (CLI reports, tests of the outbox).
    identity: SlackIdentity | None = None
    outbox: "OutboxWorker | None" = None
    views: "ViewLog" = field(init=False)
    killswitches: "KillSwitchBoard" = field(default_factory=lambda: _board())
    # One pooled client for outbound webhooks; every connection is checked against the rules and pinned.
    # The default refuses every internal address; build_runtime passes the settings' rules.
    http: httpx.AsyncClient = field(default_factory=lambda: webhook_client(OutboundRules()))

    def wake_outbox(self, ordering_key: str | None = None) -> None:
        if self.outbox is not None:
            self.outbox.wake(ordering_key)

    async def close(self) -> None:
        await self.views.close()
        await self.http.aclose()
        await self.engine.dispose()
        if self.read_engine is not self.engine:
            await self.read_engine.dispose()


def _board() -> "KillSwitchBoard":
    from bot.services.killswitch import KillSwitchBoard

    return KillSwitchBoard()


def build_runtime(settings: Settings, policy: Policy, clock: Clock | None = None, *, identity: SlackIdentity | None = None) -> Runtime:
    from bot.outbox import OutboxWorker
    from bot.services.review import ViewLog

    busy_timeout = settings.sqlite_busy_timeout.total_seconds()
    engine = create_engine(settings.database_url, busy_timeout=busy_timeout)
    read_engine = create_read_engine(settings.database_url, engine, busy_timeout=busy_timeout)
    slack = create_slack_client(settings)
    clock = clock or SystemClock()
    reads = create_sessionmaker(read_engine)

    async def settled(case_ids: list[str]) -> list[str]:
        async with reads() as session:
            return await case_store.settled_among(session, case_ids)

    runtime = Runtime(
        settings=settings,
        policy=policy,
        engine=engine,
        sessions=create_sessionmaker(engine),
        read_engine=read_engine,
        reads=reads,
        slack=slack,
        # Membership ages on the runtime's clock, so a test (or `hitl dev`) can move time past the grace.
        reviewers=ReviewerDirectory(slack, clock=lambda: clock.now().timestamp()),
        pacer=ChannelPacer(settings.slack_channel_rate),
        waiters=DecisionWaiters(settled),
        clock=clock,
        identity=identity,
        http=webhook_client(settings.outbound_rules),
    )
    runtime.outbox = OutboxWorker(runtime)
    runtime.views = ViewLog(runtime)
    return runtime
