"""Delivering Slack work from the outbox. Every message is rendered from the case as stored at delivery time."""

from __future__ import annotations

import logging
from datetime import timedelta

from slack_sdk.errors import SlackApiError

from blocks.card import build_review_card
from bot.outbox import AfterDelivery, OutboxWorker
from bot.runtime import Runtime
from bot.services.cards import card_view
from store import cases as case_store
from store.audit import SYSTEM, append_audit
from store.models import Case, OutboxItem

log = logging.getLogger(__name__)

CARD_EVENT_TYPE = "hitl_case"
# How far back to look for a card posted just before a crash (Slack's answer arrived, our commit did not).
_HISTORY_LOOKBACK = timedelta(hours=1)


async def _load(rt: Runtime, item: OutboxItem) -> Case | None:
    async with rt.sessions() as session:
        return await case_store.get_case(session, item.payload["case_id"])


async def find_posted_card(rt: Runtime, case: Case, since_ts: float) -> str | None:
    """The ts of this case's card if it is already in the channel, found by the metadata we post with it."""
    cursor = None
    for _ in range(5):
        response = await rt.slack.conversations_history(
            channel=case.channel, oldest=f"{since_ts:.6f}", include_all_metadata=True, limit=200, cursor=cursor
        )
        for message in response.get("messages", []):
            metadata = message.get("metadata") or {}
            if metadata.get("event_type") == CARD_EVENT_TYPE and (metadata.get("event_payload") or {}).get("case_id") == case.case_id:
                return str(message["ts"])
        cursor = (response.get("response_metadata") or {}).get("next_cursor")
        if not response.get("has_more") or not cursor:
            return None
    return None


async def deliver_post_card(rt: Runtime, item: OutboxItem) -> AfterDelivery | None:
    case = await _load(rt, item)
    if case is None or case.message_ts:
        return None
    ts = None
    if item.attempts > 1:
        # An earlier attempt may have reached Slack before the process died: adopt that card, never post twice.
        ts = await find_posted_card(rt, case, (case.created_at - _HISTORY_LOOKBACK).timestamp())
    adopted = ts is not None
    if ts is None:
        text, blocks = build_review_card(card_view(case, rt.policy), rt.clock.now())
        response = await rt.slack.chat_postMessage(
            channel=case.channel,
            text=text,
            blocks=blocks,
            metadata={"event_type": CARD_EVENT_TYPE, "event_payload": {"case_id": case.case_id}},
            unfurl_links=False,
            unfurl_media=False,
        )
        ts = str(response["ts"])

    async def after(session) -> None:  # type: ignore[no-untyped-def]
        if await case_store.record_card_posted(session, case, ts=ts, now=rt.clock.now()):
            details = {"channel": case.channel, "ts": ts, "attempts": item.attempts}
            if adopted:
                details["recovered"] = "found in channel history after an interrupted attempt"
            await append_audit(session, action="posted", actor=SYSTEM, at=rt.clock.now(), case_id=case.case_id, details=details)

    return after


async def deliver_update_card(rt: Runtime, item: OutboxItem) -> AfterDelivery | None:
    case = await _load(rt, item)
    if case is None or not case.message_ts:
        # Not posted yet: the post renders the current state, so there is nothing to update.
        return None
    text, blocks = build_review_card(card_view(case, rt.policy), rt.clock.now())
    try:
        await rt.slack.chat_update(channel=case.channel, ts=case.message_ts, text=text, blocks=blocks)
    except SlackApiError as exc:
        if exc.response.get("error") in ("message_not_found", "channel_not_found", "cant_update_message"):
            log.warning("card of %s can no longer be updated: %s", case.case_id, exc.response.get("error"))
            return None
        raise
    return None


def register_slack_deliverers(worker: OutboxWorker) -> None:
    worker.register("post_card", deliver_post_card)
    worker.register("update_card", deliver_update_card)
