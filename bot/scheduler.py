"""APScheduler wiring. Jobs only find work in the database; nothing lives only in scheduler memory."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

from bot.compose import Hitl
from bot.policy import DigestSettings
from bot.services.digest import digest_configs
from bot.services.replays import prune_request_keys
from bot.services.reviewers import all_groups
from store.db import DATABASE_BUSY

log = logging.getLogger(__name__)


def create_scheduler(hitl: Hitl) -> AsyncIOScheduler:
    # APScheduler logs every run at INFO: two lines a second for the kill-switch refresh alone. Its warnings
    # (a run missed, or skipped because the last one is still running) still show; our jobs log what they did.
    for name in ("apscheduler.scheduler", "apscheduler.executors.default"):
        logging.getLogger(name).setLevel(logging.WARNING)
    scheduler = AsyncIOScheduler(
        timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60}
    )

    async def refresh_user_groups() -> None:
        # Keeps group membership warm, so a click never waits on usergroups.users.list (trigger_id: 3 s).
        await hitl.directory.refresh(all_groups(hitl.policy))

    async def sweep_sla() -> None:
        began = time.perf_counter()
        try:
            moved = await hitl.sweep.run()
        except DATABASE_BUSY as exc:
            log.warning("SLA sweep postponed to the next interval, database busy: %s", type(exc).__name__)
            return
        log.log(
            logging.INFO if moved else logging.DEBUG,
            "SLA sweep: %d case(s) moved in %.3f s",
            moved,
            time.perf_counter() - began,
        )

    async def refresh_killswitches() -> None:
        # Keeps this process's copy in step with switches another replica set (seen within ~1 s).
        try:
            await hitl.board.refresh()
        except DATABASE_BUSY as exc:
            log.warning("kill switches not refreshed this second, database busy: %s", type(exc).__name__)

    async def prune_slack_request_keys() -> None:
        # Keys of Slack request bodies outlive Slack's signature window, then go, a small batch per transaction.
        try:
            pruned = await prune_request_keys(hitl.db, hitl.clock)
        except DATABASE_BUSY as exc:
            log.warning("old Slack request keys not pruned this minute, database busy: %s", type(exc).__name__)
            return
        log.debug("pruned %d old Slack request key(s)", pruned)

    for settings, queue in digest_configs(hitl.policy):

        async def post_digest(settings: DigestSettings = settings, queue: str | None = queue) -> None:
            await hitl.digests.post_scheduled_digest(settings, queue=queue)

        moment = settings.time_of_day
        trigger = CronTrigger(hour=moment.hour, minute=moment.minute, timezone=settings.timezone)
        scheduler.add_job(
            post_digest,
            trigger,
            id=f"digest:{queue or 'all'}",
            misfire_grace_time=int(settings.misfire_grace.total_seconds()),
        )

    scheduler.add_job(refresh_user_groups, "interval", minutes=5, id="refresh_user_groups")
    scheduler.add_job(refresh_killswitches, "interval", seconds=1, id="refresh_killswitches")
    scheduler.add_job(prune_slack_request_keys, "interval", minutes=1, id="prune_slack_request_keys")
    # First run at start: breaches that fell due while no process was up are paged right away, once.
    every = hitl.policy.scheduler.sweep_every.total_seconds()
    scheduler.add_job(sweep_sla, "interval", seconds=every, id="sweep_sla", next_run_time=datetime.now(UTC))
    return scheduler
