"""Fixed messages for a channel: kill and resume announcements, and the ops channel's notice of dead letters."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from blocks.ops import build_dead_letter_notice
from bot.domain.outbox import Announce, OutboxMessage
from bot.outbox import AfterDelivery
from bot.services.delivery.slack_out import NOTICE_EVENT_TYPE, Post, SlackOut
from store import outbox
from store.models import OutboxItem

DEAD_LETTER = "dead_letter:"


async def deliver_announcement(out: SlackOut, item: OutboxItem, message: OutboxMessage) -> AfterDelivery | None:
    assert isinstance(message, Announce)
    await out.post_once(
        item,
        Post(message.channel, message.text, message.blocks, NOTICE_EVENT_TYPE, {"key": item.dedupe_key}),
        since=item.created_at,
    )
    return None


def _destination(item: OutboxItem) -> str:
    channel = item.payload.get("channel")
    if isinstance(channel, str):
        return channel
    if item.ordering_key and item.ordering_key.startswith("channel:"):
        return item.ordering_key.removeprefix("channel:")
    return item.kind


async def tell_ops_of_dead_letter(out: SlackOut, session: AsyncSession, item: OutboxItem, error: str) -> None:
    """One notice in the ops channel per destination and error each hour, however many items die of it."""
    ops = out.policy.ops
    if ops is None or str(item.payload.get("key", "")).startswith(DEAD_LETTER):
        return  # nowhere to say it, or it is itself such a notice: the log line must do
    now = out.clock.now()
    destination = _destination(item)
    text, blocks = build_dead_letter_notice(item.id, item.kind, item.case_id, destination, error)
    key = f"{DEAD_LETTER}{destination}:{error[:80]}:{now:%Y-%m-%dT%H}"
    await outbox.enqueue(session, Announce(channel=ops.channel, text=text, blocks=blocks, key=key), now=now)
