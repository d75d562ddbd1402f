"""The review card: posted once per case, re-rendered whole (with its pages) on every change. A card whose
content Slack refuses is sent as the minimal card instead, which always fits."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

from slack_sdk.errors import SlackApiError
from sqlalchemy.ext.asyncio import AsyncSession

from blocks.budget import Block
from blocks.card import CardView, PageView, build_minimal_card, build_review_card
from bot.domain.audit import SYSTEM, AuditAction
from bot.domain.outbox import OutboxMessage, PostCard, UpdateCard
from bot.outbox import AfterDelivery
from bot.services.cards import card_view, minimal_card_view, tier_name
from bot.services.delivery.slack_out import CARD_EVENT_TYPE, Post, SlackOut
from bot.slack import slack_error_code
from store import cases as case_store
from store.audit import append_audit
from store.models import Case, OutboxItem, SlackMessage

log = logging.getLogger(__name__)

# Slack refused what the message says, not where it goes: a smaller message can still get through.
CONTENT_ERRORS = frozenset(
    {
        "invalid_blocks",
        "invalid_blocks_format",
        "msg_too_long",
        "msg_blocks_too_long",
        "invalid_arguments",
        "invalid_metadata_format",
        "metadata_too_large",
    }
)
# An update of a message that is gone (deleted, its channel archived): nothing left to show the case.
GONE = frozenset({"message_not_found", "channel_not_found", "cant_update_message"})

Rendered = tuple[str, list[Block]]
T = TypeVar("T")


def case_api_path(case_id: str) -> str:
    return f"GET /v1/escalations/{case_id}"


@dataclasses.dataclass(frozen=True)
class CardRender:
    """How to draw one message of a case: its card, or its page to a later tier (whose clock may start now)."""

    out: SlackOut
    case: Case
    messages: list[SlackMessage]
    page_tier: int | None = None
    deadline: datetime | None = None

    def _page(self) -> tuple[PageView | None, list[str]]:
        if self.page_tier is None:
            return None, []
        queue = self.out.policy.queue(self.case.queue)
        reviewers = list(queue.tier(self.page_tier).reviewers) if queue else []
        channel = queue.tier(self.page_tier).channel if queue else self.case.channel
        return PageView(self.page_tier, tier_name(self.out.policy, self.case.queue, self.page_tier), channel), reviewers

    def _dated(self, view: CardView) -> CardView:
        return dataclasses.replace(view, tier_deadline=self.deadline) if self.deadline is not None else view

    def full(self) -> Rendered:
        page, mentions = self._page()
        view = self._dated(card_view(self.case, self.out.policy, self.messages))
        return build_review_card(view, self.out.clock.now(), page_for=page, mentions=mentions)

    def minimal(self) -> Rendered:
        page, mentions = self._page()
        view = self._dated(minimal_card_view(self.case, self.out.policy))
        return build_minimal_card(
            view, self.out.clock.now(), api_path=case_api_path(self.case.case_id), page_for=page, mentions=mentions
        )


async def send_rendered(render: CardRender, send: Callable[[str, list[Block]], Awaitable[T]]) -> T:
    """Send the full card; if Slack refuses its content (or a stored case can't be drawn in full), send the
    minimal card instead, which always fits. A refusal of the destination is left to the outbox (dead letter)."""
    try:
        text, blocks = render.full()
    except Exception:  # stored data the full card can't draw: the case must still reach people
        log.exception("the card of %s could not be drawn in full; sending the minimal card", render.case.case_id)
        return await send(*render.minimal())
    try:
        return await send(text, blocks)
    except SlackApiError as exc:
        code = slack_error_code(exc)
        if code not in CONTENT_ERRORS:
            raise
        log.warning("Slack refused the card of %s (%s); sending the minimal card", render.case.case_id, code)
    return await send(*render.minimal())


async def deliver_post_card(out: SlackOut, item: OutboxItem, message: OutboxMessage) -> AfterDelivery | None:
    assert isinstance(message, PostCard)
    case, messages = await out.load(message.case_id)
    if case is None or case.message_ts:
        return None
    marker = {"case_id": case.case_id}
    ts, adopted = await send_rendered(
        CardRender(out, case, messages),
        lambda text, blocks: out.post_once(
            item, Post(case.channel, text, blocks, CARD_EVENT_TYPE, marker), since=case.created_at
        ),
    )
    permalink = await out.permalink(case.channel, ts)

    async def after(session: AsyncSession) -> None:
        if await case_store.record_card_posted(session, case, ts=ts, now=out.clock.now(), permalink=permalink):
            details: dict[str, Any] = {"channel": case.channel, "ts": ts, "attempts": item.attempts}
            if adopted:
                details["recovered"] = "found in channel history after an interrupted attempt"
            await append_audit(
                session,
                action=AuditAction.POSTED,
                actor=SYSTEM,
                at=out.clock.now(),
                case_id=case.case_id,
                details=details,
            )

    return after


async def deliver_update_card(out: SlackOut, item: OutboxItem, message: OutboxMessage) -> AfterDelivery | None:
    """Re-render every message that shows the case: the card and its pages."""
    assert isinstance(message, UpdateCard)
    case, messages = await out.load(message.case_id)
    if case is None:
        return None
    # Not posted yet: the post renders the current state, so there is nothing to update.
    for shown in messages:
        render = CardRender(out, case, messages, shown.tier if shown.kind == "page" else None)

        async def update(text: str, blocks: list[Block], shown: SlackMessage = shown) -> None:
            await out.slack.chat_update(channel=shown.channel, ts=shown.ts, text=text, blocks=blocks)

        try:
            await send_rendered(render, update)
        except SlackApiError as exc:
            if slack_error_code(exc) not in GONE:
                raise
            log.warning("message %s of %s can no longer be updated: %s", shown.ts, case.case_id, slack_error_code(exc))
    return None
