"""Delivering Slack work from the outbox. Every message is rendered from the case as stored at delivery time.

Each post carries Slack message metadata naming what it is. An item on its second or later attempt looks for
that message first (the earlier attempt may have reached Slack before the process died) and adopts it, so a
crash between Slack's answer and our commit never posts twice.
"""

from __future__ import annotations

import base64
import dataclasses
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from slack_sdk.errors import SlackApiError
from sqlalchemy.ext.asyncio import AsyncSession

from blocks.card import Block, PageView, build_minimal_card, build_review_card
from blocks.ops import build_dead_letter_notice
from blocks.paging import build_escalation_note, build_reminder, build_repage, build_unhandled_alert
from bot.outbox import AfterDelivery, OutboxWorker, RetryLater
from bot.runtime import Runtime
from bot.services.cards import card_view, minimal_card_view, tier_name
from bot.services.decisions import enqueue_card_update
from bot.services.escalation import page_key, post_card_key, tier_schedule
from bot.slack import slack_error_code
from store import cases as case_store
from store import outbox
from store.audit import SYSTEM, append_audit
from store.models import Case, CaseStatus, OutboxItem, SlackMessage

log = logging.getLogger(__name__)

CARD_EVENT_TYPE = "hitl_case"
NOTICE_EVENT_TYPE = "hitl_notice"
# How far back to look for a message posted just before a crash.
_LOOKBACK = timedelta(hours=1)
# Slack refused what the message says, not where it goes: a smaller message can still get through.
CONTENT_ERRORS = frozenset(
    {"invalid_blocks", "invalid_blocks_format", "msg_too_long", "msg_blocks_too_long", "invalid_arguments", "invalid_metadata_format", "metadata_too_large"}
)

Rendered = tuple[str, list[Block]]
T = TypeVar("T")


async def _load(rt: Runtime, case_id: str) -> tuple[Case | None, list[SlackMessage]]:
    async with rt.reads() as session:
        case = await case_store.get_case(session, case_id)
        messages = await case_store.case_messages(session, case_id) if case else []
    return case, messages


def _decided(case: Case) -> bool:
    return CaseStatus(case.status).decided


async def posted_metadata(rt: Runtime, channel: str, event_type: str, *, since: float | None = None, thread_ts: str | None = None, pages: int = 5) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """(ts, metadata payload) of the messages with this metadata event type in a channel (or thread), newest
    first, reading at most `pages` pages of 200."""
    cursor = None
    for _ in range(pages):
        if thread_ts:
            response = await rt.slack.conversations_replies(channel=channel, ts=thread_ts, include_all_metadata=True, limit=200, cursor=cursor)
        else:
            oldest = {"oldest": f"{since:.6f}"} if since is not None else {}
            response = await rt.slack.conversations_history(channel=channel, include_all_metadata=True, limit=200, cursor=cursor, **oldest)
        for message in response.get("messages", []):
            metadata = message.get("metadata") or {}
            if metadata.get("event_type") == event_type:
                yield str(message["ts"]), metadata.get("event_payload") or {}
        cursor = (response.get("response_metadata") or {}).get("next_cursor")
        if not response.get("has_more") or not cursor:
            return


async def find_message(rt: Runtime, channel: str, *, event_type: str, payload: dict[str, Any], since: float, thread_ts: str | None = None) -> str | None:
    """The ts of a message we posted with this metadata, if it is already in the channel (or thread)."""
    async for ts, found in posted_metadata(rt, channel, event_type, since=since, thread_ts=thread_ts):
        if all(found.get(k) == v for k, v in payload.items()):
            return ts
    return None


async def _post_once(rt: Runtime, item: OutboxItem, channel: str, text: str, blocks: list[dict[str, Any]], event_type: str, payload: dict[str, Any], *, since: float, thread_ts: str | None = None, broadcast: bool = False) -> tuple[str, bool]:
    """Post, unless an earlier attempt already did. Returns (ts, adopted)."""
    if item.attempts > 1:
        ts = await find_message(rt, channel, event_type=event_type, payload=payload, since=since, thread_ts=thread_ts)
        if ts:
            return ts, True
    kwargs: dict[str, Any] = {}
    if thread_ts:
        kwargs["thread_ts"] = thread_ts
        # A re-page is also shown in the channel, not only inside the thread.
        kwargs["reply_broadcast"] = broadcast
    async with rt.pacer.slot(channel):
        response = await rt.slack.chat_postMessage(
            channel=channel, text=text, blocks=blocks, metadata={"event_type": event_type, "event_payload": payload}, unfurl_links=False, unfurl_media=False, **kwargs
        )
    return str(response["ts"]), False


