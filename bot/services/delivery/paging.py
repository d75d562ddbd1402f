"""The SLA clock's messages: the page to the next tier (which starts that tier's clock), the note on the
original card, reminders and re-pages in the tier's thread, and the unhandled alert to ops."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from blocks.budget import Block
from blocks.paging import build_escalation_note, build_reminder, build_repage, build_unhandled_alert
from bot.domain.audit import SYSTEM, AuditAction
from bot.domain.outbox import EscalationNote, OutboxMessage, Page, Remind, Repage, UnhandledAlert
from bot.outbox import AfterDelivery, RetryLater
from bot.services.cards import tier_name
from bot.services.decisions import enqueue_card_update
from bot.services.delivery.cards import CardRender, send_rendered
from bot.services.delivery.slack_out import CARD_EVENT_TYPE, NOTICE_EVENT_TYPE, Post, SlackOut, anchor, decided
from bot.services.sla_sweep import tier_schedule
from store import cases as case_store
from store import outbox
from store.audit import append_audit
from store.models import Case, OutboxItem, SlackMessage

NoticeBuilder = Callable[[Case, list[str]], tuple[str, list[Block]]]


async def deliver_page(out: SlackOut, item: OutboxItem, message: OutboxMessage) -> AfterDelivery | None:
    assert isinstance(message, Page)
    case, messages = await out.load(message.case_id)
    tier = message.tier
    queue = out.policy.queue(case.queue) if case else None
    if case is None or queue is None or decided(case) or anchor(messages, tier):
        return None  # decided meanwhile (the page is dropped), or already paged
    if anchor(messages, 1) is None and await out.waits_for_anchor(case, 1):
        raise RetryLater("the case's card is not posted yet", 2)
    target = queue.tier(tier)
    # The tier's clock starts with its page: what the page says is what the sweep will hold it to.
    schedule = tier_schedule(queue, tier, out.clock.now())
    marker = {"case_id": case.case_id, "tier": tier}
    render = CardRender(out, case, messages, tier, deadline=schedule["tier_deadline"])
    ts, adopted = await send_rendered(
        render,
        lambda text, blocks: out.post_once(
            item, Post(target.channel, text, blocks, CARD_EVENT_TYPE, marker), since=case.created_at
        ),
    )

    # Pages to one channel go out one at a time: its permalink is fetched later, by the note that needs it.
    async def after(session: AsyncSession) -> None:
        now = out.clock.now()
        page = SlackMessage(
            case_id=case.case_id, kind="page", tier=tier, channel=target.channel, ts=ts, permalink=None, created_at=now
        )
        if not await case_store.record_message(session, page):
            return
        await case_store.start_tier_clock(session, case.case_id, now=now, **schedule)
        details: dict[str, Any] = {
            "tier": tier,
            "channel": target.channel,
            "ts": ts,
            "targets": list(target.reviewers),
            "attempts": item.attempts,
        }
        details["tier_deadline"] = schedule["tier_deadline"].isoformat()
        if adopted:
            details["recovered"] = "found in channel history after an interrupted attempt"
        await append_audit(
            session, action=AuditAction.PAGED, actor=SYSTEM, at=now, case_id=case.case_id, details=details
        )
        # The original card learns where the case went from the note's delivery, with the page's link.
        await outbox.enqueue(session, EscalationNote(case_id=case.case_id, tier=tier, channel=target.channel), now=now)

    return after


async def start_clock_without_page(out: SlackOut, session: AsyncSession, item: OutboxItem, error: str) -> None:
    """A page that can never be posted must not stop the case: its tier's clock starts anyway (re-pages and the
    unhandled alert follow in the tier's channel), and the audit says the page failed."""
    page = Page.model_validate(item.payload)
    case = await case_store.get_case(session, page.case_id)
    queue = out.policy.queue(case.queue) if case else None
    if case is None or queue is None:
        return
    now = out.clock.now()
    if (
        await case_store.start_tier_clock(session, case.case_id, now=now, **tier_schedule(queue, page.tier, now))
        is not None
    ):
        await append_audit(
            session,
            action=AuditAction.PAGE_FAILED,
            actor=SYSTEM,
            at=now,
            case_id=case.case_id,
            details={"tier": page.tier, "error": error},
        )


