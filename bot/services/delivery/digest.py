"""The daily digest's post, and its chart as a reply in the post's thread."""

from __future__ import annotations

import base64

from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.outbox import Digest, DigestChart, OutboxMessage
from bot.outbox import AfterDelivery
from bot.services.delivery.slack_out import NOTICE_EVENT_TYPE, Post, SlackOut
from store import outbox
from store.models import OutboxItem


async def deliver_digest(out: SlackOut, item: OutboxItem, message: OutboxMessage) -> AfterDelivery | None:
    assert isinstance(message, Digest)
    # The audit anchor rides in the metadata too, so `hitl audit verify --slack` reads it without parsing text.
    marker = {"key": item.dedupe_key, **({"audit_anchor": message.audit_anchor} if message.audit_anchor else {})}
    ts, _ = await out.post_once(
        item, Post(message.channel, message.text, message.blocks, NOTICE_EVENT_TYPE, marker), since=item.created_at
    )

    async def after(session: AsyncSession) -> None:
        if message.chart_png:
            chart = DigestChart(channel=message.channel, thread_ts=ts, chart_png=message.chart_png, key=message.key)
            await outbox.enqueue(session, chart, now=out.clock.now())

    return after


async def deliver_digest_chart(out: SlackOut, item: OutboxItem, message: OutboxMessage) -> AfterDelivery | None:
    assert isinstance(message, DigestChart)
    await out.slack.files_upload_v2(
        channel=message.channel,
        thread_ts=message.thread_ts,
        file=base64.b64decode(message.chart_png),
        filename=f"hitl-digest-{message.key.replace(':', '-')}.png",
        title="Decisions per day by outcome, SLA breaches marked",
    )
    return None