def _since(case: Case) -> float:
    return (case.created_at - _LOOKBACK).timestamp()


def case_api_path(case_id: str) -> str:
    return f"GET /v1/escalations/{case_id}"


@dataclasses.dataclass(frozen=True)
class CardRender:
    """How to draw one message of a case: its card, or its page to a later tier (whose clock may start now)."""

    rt: Runtime
    case: Case
    messages: list[SlackMessage]
    page_tier: int | None = None
    deadline: datetime | None = None

    def _page(self) -> tuple[PageView | None, list[str]]:
        if self.page_tier is None:
            return None, []
        queue = self.rt.policy.queue(self.case.queue)
        reviewers = list(queue.tier(self.page_tier).reviewers) if queue else []
        channel = queue.tier(self.page_tier).channel if queue else self.case.channel
        return PageView(self.page_tier, tier_name(self.rt.policy, self.case.queue, self.page_tier), channel), reviewers

    def _dated(self, view: Any) -> Any:
        return dataclasses.replace(view, tier_deadline=self.deadline) if self.deadline is not None else view

    def full(self) -> Rendered:
        page, mentions = self._page()
        view = self._dated(card_view(self.case, self.rt.policy, self.messages))
        return build_review_card(view, self.rt.clock.now(), page_for=page, mentions=mentions)

    def minimal(self) -> Rendered:
        page, mentions = self._page()
        view = self._dated(minimal_card_view(self.case, self.rt.policy))
        return build_minimal_card(view, self.rt.clock.now(), api_path=case_api_path(self.case.case_id), page_for=page, mentions=mentions)


async def send_rendered(render: CardRender, send: Callable[[str, list[Block]], Awaitable[T]]) -> T:
    """Send the full card; if Slack refuses its content (or a stored case can't be drawn in full), send the
    minimal card instead, which always fits. A refusal of the destination is left to the outbox (dead letter)."""
    try:
        text, blocks = render.full()
    except Exception:  # noqa: BLE001 - stored data the full card can't draw: the case must still reach people
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


async def deliver_post_card(rt: Runtime, item: OutboxItem) -> AfterDelivery | None:
    case, messages = await _load(rt, item.payload["case_id"])
    if case is None or case.message_ts:
        return None
    marker = {"case_id": case.case_id}
    ts, adopted = await send_rendered(
        CardRender(rt, case, messages), lambda text, blocks: _post_once(rt, item, case.channel, text, blocks, CARD_EVENT_TYPE, marker, since=_since(case))
    )
    permalink = await _permalink(rt, case.channel, ts)

    async def after(session: AsyncSession) -> None:
        if await case_store.record_card_posted(session, case, ts=ts, now=rt.clock.now(), permalink=permalink):
            details: dict[str, Any] = {"channel": case.channel, "ts": ts, "attempts": item.attempts}
            if adopted:
                details["recovered"] = "found in channel history after an interrupted attempt"
            await append_audit(session, action="posted", actor=SYSTEM, at=rt.clock.now(), case_id=case.case_id, details=details)

    return after


async def deliver_update_card(rt: Runtime, item: OutboxItem) -> AfterDelivery | None:
    """Re-render every message that shows the case: the card and its pages."""
    case, messages = await _load(rt, item.payload["case_id"])
    if case is None:
        return None
    # Not posted yet: the post renders the current state, so there is nothing to update.
    for message in messages:
        render = CardRender(rt, case, messages, message.tier if message.kind == "page" else None)

        async def update(text: str, blocks: list[Block], message: SlackMessage = message) -> None:
            await rt.slack.chat_update(channel=message.channel, ts=message.ts, text=text, blocks=blocks)

        try:
            await send_rendered(render, update)
        except SlackApiError as exc:
            if exc.response.get("error") not in ("message_not_found", "channel_not_found", "cant_update_message"):
                raise
            log.warning("message %s of %s can no longer be updated: %s", message.ts, case.case_id, exc.response.get("error"))
    return None


