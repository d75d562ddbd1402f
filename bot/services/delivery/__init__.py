"""Delivering Slack work from the outbox, one concern per module: `cards` (the review card and its updates),
`paging` (pages, notes, reminders, re-pages, the unhandled alert), `notices` (announcements, dead letters),
`digest`; `slack_out` holds what they share. Every message is rendered from the case as stored at delivery
time, so a queued item never shows stale state."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial

from bot.domain.outbox import OutboxKind, OutboxMessage
from bot.outbox import AfterDelivery, Delivery, OnDead
from bot.services.delivery import cards, digest, notices, paging
from bot.services.delivery.slack_out import SlackOut
from store.models import OutboxItem


def slack_deliveries(out: SlackOut) -> dict[OutboxKind, Delivery]:
    def via(
        deliver: Callable[[SlackOut, OutboxItem, OutboxMessage], Awaitable[AfterDelivery | None]],
        on_dead: OnDead | None = None,
    ) -> Delivery:
        return Delivery(partial(deliver, out), on_dead=on_dead)

    return {
        OutboxKind.POST_CARD: via(cards.deliver_post_card),
        OutboxKind.UPDATE_CARD: via(cards.deliver_update_card),
        OutboxKind.PAGE: via(paging.deliver_page, on_dead=partial(paging.start_clock_without_page, out)),
        OutboxKind.REMIND: via(paging.deliver_remind),
        OutboxKind.REPAGE: via(paging.deliver_repage),
        OutboxKind.ESCALATION_NOTE: via(paging.deliver_escalation_note),
        OutboxKind.UNHANDLED_ALERT: via(paging.deliver_unhandled_alert),
        OutboxKind.ANNOUNCE: via(notices.deliver_announcement),
        OutboxKind.DIGEST: via(digest.deliver_digest),
        OutboxKind.DIGEST_CHART: via(digest.deliver_digest_chart),
    }


def dead_letter_hooks(out: SlackOut) -> list[OnDead]:
    return [partial(notices.tell_ops_of_dead_letter, out)]
