"""The daily digest: figures from SQL aggregates over a window in the digest's time zone, compared with the
7 days before; posted once per day and scope (claimed in `digest_runs`), with a chart in the thread."""

from __future__ import annotations

import base64
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError

from blocks.digest import build_digest
from bot.clock import Clock
from bot.domain.outbox import Digest
from bot.outbox import Wake
from bot.policy import DigestSettings, Policy
from bot.services.chart import DayFigures, render_chart
from bot.services.delivery.slack_out import NOTICE_EVENT_TYPE, SlackOut
from store import digest as q
from store import outbox
from store.audit import Anchor, chain_head
from store.db import Database
from store.models import DigestRun

log = logging.getLogger(__name__)

COUNT_KEYS = ("received", "decided", "approved", "edited", "rejected", "pending", "sla_breaches")
CHART_DAYS = 14


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime
    timezone: str

    @property
    def prior_start(self) -> datetime:
        return self.start - timedelta(days=7)


def scheduled_window(settings: DigestSettings, now: datetime) -> Window:
    """The latest complete digest window: from `at` the day before to `at` today, in the digest's time zone.

    Built from local dates, so across a DST change the window is the 23 or 25 hours of that local day.
    """
    zone = settings.zone
    today = now.astimezone(zone).date()
    end = _at(today, settings, zone)
    if end > now:
        today -= timedelta(days=1)
        end = _at(today, settings, zone)
    return Window(_at(today - timedelta(days=1), settings, zone), end, settings.timezone)


def _at(day: date, settings: DigestSettings, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, settings.time_of_day, tzinfo=zone).astimezone(ZoneInfo("UTC"))


