"""The outbox's typed messages (bot/domain/outbox.py): each kind's dedupe and ordering keys, and a stored
payload read back into its type."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from bot.domain.outbox import (
    CANCELLED_BY_DECISION,
    MESSAGE_TYPES,
    Announce,
    Digest,
    DigestChart,
    EscalationNote,
    OutboxKind,
    OutboxMessage,
    Page,
    PostCard,
    Remind,
    Repage,
    UnhandledAlert,
    UpdateCard,
    Webhook,
    case_line,
    channel_line,
    page_key,
    parse_message,
    post_card_key,
)

BLOCKS = [{"type": "section", "text": {"type": "mrkdwn", "text": "hi"}}]
EXAMPLES: list[tuple[OutboxMessage, str, str | None, str | None]] = [
    # message, dedupe key, ordering key, case it is about
    (PostCard(case_id="c1", channel="C0A"), "post_card:c1", "channel:C0A", "c1"),
    (PostCard(case_id="c1"), "post_card:c1", None, "c1"),
    (UpdateCard(case_id="c1", version=3), "update_card:c1:3", "case:c1", "c1"),
    (UpdateCard(case_id="c1", version=3, cause="claim"), "update_card:c1:3:claim", "case:c1", "c1"),
    (Page(case_id="c1", tier=2, from_tier=1, channel="C0B"), "page:c1:2", "channel:C0B", "c1"),
    (Page(case_id="c1", tier=2), "page:c1:2", None, "c1"),
    (Remind(case_id="c1", tier=1), "remind:c1:1", "case:c1", "c1"),
    (Repage(case_id="c1", tier=2, repeat=1, of=3), "repage:c1:1", "case:c1", "c1"),
    (EscalationNote(case_id="c1", tier=2, channel="C0B"), "note:c1:2", "case:c1", "c1"),
    (UnhandledAlert(case_id="c1", tier=2, repeats=3), "unhandled:c1", "case:c1", "c1"),
    (Announce(channel="C0OPS", text="t", blocks=BLOCKS, key="kill:1"), "announce:kill:1", "channel:C0OPS", None),
    (Digest(channel="C0D", text="t", blocks=BLOCKS, key="2026-11-21"), "digest:2026-11-21", "channel:C0D", None),
    (
        DigestChart(channel="C0D", thread_ts="1.2", chart_png="iVBOR", key="2026-11-21"),
        "digest_chart:2026-11-21",
        None,
        None,
    ),
    (
        Webhook(url="https://x.example.com/h", event_id="evt_1", body={"a": 1}, case_id="c1"),
        "webhook:evt_1",
        None,
        "c1",
    ),
    (Webhook(url="https://x.example.com/h", event_id="evt_2", body={}), "webhook:evt_2", None, None),
]


@pytest.mark.parametrize(
    "message, dedupe, ordering, case",
    EXAMPLES,
    ids=lambda v: type(v).__name__ if isinstance(v, OutboxMessage) else None,
)
def test_keys_and_case(message: OutboxMessage, dedupe: str, ordering: str | None, case: str | None) -> None:
    assert message.dedupe_key() == dedupe
    assert message.ordering_key() == ordering
    assert message.about_case == case


@pytest.mark.parametrize("message", [m for m, *_ in EXAMPLES], ids=lambda m: type(m).__name__)
def test_a_stored_payload_reads_back_as_the_same_message(message: OutboxMessage) -> None:
    stored = message.model_dump(mode="json")
    assert parse_message(message.kind.value, stored) == message
    # Keys another version wrote are ignored, not fatal.
    assert parse_message(message.kind.value, {**stored, "added_later": [1, 2]}) == message


def test_every_kind_has_a_message_type() -> None:
    assert set(MESSAGE_TYPES) == set(OutboxKind)
    assert all(cls.kind is kind for kind, cls in MESSAGE_TYPES.items())


def test_an_unknown_kind_or_an_unreadable_payload_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        parse_message("carrier_pigeon", {})
    with pytest.raises(ValidationError):
        parse_message("page", {"case_id": "c1"})  # no tier
    with pytest.raises(ValidationError):
        parse_message("remind", {"case_id": "c1", "tier": "first"})


def test_messages_are_frozen() -> None:
    with pytest.raises(ValidationError):
        Remind(case_id="c1", tier=1).tier = 2  # type: ignore[misc]


def test_the_keys_the_store_builds_are_the_messages_keys() -> None:
    assert post_card_key("c1") == PostCard(case_id="c1").dedupe_key()
    assert page_key("c1", 3) == Page(case_id="c1", tier=3).dedupe_key()
    assert channel_line("C0A") == "channel:C0A" and case_line("c1") == "case:c1"


def test_a_decision_cancels_only_the_sla_steps() -> None:
    assert set(CANCELLED_BY_DECISION) == {
        OutboxKind.REMIND,
        OutboxKind.PAGE,
        OutboxKind.REPAGE,
        OutboxKind.UNHANDLED_ALERT,
    }


CASE_IDS = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:@/-]{0,40}", fullmatch=True)
CHANNELS = st.from_regex(r"C[A-Z0-9]{2,12}", fullmatch=True)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
MESSAGES = st.one_of(
    st.builds(PostCard, case_id=CASE_IDS, channel=st.none() | CHANNELS),
    st.builds(
        UpdateCard, case_id=CASE_IDS, version=st.integers(0, 10**6), cause=st.sampled_from(["", "claim", "decided"])
    ),
    st.builds(
        Page,
        case_id=CASE_IDS,
        tier=st.integers(1, 10),
        from_tier=st.none() | st.integers(1, 10),
        channel=st.none() | CHANNELS,
    ),
    st.builds(Remind, case_id=CASE_IDS, tier=st.integers(1, 10)),
    st.builds(Repage, case_id=CASE_IDS, tier=st.integers(1, 10), repeat=st.integers(1, 100), of=st.integers(1, 100)),
    st.builds(EscalationNote, case_id=CASE_IDS, tier=st.integers(1, 10), channel=CHANNELS),
    st.builds(UnhandledAlert, case_id=CASE_IDS, tier=st.integers(1, 10), repeats=st.integers(0, 100)),
    st.builds(Announce, channel=CHANNELS, text=st.text(), blocks=st.just(BLOCKS), key=st.text(min_size=1)),
    st.builds(
        Webhook,
        url=st.just("https://x.example.com/h"),
        event_id=st.text(min_size=1, max_size=20),
        body=st.dictionaries(st.text(max_size=5), JSON, max_size=4),
        case_id=st.none() | CASE_IDS,
    ),
)


@given(MESSAGES)
def test_generated_messages_round_trip_and_keys_are_stable(message: OutboxMessage) -> None:
    again = parse_message(message.kind.value, message.model_dump(mode="json"))
    assert again == message
    assert again.dedupe_key() == message.dedupe_key() and again.ordering_key() == message.ordering_key()
    assert message.dedupe_key().startswith(
        {
            "post_card": "post_card:",
            "update_card": "update_card:",
            "escalation_note": "note:",
            "unhandled_alert": "unhandled:",
        }.get(message.kind.value, f"{message.kind.value}:")
    )


@given(CASE_IDS, st.integers(1, 10), st.integers(1, 10))
def test_pages_of_different_tiers_never_share_a_dedupe_key(case_id: str, tier: int, other: int) -> None:
    assert (Page(case_id=case_id, tier=tier).dedupe_key() == Page(case_id=case_id, tier=other).dedupe_key()) == (
        tier == other
    )