def _anchor(messages: list[SlackMessage], tier: int) -> SlackMessage | None:
    """The message a tier's reviewers were shown: the card for tier 1, that tier's page after."""
    kind = "card" if tier == 1 else "page"
    return next((m for m in messages if m.kind == kind and (kind == "card" or m.tier == tier)), None)


async def _waits_for_anchor(rt: Runtime, case: Case, tier: int) -> bool:
    """Whether the message a tier's steps hang on (the card for tier 1, else that tier's page) is still to come."""
    async with rt.reads() as session:
        return await outbox.item_open(session, post_card_key(case.case_id) if tier == 1 else page_key(case.case_id, tier))


async def deliver_page(rt: Runtime, item: OutboxItem) -> AfterDelivery | None:
    case, messages = await _load(rt, item.payload["case_id"])
    tier = int(item.payload["tier"])
    queue = rt.policy.queue(case.queue) if case else None
    if case is None or queue is None or _decided(case) or _anchor(messages, tier):
        return None  # decided meanwhile (the page is dropped), or already paged
    if _anchor(messages, 1) is None and await _waits_for_anchor(rt, case, 1):
        raise RetryLater("the case's card is not posted yet", 2)
    target = queue.tier(tier)
    # The tier's clock starts with its page: what the page says is what the sweep will hold it to.
    started = rt.clock.now()
    schedule = tier_schedule(queue, tier, started)
    marker = {"case_id": case.case_id, "tier": tier}
    render = CardRender(rt, case, messages, tier, deadline=schedule["tier_deadline"])
    ts, adopted = await send_rendered(
        render, lambda text, blocks: _post_once(rt, item, target.channel, text, blocks, CARD_EVENT_TYPE, marker, since=_since(case))
    )

    # Pages to one channel go out one at a time: its permalink is fetched later, by the note that needs it.
    async def after(session: AsyncSession) -> None:
        now = rt.clock.now()
        page = SlackMessage(case_id=case.case_id, kind="page", tier=tier, channel=target.channel, ts=ts, permalink=None, created_at=now)
        if not await case_store.record_message(session, page):
            return
        await case_store.start_tier_clock(session, case.case_id, now=now, **schedule)
        details: dict[str, Any] = {"tier": tier, "channel": target.channel, "ts": ts, "targets": list(target.reviewers), "attempts": item.attempts}
        details["tier_deadline"] = schedule["tier_deadline"].isoformat()
        if adopted:
            details["recovered"] = "found in channel history after an interrupted attempt"
        await append_audit(session, action="paged", actor=SYSTEM, at=now, case_id=case.case_id, details=details)
        # The original card learns where the case went from the note's delivery, with the page's link.
        await outbox.enqueue(
            session, kind="escalation_note", dedupe_key=f"note:{case.case_id}:{tier}", payload={"case_id": case.case_id, "tier": tier, "channel": target.channel}, case_id=case.case_id, ordering_key=f"case:{case.case_id}", now=now
        )

    return after


async def start_clock_without_page(rt: Runtime, session: AsyncSession, item: OutboxItem, error: str) -> None:
    """A page that can never be posted must not stop the case: its tier's clock starts anyway (re-pages and the
    unhandled alert follow in the tier's channel), and the audit says the page failed."""
    case = await case_store.get_case(session, item.payload["case_id"])
    queue = rt.policy.queue(case.queue) if case else None
    tier = int(item.payload["tier"])
    if case is None or queue is None:
        return
    now = rt.clock.now()
    if await case_store.start_tier_clock(session, case.case_id, now=now, **tier_schedule(queue, tier, now)) is not None:
        await append_audit(session, action="page_failed", actor=SYSTEM, at=now, case_id=case.case_id, details={"tier": tier, "error": error})


async def _permalink(rt: Runtime, channel: str, ts: str) -> str | None:
    try:
        return str((await rt.slack.chat_getPermalink(channel=channel, message_ts=ts))["permalink"])
    except SlackApiError as exc:
        log.warning("no permalink for %s/%s: %s", channel, ts, exc.response.get("error"))
        return None


