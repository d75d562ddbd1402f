"""What the outbox carries: one typed message per kind, each knowing its own dedupe and ordering keys.

A message is stored as its JSON (the `payload` column) and parsed back into its type for delivery. The dedupe
key makes an enqueue idempotent (a step repeated by a crash or a second replica queues nothing new); items
sharing an ordering key go out one at a time, oldest first: `channel:C…` keeps cards and pages in order per
channel, `case:…` keeps a case's later steps in the order they were queued.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict


class OutboxKind(StrEnum):
    POST_CARD = "post_card"
    UPDATE_CARD = "update_card"
    PAGE = "page"
    REMIND = "remind"
    REPAGE = "repage"
    ESCALATION_NOTE = "escalation_note"
    UNHANDLED_ALERT = "unhandled_alert"
    ANNOUNCE = "announce"
    DIGEST = "digest"
    DIGEST_CHART = "digest_chart"
    WEBHOOK = "webhook"


class DeadReason(StrEnum):
    CANCELLED = "cancelled"  # a decision (or a newer step) made it pointless
    DEAD = "dead"  # refused for good (Slack's permanent errors, a receiver's 4xx) or out of time: a dead letter
    DROPPED = "dropped"  # an operator dropped it (`hitl outbox drop`)


def channel_line(channel: str) -> str:
    return f"channel:{channel}"


def case_line(case_id: str) -> str:
    return f"case:{case_id}"


class OutboxMessage(BaseModel):
    # Stored payloads outlive code versions: keys an older or newer version wrote are ignored, not fatal.
    model_config = ConfigDict(frozen=True, extra="ignore")

    kind: ClassVar[OutboxKind]

    @property
    def about_case(self) -> str | None:
        return None

    def dedupe_key(self) -> str:
        raise NotImplementedError

    def ordering_key(self) -> str | None:
        return None


class CaseStep(OutboxMessage):
    """A message about one case; it goes out in the case's line, after the case's earlier steps."""

    case_id: str

    @property
    def about_case(self) -> str:
        return self.case_id

    def ordering_key(self) -> str | None:
        return case_line(self.case_id)


class ChannelPost(OutboxMessage):
    """A fixed message for a channel, in the channel's line."""

    channel: str
    text: str
    blocks: list[dict[str, Any]]
    key: str

    def ordering_key(self) -> str:
        return channel_line(self.channel)


class PostCard(CaseStep):
    kind: ClassVar[OutboxKind] = OutboxKind.POST_CARD
    channel: str | None = None  # only needed to queue it (older payloads lack it)

    def dedupe_key(self) -> str:
        return post_card_key(self.case_id)

    def ordering_key(self) -> str | None:
        # A new card waits for the channel's earlier cards, not for anything of its own case.
        return channel_line(self.channel) if self.channel else None


class UpdateCard(CaseStep):
    """Re-render every message that shows the case: one update per state version and cause."""

    kind: ClassVar[OutboxKind] = OutboxKind.UPDATE_CARD
    version: int = 0
    cause: str = ""

    def dedupe_key(self) -> str:
        return f"update_card:{self.case_id}:{self.version}" + (f":{self.cause}" if self.cause else "")


class Page(CaseStep):
    kind: ClassVar[OutboxKind] = OutboxKind.PAGE
    tier: int
    from_tier: int | None = None
    channel: str | None = None

    def dedupe_key(self) -> str:
        return page_key(self.case_id, self.tier)

    def ordering_key(self) -> str | None:
        # A page is a new message in the next tier's channel: it keeps that channel's order.
        return channel_line(self.channel) if self.channel else None


class Remind(CaseStep):
    kind: ClassVar[OutboxKind] = OutboxKind.REMIND
    tier: int

    def dedupe_key(self) -> str:
        return f"remind:{self.case_id}:{self.tier}"


class Repage(CaseStep):
    kind: ClassVar[OutboxKind] = OutboxKind.REPAGE
    tier: int
    repeat: int
    of: int

    def dedupe_key(self) -> str:
        return f"repage:{self.case_id}:{self.repeat}"


class EscalationNote(CaseStep):
    """On the original card's thread: where the case went, with the page's link."""

    kind: ClassVar[OutboxKind] = OutboxKind.ESCALATION_NOTE
    tier: int
    channel: str

    def dedupe_key(self) -> str:
        return f"note:{self.case_id}:{self.tier}"


class UnhandledAlert(CaseStep):
    kind: ClassVar[OutboxKind] = OutboxKind.UNHANDLED_ALERT
    tier: int
    repeats: int

    def dedupe_key(self) -> str:
        return f"unhandled:{self.case_id}"


class Announce(ChannelPost):
    """Kill and resume announcements, dead-letter notices."""

    kind: ClassVar[OutboxKind] = OutboxKind.ANNOUNCE

    def dedupe_key(self) -> str:
        return f"announce:{self.key}"


class Digest(ChannelPost):
    kind: ClassVar[OutboxKind] = OutboxKind.DIGEST
    chart_png: str | None = None  # base64
    audit_anchor: str | None = None

    def dedupe_key(self) -> str:
        return f"digest:{self.key}"


class DigestChart(OutboxMessage):
    kind: ClassVar[OutboxKind] = OutboxKind.DIGEST_CHART
    channel: str
    thread_ts: str
    chart_png: str
    key: str

    def dedupe_key(self) -> str:
        return f"digest_chart:{self.key}"


class Webhook(OutboxMessage):
    kind: ClassVar[OutboxKind] = OutboxKind.WEBHOOK
    url: str
    event_id: str
    body: dict[str, Any]
    case_id: str | None = None

    @property
    def about_case(self) -> str | None:
        return self.case_id

    def dedupe_key(self) -> str:
        return f"webhook:{self.event_id}"


MESSAGE_TYPES: dict[OutboxKind, type[OutboxMessage]] = {
    cls.kind: cls
    for cls in (
        PostCard,
        UpdateCard,
        Page,
        Remind,
        Repage,
        EscalationNote,
        UnhandledAlert,
        Announce,
        Digest,
        DigestChart,
        Webhook,
    )
}


def parse_message(kind: str, payload: dict[str, Any]) -> OutboxMessage:
    """A stored item's message in its type (ValueError for a kind this version doesn't know)."""
    return MESSAGE_TYPES[OutboxKind(kind)].model_validate(payload)


def post_card_key(case_id: str) -> str:
    return f"post_card:{case_id}"


def page_key(case_id: str, tier: int) -> str:
    return f"page:{case_id}:{tier}"


# What a decision makes pointless: SLA steps queued but not yet sent.
CANCELLED_BY_DECISION = (OutboxKind.REMIND, OutboxKind.PAGE, OutboxKind.REPAGE, OutboxKind.UNHANDLED_ALERT)
