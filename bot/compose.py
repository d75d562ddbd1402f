"""The composition root: every part of a running hitl, built once, in dependency order, each given what it uses.

Nothing here is assigned after construction and nothing reaches for a part it was not handed: services get
their database, clock, policy and collaborators in their constructors; the outbox worker gets its deliveries;
handlers get the services through the Bolt context or the Starlette app state (bot/app.py, bot/server.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from slack_sdk.web.async_client import AsyncWebClient

from bot.clock import Clock, SystemClock
from bot.config import Settings
from bot.domain.outbox import OutboxKind
from bot.identity import SlackIdentity
from bot.outbound_http import Resolver, system_resolver, webhook_client
from bot.outbox import OutboxWorker
from bot.policy import Policy
from bot.services.access import Access
from bot.services.audit_log import AuditLog
from bot.services.delivery import dead_letter_hooks, slack_deliveries
from bot.services.delivery.slack_out import SlackOut
from bot.services.digest import Digests
from bot.services.ingest import Ingest
from bot.services.killswitch import KillSwitchBoard, KillSwitches
from bot.services.ops import OpsReports
from bot.services.replays import SlackReplays
from bot.services.review import Reviews
from bot.services.reviewers import ReviewerDirectory
from bot.services.sla_sweep import SlaSweep
from bot.services.status import CaseStatuses
from bot.services.views import ViewLog
from bot.services.waiting import DecisionWaiters
from bot.services.webhooks import WebhookDelivery
from bot.slack import ChannelPacer, create_slack_client
from store import cases as case_store
from store.db import Database


@dataclass(frozen=True)
class Hitl:
    """One running hitl: its settings and the parts built from them."""

    settings: Settings
    policy: Policy
    clock: Clock
    # Who the bot is in Slack (auth.test at start); None only where no Slack request is served (CLI reports).
    identity: SlackIdentity | None
    db: Database
    slack: AsyncWebClient
    slack_out: SlackOut
    http: httpx.AsyncClient
    directory: ReviewerDirectory
    board: KillSwitchBoard
    waiters: DecisionWaiters
    views: ViewLog
    outbox: OutboxWorker
    access: Access
    reviews: Reviews
    ingest: Ingest
    sweep: SlaSweep
    killswitches: KillSwitches
    ops: OpsReports
    statuses: CaseStatuses
    digests: Digests
    replays: SlackReplays

    async def close(self) -> None:
        await self.views.close()
        await self.replays.close()
        await self.http.aclose()
        await self.db.close()


def build_hitl(
    settings: Settings,
    policy: Policy,
    clock: Clock | None = None,
    *,
    identity: SlackIdentity | None = None,
    resolver: Resolver = system_resolver,
) -> Hitl:
    """`resolver`: how webhook hosts are looked up (tests give names their own addresses)."""
    clock = clock or SystemClock()
    db = Database(settings.database_url, busy_timeout=settings.sqlite_busy_timeout.total_seconds())
    slack = create_slack_client(settings)
    slack_out = SlackOut(db, clock, policy, slack, ChannelPacer(settings.slack_channel_rate))
    http = webhook_client(settings.outbound_rules, resolver)
    secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
    webhooks = WebhookDelivery(
        http,
        clock,
        secret=secret,
        rules=settings.outbound_rules,
        first_retry=settings.webhook_first_retry,
        give_up_after=settings.webhook_give_up_after,
    )
    deliveries = {**slack_deliveries(slack_out), OutboxKind.WEBHOOK: webhooks.delivery()}
    worker = OutboxWorker(
        db, clock, deliveries, dead_letter_hooks=dead_letter_hooks(slack_out), poll_seconds=settings.outbox_poll_seconds
    )
    wake = worker.wake

    async def settled(case_ids: list[str]) -> list[str]:
        async with db.read() as session:
            return await case_store.settled_among(session, case_ids)

    # Membership ages on the runtime's clock, so a test (or `hitl dev`) can move time past the grace.
    directory = ReviewerDirectory(slack, clock=lambda: clock.now().timestamp())
    board = KillSwitchBoard(db)
    waiters = DecisionWaiters(settled)
    views = ViewLog(db)
    audit = AuditLog(db, clock)
    access = Access(policy, directory, identity, audit)
    return Hitl(
        settings=settings,
        policy=policy,
        clock=clock,
        identity=identity,
        db=db,
        slack=slack,
        slack_out=slack_out,
        http=http,
        directory=directory,
        board=board,
        waiters=waiters,
        views=views,
        outbox=worker,
        access=access,
        reviews=Reviews(db, clock, policy, access, views, waiters, wake),
        ingest=Ingest(db, clock, policy, board, wake, signs_webhooks=bool(secret), outbound=settings.outbound_rules),
        sweep=SlaSweep(db, clock, policy, wake),
        killswitches=KillSwitches(db, clock, policy, board, wake),
        ops=OpsReports(db, clock, policy, board),
        statuses=CaseStatuses(db),
        digests=Digests(db, clock, policy, wake),
        replays=SlackReplays(db, clock),
    )