NoticeBuilder = Callable[[Case, list[str]], tuple[str, list[dict[str, Any]]]]


async def _thread_notice(rt: Runtime, item: OutboxItem, anchor_tier: int, build: NoticeBuilder, audit_action: str | None, *, broadcast: bool = False, drop_if_moved: bool = False) -> AfterDelivery | None:
    case, messages = await _load(rt, item.payload["case_id"])
    if case is None or _decided(case) or (drop_if_moved and case.tier != anchor_tier):
        return None
    anchor = _anchor(messages, anchor_tier)
    if anchor is None and await _waits_for_anchor(rt, case, anchor_tier):
        raise RetryLater("the message to reply to is not posted yet", 5)
    queue = rt.policy.queue(case.queue)
    reviewers = list(queue.tier(anchor_tier).reviewers) if queue else []
    # The message to reply to could never be posted (a dead letter): say it in the tier's channel instead.
    channel = anchor.channel if anchor else (queue.tier(anchor_tier).channel if queue else case.channel)
    thread_ts = anchor.ts if anchor else None
    text, blocks = build(case, reviewers)
    ts, _ = await _post_once(rt, item, channel, text, blocks, NOTICE_EVENT_TYPE, {"key": item.dedupe_key}, since=_since(case), thread_ts=thread_ts, broadcast=broadcast)
    if audit_action is None:
        return None

    async def after(session: AsyncSession) -> None:
        details = {"tier": anchor_tier, "channel": channel, "thread_ts": thread_ts, "ts": ts, "targets": reviewers, **{k: v for k, v in item.payload.items() if k != "case_id"}}
        await append_audit(session, action=audit_action, actor=SYSTEM, at=rt.clock.now(), case_id=case.case_id, details=details)

    return after


async def deliver_remind(rt: Runtime, item: OutboxItem) -> AfterDelivery | None:
    tier = int(item.payload["tier"])
    now = rt.clock.now()
    return await _thread_notice(rt, item, tier, lambda case, who: build_reminder(case.tier_deadline, now, who), "reminded", drop_if_moved=True)


async def deliver_repage(rt: Runtime, item: OutboxItem) -> AfterDelivery | None:
    tier, repeat, of = int(item.payload["tier"]), int(item.payload["repeat"]), int(item.payload["of"])
    now = rt.clock.now()
    return await _thread_notice(rt, item, tier, lambda case, who: build_repage(case.case_id, case.tier_deadline, now, repeat, of, who), "repaged", broadcast=True)


async def deliver_escalation_note(rt: Runtime, item: OutboxItem) -> AfterDelivery | None:
    """The note on the original card that says where the case went, with the page's link; the link is
    remembered, and the card re-rendered to show it too."""
    tier, channel = int(item.payload["tier"]), item.payload["channel"]
    case, messages = await _load(rt, item.payload["case_id"])
    page = _anchor(messages, tier) if case else None
    fetched = await _permalink(rt, page.channel, page.ts) if page and not page.permalink else None
    permalink = fetched or (page.permalink if page else None)

    def build(case: Case, _reviewers: list[str]) -> tuple[str, list[dict[str, Any]]]:
        return build_escalation_note(tier, tier_name(rt.policy, case.queue, tier), channel, permalink)

    await _thread_notice(rt, item, 1, build, None)
    if case is None or page is None:
        return None

    async def after(session: AsyncSession) -> None:
        if fetched is not None:
            await case_store.set_permalink(session, page.id, fetched)
        await enqueue_card_update(session, case.case_id, case.version, rt.clock.now(), suffix=f"page{tier}")

    return after


async def deliver_unhandled_alert(rt: Runtime, item: OutboxItem) -> AfterDelivery | None:
    case, messages = await _load(rt, item.payload["case_id"])
    queue = rt.policy.queue(case.queue) if case else None
    if case is None or queue is None or _decided(case):
        return None
    ops = rt.policy.ops
    channel = ops.channel if ops else queue.tier(len(queue.tiers)).channel
    anchor = _anchor(messages, int(item.payload["tier"])) or _anchor(messages, 1)
    permalink = anchor.permalink if anchor and anchor.permalink else (await _permalink(rt, anchor.channel, anchor.ts) if anchor else None)
    text, blocks = build_unhandled_alert(case.case_id, case.queue, int(item.payload["tier"]), int(item.payload["repeats"]), permalink, list(ops.operators) if ops else [])
    await _post_once(rt, item, channel, text, blocks, NOTICE_EVENT_TYPE, {"key": item.dedupe_key}, since=_since(case))
    return None


