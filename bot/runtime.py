"""Everything a running hitl needs, built once and handed to handlers and services (no module globals)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.clock import Clock, SystemClock
from bot.config import Settings
from bot.policy import Policy
from bot.services.reviewers import ReviewerDirectory
from bot.slack import create_slack_client
from store.db import create_engine, create_sessionmaker

if TYPE_CHECKING:
    from bot.outbox import OutboxWorker


@dataclass
class Runtime:
    settings: Settings
    policy: Policy
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    slack: AsyncWebClient
    reviewers: ReviewerDirectory
    clock: Clock = field(default_factory=SystemClock)
    outbox: "OutboxWorker | None" = None

    def wake_outbox(self) -> None:
        if self.outbox is not None:
            self.outbox.wake()

    async def close(self) -> None:
        await self.engine.dispose()


def build_runtime(settings: Settings, policy: Policy, clock: Clock | None = None) -> Runtime:
    from bot.outbox import OutboxWorker

    engine = create_engine(settings.database_url)
    slack = create_slack_client(settings)
    runtime = Runtime(
        settings=settings,
        policy=policy,
        engine=engine,
        sessions=create_sessionmaker(engine),
        slack=slack,
        reviewers=ReviewerDirectory(slack),
        clock=clock or SystemClock(),
    )
    runtime.outbox = OutboxWorker(runtime)
    return runtime