async def _thread_notice(
    out: SlackOut,
    item: OutboxItem,
    case_id: str,
    anchor_tier: int,
    build: NoticeBuilder,
    audit_action: AuditAction | None,
    *,
    broadcast: bool = False,
    drop_if_moved: bool = False,
) -> AfterDelivery | None:
    """A reply in the thread of the message a tier was shown (or, if that could never be posted, in the tier's
    channel). Dropped once the case is decided, or (`drop_if_moved`) once it left that tier."""
    case, messages = await out.load(case_id)
    if case is None or decided(case) or (drop_if_moved and case.tier != anchor_tier):
        return None
    shown = anchor(messages, anchor_tier)
    if shown is None and await out.waits_for_anchor(case, anchor_tier):
        raise RetryLater("the message to reply to is not posted yet", 5)
    queue = out.policy.queue(case.queue)
    reviewers = list(queue.tier(anchor_tier).reviewers) if queue else []
    channel = shown.channel if shown else (queue.tier(anchor_tier).channel if queue else case.channel)
    thread_ts = shown.ts if shown else None
    text, blocks = build(case, reviewers)
    post = Post(channel, text, blocks, NOTICE_EVENT_TYPE, {"key": item.dedupe_key})
    ts, _ = await out.post_once(item, post, since=case.created_at, thread_ts=thread_ts, broadcast=broadcast)
    if audit_action is None:
        return None

    async def after(session: AsyncSession) -> None:
        details = {
            "tier": anchor_tier,
            "channel": channel,
            "thread_ts": thread_ts,
            "ts": ts,
            "targets": reviewers,
            **{k: v for k, v in item.payload.items() if k != "case_id"},
        }
        await append_audit(
            session, action=audit_action, actor=SYSTEM, at=out.clock.now(), case_id=case.case_id, details=details
        )

    return after


async def deliver_remind(out: SlackOut, item: OutboxItem, message: OutboxMessage) -> AfterDelivery | None:
    assert isinstance(message, Remind)
    now = out.clock.now()
    return await _thread_notice(
        out,
        item,
        message.case_id,
        message.tier,
        lambda case, who: build_reminder(case.tier_deadline, now, who),
        AuditAction.REMINDED,
        drop_if_moved=True,
    )


async def deliver_repage(out: SlackOut, item: OutboxItem, message: OutboxMessage) -> AfterDelivery | None:
    assert isinstance(message, Repage)
    now = out.clock.now()

    def build(case: Case, who: list[str]) -> tuple[str, list[Block]]:
        return build_repage(case.case_id, case.tier_deadline, now, message.repeat, message.of, who)

    return await _thread_notice(out, item, message.case_id, message.tier, build, AuditAction.REPAGED, broadcast=True)


async def deliver_escalation_note(out: SlackOut, item: OutboxItem, message: OutboxMessage) -> AfterDelivery | None:
    """The note on the original card that says where the case went, with the page's link; the link is
    remembered, and the card re-rendered to show it too."""
    assert isinstance(message, EscalationNote)
    case, messages = await out.load(message.case_id)
    page = anchor(messages, message.tier) if case else None
    fetched = await out.permalink(page.channel, page.ts) if page and not page.permalink else None
    permalink = fetched or (page.permalink if page else None)

    def build(case: Case, _reviewers: list[str]) -> tuple[str, list[Block]]:
        return build_escalation_note(
            message.tier, tier_name(out.policy, case.queue, message.tier), message.channel, permalink
        )

    await _thread_notice(out, item, message.case_id, 1, build, None)
    if case is None or page is None:
        return None

    async def after(session: AsyncSession) -> None:
        if fetched is not None:
            await case_store.set_permalink(session, page.id, fetched)
        await enqueue_card_update(session, case.case_id, case.version, out.clock.now(), cause=f"page{message.tier}")

    return after


async def deliver_unhandled_alert(out: SlackOut, item: OutboxItem, message: OutboxMessage) -> AfterDelivery | None:
    assert isinstance(message, UnhandledAlert)
    case, messages = await out.load(message.case_id)
    queue = out.policy.queue(case.queue) if case else None
    if case is None or queue is None or decided(case):
        return None
    ops = out.policy.ops
    channel = ops.channel if ops else queue.tier(len(queue.tiers)).channel
    shown = anchor(messages, message.tier) or anchor(messages, 1)
    permalink = (
        shown.permalink
        if shown and shown.permalink
        else (await out.permalink(shown.channel, shown.ts) if shown else None)
    )
    text, blocks = build_unhandled_alert(
        case.case_id, case.queue, message.tier, message.repeats, permalink, list(ops.operators) if ops else []
    )
    await out.post_once(
        item, Post(channel, text, blocks, NOTICE_EVENT_TYPE, {"key": item.dedupe_key}), since=case.created_at
    )
    return None