async def deliver_announcement(rt: Runtime, item: OutboxItem) -> AfterDelivery | None:
    """A fixed message for a channel (kill and resume announcements)."""
    payload = item.payload
    marker = {"key": item.dedupe_key}
    await _post_once(rt, item, payload["channel"], payload["text"], payload["blocks"], NOTICE_EVENT_TYPE, marker, since=(item.created_at - _LOOKBACK).timestamp())
    return None


async def deliver_digest(rt: Runtime, item: OutboxItem) -> AfterDelivery | None:
    """The digest post; its chart follows as a separate item, in the post's thread."""
    payload = item.payload
    # The audit anchor rides in the metadata too, so `hitl audit verify --slack` reads it without parsing text.
    marker = {"key": item.dedupe_key, **({"audit_anchor": payload["audit_anchor"]} if payload.get("audit_anchor") else {})}
    ts, _ = await _post_once(rt, item, payload["channel"], payload["text"], payload["blocks"], NOTICE_EVENT_TYPE, marker, since=(item.created_at - _LOOKBACK).timestamp())

    async def after(session: AsyncSession) -> None:
        if payload.get("chart_png"):
            chart = {"channel": payload["channel"], "thread_ts": ts, "chart_png": payload["chart_png"], "key": payload["key"]}
            await outbox.enqueue(session, kind="digest_chart", dedupe_key=f"digest_chart:{payload['key']}", payload=chart, now=rt.clock.now())

    return after


async def deliver_digest_chart(rt: Runtime, item: OutboxItem) -> AfterDelivery | None:
    payload = item.payload
    await rt.slack.files_upload_v2(
        channel=payload["channel"],
        thread_ts=payload["thread_ts"],
        file=base64.b64decode(payload["chart_png"]),
        filename=f"hitl-digest-{payload['key'].replace(':', '-')}.png",
        title="Decisions per day by outcome, SLA breaches marked",
    )
    return None


def _destination(item: OutboxItem) -> str:
    channel = item.payload.get("channel")
    if isinstance(channel, str):
        return channel
    if item.ordering_key and item.ordering_key.startswith("channel:"):
        return item.ordering_key.removeprefix("channel:")
    return item.kind


async def tell_ops_of_dead_letter(rt: Runtime, session: AsyncSession, item: OutboxItem, error: str) -> None:
    """One notice in the ops channel per destination and error each hour, however many items die of it."""
    ops = rt.policy.ops
    if ops is None or item.dedupe_key.startswith("dead_letter:"):
        return  # nowhere to say it, or it is itself such a notice: the log line must do
    now = rt.clock.now()
    destination = _destination(item)
    text, blocks = build_dead_letter_notice(item.id, item.kind, item.case_id, destination, error)
    key = f"dead_letter:{destination}:{error[:80]}:{now:%Y-%m-%dT%H}"
    await outbox.enqueue(session, kind="announce", dedupe_key=key, payload={"channel": ops.channel, "text": text, "blocks": blocks}, ordering_key=f"channel:{ops.channel}", now=now)
    rt.wake_outbox()


def register_slack_deliverers(worker: OutboxWorker) -> None:
    worker.dead_letter_hooks.append(tell_ops_of_dead_letter)
    worker.register("announce", deliver_announcement)
    worker.register("digest", deliver_digest)
    worker.register("digest_chart", deliver_digest_chart)
    worker.register("post_card", deliver_post_card)
    worker.register("update_card", deliver_update_card)
    worker.register("page", deliver_page, on_dead=start_clock_without_page)
    worker.register("remind", deliver_remind)
    worker.register("repage", deliver_repage)
    worker.register("escalation_note", deliver_escalation_note)
    worker.register("unhandled_alert", deliver_unhandled_alert)