def rate(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


def digest_title(queue: str | None) -> str:
    return f"hitl digest · {queue}" if queue else "hitl digest"


class Digests:
    """The daily digest: figures, posting once per scope and day, and the catch-up at start."""

    def __init__(self, db: Database, clock: Clock, policy: Policy, wake: Wake) -> None:
        self.db = db
        self.clock = clock
        self.policy = policy
        self.wake = wake

    async def compute_figures(
        self, window: Window, *, queue: str | None = None, trend_threshold: float = 0.5
    ) -> dict[str, Any]:
        start, end = window.start, window.end
        async with self.db.read() as session:
            received = await q.received(session, start, end, queue)
            prior = await q.received(session, window.prior_start, start, queue)
            outcomes = await q.outcomes(session, start, end, queue)
            pending = await q.pending_now(session, queue)
            late = await q.late_decisions(session, start, end, queue)
            breaches = await q.breaches(session, start, end, queue)
            edit_ratio = await q.mean_edit_ratio(session, start, end, queue)
            names = sorted(
                {
                    *(query.name for query in self.policy.queues if queue in (None, query.name)),
                    *received,
                    *outcomes,
                    *pending,
                }
            )
            percentiles = {
                name: (
                    await q.decision_time_percentile(session, start, end, 0.5, name),
                    await q.decision_time_percentile(session, start, end, 0.9, name),
                )
                for name in names
            }
            overall = (
                await q.decision_time_percentile(session, start, end, 0.5, queue),
                await q.decision_time_percentile(session, start, end, 0.9, queue),
            )
            head = await chain_head(session)
            extras = {
                # The trail's head, posted to Slack with the digest: a later `hitl audit verify --slack` finds any
                # deletion of the newest rows (which the hash chain alone cannot show).
                "audit_anchor": str(head) if head else None,
                "top_reasons": [{"reason": r, "count": n} for r, n in await q.top_reasons(session, start, end, queue)],
                "top_rejection_categories": [
                    {"category": r, "count": n} for r, n in await q.top_rejections(session, start, end, queue)
                ],
                "oldest_pending": [
                    {
                        "case_id": c.case_id,
                        "queue": c.queue,
                        "tier": c.tier,
                        "received_at": c.created_at.isoformat(),
                        "link": link,
                    }
                    for c, link in await q.oldest_pending(session, queue)
                ],
                "reviewer_load": [
                    {"slack_user_id": u, "name": name, "decisions": n}
                    for u, name, n in await q.reviewer_load(session, start, end, queue)
                ],
                "killswitch": [
                    {
                        "action": e.action,
                        "scope": e.details.get("scope"),
                        "mode": e.details.get("mode"),
                        "reason": e.details.get("reason"),
                        "by": e.actor_id,
                        "at": e.at.isoformat(),
                    }
                    for e in await q.killswitch_events(session, start, end)
                ],
            }
        window_days = (end - start).total_seconds() / 86400

        def figures(name: str | None) -> dict[str, Any]:
            pick: Callable[[dict[str, int]], int] = (lambda d: d.get(name, 0)) if name else (lambda d: sum(d.values()))
            by_outcome = (
                outcomes.get(name, {})
                if name
                else {k: sum(o.get(k, 0) for o in outcomes.values()) for k in ("approved", "edited", "rejected")}
            )
            decided = sum(by_outcome.values())
            edited = by_outcome.get("edited", 0)
            if name:
                mean_edit = edit_ratio.get(name)
            else:
                weights = {n: outcomes.get(n, {}).get("edited", 0) for n in edit_ratio}
                mean_edit = (
                    round(sum(edit_ratio[n] * w for n, w in weights.items()) / sum(weights.values()), 4)
                    if sum(weights.values())
                    else None
                )
            prior_per_window = pick(prior) / 7 * window_days
            change = (pick(received) - prior_per_window) / prior_per_window if prior_per_window else None
            median, p90 = percentiles[name] if name else overall
            return {
                "received": pick(received),
                "decided": decided,
                "approved": by_outcome.get("approved", 0),
                "edited": edited,
                "rejected": by_outcome.get("rejected", 0),
                "pending": pick(pending),
                "sla_breaches": pick(breaches),
                "sla_miss_rate": rate(pick(late), decided),
                "median_time_to_decision_s": median,
                "p90_time_to_decision_s": p90,
                "draft_acceptance_rate": rate(by_outcome.get("approved", 0), decided),
                "mean_edit_distance": round(mean_edit, 4) if mean_edit is not None else None,
                "escalation_trend": {
                    "prior_7d_average": round(prior_per_window, 3),
                    "change": round(change, 4) if change is not None else None,
                    "flagged": change is not None and abs(change) > trend_threshold,
                },
            }

        return {
            "window": {
                "start": start.isoformat(),
                "end": end.isoformat(),
                "timezone": window.timezone,
                "compared_with": {"start": window.prior_start.isoformat(), "end": start.isoformat()},
            },
            "queues": {name: figures(name) for name in names},
            "totals": figures(None),
            **extras,
        }

    async def chart_days(self, window: Window, queue: str | None) -> list[DayFigures]:
        zone = ZoneInfo(window.timezone)
        last = window.end.astimezone(zone).date()
        days = []
        async with self.db.read() as session:
            for offset in range(CHART_DAYS, 0, -1):
                day = last - timedelta(days=offset)
                start = datetime.combine(day, datetime.min.time(), tzinfo=zone)
                end = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=zone)
                by_queue = await q.outcomes(session, start, end, queue)
                totals = {k: sum(o.get(k, 0) for o in by_queue.values()) for k in ("approved", "edited", "rejected")}
                days.append(
                    DayFigures(
                        day,
                        totals["approved"],
                        totals["edited"],
                        totals["rejected"],
                        sum((await q.breaches(session, start, end, queue)).values()),
                    )
                )
        return days

    def recent_window(self, since: timedelta) -> Window:
        """On demand: the last `since`, compared with the 7 days before it."""
        now = self.clock.now()
        return Window(now - since, now, self.policy.digest.timezone if self.policy.digest else "UTC")

    async def render_digest(
        self, window: Window, queue: str | None, trend_threshold: float = 0.5
    ) -> tuple[dict[str, Any], str, list[dict[str, Any]]]:
        figures = await self.compute_figures(window, queue=queue, trend_threshold=trend_threshold)
        text, blocks = build_digest(figures, title=digest_title(queue), now=self.clock.now())
        return figures, text, blocks

    async def post_digest(
        self,
        window: Window,
        channel: str,
        *,
        queue: str | None,
        key: str,
        trend_threshold: float = 0.5,
        claim: bool = True,
    ) -> bool:
        """Queue a digest post (and its chart) for `channel`.

        With `claim`, only the first process to claim `key` posts."""
        figures, text, blocks = await self.render_digest(window, queue, trend_threshold)
        chart = render_chart(await self.chart_days(window, queue), title=f"Decisions per day ({queue or 'all queues'})")
        try:
            async with self.db.write.begin() as session:
                if claim:
                    session.add(
                        DigestRun(
                            key=key,
                            channel=channel,
                            window_start=window.start,
                            window_end=window.end,
                            claimed_at=self.clock.now(),
                        )
                    )
                    await session.flush()
                post = Digest(
                    channel=channel,
                    text=text,
                    blocks=blocks,
                    key=key,
                    chart_png=base64.b64encode(chart).decode(),
                    audit_anchor=figures["audit_anchor"],
                )
                await outbox.enqueue(session, post, now=self.clock.now())
        except IntegrityError:
            log.info("digest %s already claimed by another process", key)
            return False
        self.wake(None)
        return True

    async def post_scheduled_digest(
        self, settings: DigestSettings, *, queue: str | None = None, now: datetime | None = None
    ) -> bool:
        """Claim today's digest for this scope and queue it for posting. False if another process already did."""
        window = scheduled_window(settings, now or self.clock.now())
        key = f"{'queue:' + queue if queue else 'all'}:{window.end.astimezone(settings.zone).date().isoformat()}"
        return await self.post_digest(
            window, settings.channel, queue=queue, key=key, trend_threshold=settings.trend_threshold
        )

    async def catch_up_missed_digests(self) -> int:
        """At start: post each digest whose time passed while no process was up, within its misfire grace, once."""
        posted = 0
        now = self.clock.now()
        for settings, queue in digest_configs(self.policy):
            window = scheduled_window(settings, now)
            if now - window.end <= settings.misfire_grace:
                posted += await self.post_scheduled_digest(settings, queue=queue, now=now)
        return posted


def digest_configs(policy: Policy) -> list[tuple[DigestSettings, str | None]]:
    """Every digest the policy posts: (its settings, its queue or None for all queues)."""
    configs: list[tuple[DigestSettings, str | None]] = [(policy.digest, None)] if policy.digest else []
    configs += [(queue.digest, queue.name) for queue in policy.queues if queue.digest]
    return configs


async def anchors_in_slack(out: SlackOut, *, pages: int = 10) -> list[Anchor]:
    """The audit anchors the digests posted (newest first, up to `pages` x 200 messages per digest channel)."""
    found: list[Anchor] = []
    for channel in sorted({settings.channel for settings, _ in digest_configs(out.policy)}):
        async for _ts, payload in out.posted_metadata(channel, NOTICE_EVENT_TYPE, pages=pages):
            if isinstance(anchor := payload.get("audit_anchor"), str):
                with contextlib.suppress(ValueError):
                    found.append(Anchor.parse(anchor))
    return found
