"""Posting to Slack from the outbox: what every delivery of a Slack message shares.

Each post carries Slack message metadata naming what it is. An item on its second or later attempt looks for
that message first (the earlier attempt may have reached Slack before the process died) and adopts it, so a
crash between Slack's answer and our commit never posts twice. Posts are paced per channel.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from blocks.budget import Block
from bot.clock import Clock
from bot.domain.cases import CaseStatus
from bot.domain.outbox import page_key, post_card_key
from bot.policy import Policy
from bot.slack import ChannelPacer
from store import cases as case_store
from store import outbox
from store.db import Database
from store.models import Case, OutboxItem, SlackMessage

log = logging.getLogger(__name__)

CARD_EVENT_TYPE = "hitl_case"
NOTICE_EVENT_TYPE = "hitl_notice"
# How far back to look for a message posted just before a crash.
LOOKBACK = timedelta(hours=1)


@dataclass(frozen=True)
class SlackOut:
    """What delivering to Slack needs: the case as stored now, the policy, Slack, and the per-channel pacer."""

    db: Database
    clock: Clock
    policy: Policy
    slack: AsyncWebClient
    pacer: ChannelPacer

    async def load(self, case_id: str) -> tuple[Case | None, list[SlackMessage]]:
        """The case and the messages that show it, read at delivery time (never a stale render)."""
        async with self.db.read() as session:
            case = await case_store.get_case(session, case_id)
            messages = await case_store.case_messages(session, case_id) if case else []
        return case, messages

    async def waits_for_anchor(self, case: Case, tier: int) -> bool:
        """Whether the message a tier's steps hang on (the card for tier 1, else that tier's page) is still to come."""
        async with self.db.read() as session:
            return await outbox.item_open(
                session, post_card_key(case.case_id) if tier == 1 else page_key(case.case_id, tier)
            )

    async def posted_metadata(
        self, channel: str, event_type: str, *, since: float | None = None, thread_ts: str | None = None, pages: int = 5
    ) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """(ts, metadata payload) of the messages with this metadata event type in a channel (or thread), newest
        first, reading at most `pages` pages of 200."""
        cursor = None
        for _ in range(pages):
            if thread_ts:
                response = await self.slack.conversations_replies(
                    channel=channel, ts=thread_ts, include_all_metadata=True, limit=200, cursor=cursor
                )
            else:
                oldest = f"{since:.6f}" if since is not None else None  # slack-sdk leaves out None arguments
                response = await self.slack.conversations_history(
                    channel=channel, include_all_metadata=True, limit=200, cursor=cursor, oldest=oldest
                )
            messages: list[dict[str, Any]] = response.get("messages", [])
            for message in messages:
                metadata = message.get("metadata") or {}
                if metadata.get("event_type") == event_type:
                    yield str(message["ts"]), metadata.get("event_payload") or {}
            cursor = (response.get("response_metadata") or {}).get("next_cursor")
            if not response.get("has_more") or not cursor:
                return

    async def find_message(
        self, channel: str, *, event_type: str, marker: dict[str, Any], since: float, thread_ts: str | None = None
    ) -> str | None:
        """The ts of a message we posted with this metadata, if it is already in the channel (or thread)."""
        async for ts, found in self.posted_metadata(channel, event_type, since=since, thread_ts=thread_ts):
            if all(found.get(k) == v for k, v in marker.items()):
                return ts
        return None

    async def post_once(
        self, item: OutboxItem, post: Post, *, since: datetime, thread_ts: str | None = None, broadcast: bool = False
    ) -> tuple[str, bool]:
        """Post, unless an earlier attempt already did. Returns (ts, adopted)."""
        start = (since - LOOKBACK).timestamp()
        if item.attempts > 1:
            ts = await self.find_message(
                post.channel, event_type=post.event_type, marker=post.marker, since=start, thread_ts=thread_ts
            )
            if ts:
                return ts, True
        kwargs: dict[str, Any] = {}
        if thread_ts:
            kwargs["thread_ts"] = thread_ts
            # A re-page is also shown in the channel, not only inside the thread.
            kwargs["reply_broadcast"] = broadcast
        metadata = {"event_type": post.event_type, "event_payload": post.marker}
        async with self.pacer.slot(post.channel):
            response = await self.slack.chat_postMessage(
                channel=post.channel,
                text=post.text,
                blocks=post.blocks,
                metadata=metadata,
                unfurl_links=False,
                unfurl_media=False,
                **kwargs,
            )
        return str(response["ts"]), False

    async def permalink(self, channel: str, ts: str) -> str | None:
        try:
            return str((await self.slack.chat_getPermalink(channel=channel, message_ts=ts))["permalink"])
        except SlackApiError as exc:
            log.warning("no permalink for %s/%s: %s", channel, ts, exc.response.get("error"))
            return None


@dataclass(frozen=True)
class Post:
    """One message to post: where, what, and the metadata marker that finds it again after a crash."""

    channel: str
    text: str
    blocks: list[Block]
    event_type: str
    marker: dict[str, Any]


def decided(case: Case) -> bool:
    return CaseStatus(case.status).decided


def anchor(messages: list[SlackMessage], tier: int) -> SlackMessage | None:
    """The message a tier's reviewers were shown: the card for tier 1, that tier's page after."""
    kind = "card" if tier == 1 else "page"
    return next((m for m in messages if m.kind == kind and (kind == "card" or m.tier == tier)), None)
