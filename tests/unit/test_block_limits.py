"""Every builder in blocks/ renders inside Slack's limits, at the limits of what it is given. The oracle is the
emulator's Block Kit checker (slack_emulator/blockkit.py: slack_sdk's models plus each documented limit).

Worst cases (tests/unit/worst_cases.py) go through each builder in every card state; generated cases draw, per
field, a hostile unit (entities that triple when escaped, astral characters that count 2, zero-width and
right-to-left marks, mrkdwn control characters, whitespace) repeated to the field's maximum or to any length.
The heavier generated renders (fully random strings and JSON) are tests/test_renders.py's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blocks.budget import MESSAGE_BUDGET, message_cost, view_bytes
from blocks.card import CardView, PageView, build_minimal_card, build_review_card
from blocks.digest import build_digest
from blocks.ids import ModalMetadata
from blocks.modals import (
    build_approve_modal,
    build_edit_modal,
    build_notice_modal,
    build_reject_modal,
    draft_block_id,
    draft_from_inputs,
    split_for_inputs,
)
from blocks.ops import (
    PendingCase,
    QueueLoad,
    build_dead_letter_notice,
    build_help,
    build_kill_announcement,
    build_kill_modal,
    build_queue_listing,
    build_resume_announcement,
    build_status,
)
from blocks.paging import build_escalation_note, build_reminder, build_repage, build_unhandled_alert
from bot.domain.cases import CaseStatus, Decision, RejectReason, SlackUser
from bot.domain.escalation import Escalation
from bot.domain.pauses import MAX_REASON, ActiveSwitch, Mode, Scope
from slack_emulator.blockkit import Limits, check_message, check_view, slack_len
from slack_emulator.workspace import SlackError
from tests.unit.cases import NOW, card_view
from tests.unit.worst_cases import WHITESPACE_DRAFTS, WORST, worst_case

LIMITS = Limits()
UNITS = [
    "&<>",
    "😀👩‍👩‍👧",
    "\u200b\u202e*_~`",
    " \n\t\u3000",
    "a",
    "é日本",
    "<!channel>",
    "x&",
    "😀a",
    "`>|:",
    "\u2028\u2029\x85",
    "ab cd ",
]
META = ModalMetadata(case_id="c", channel="C0BILLING", message_ts="1763729000.000100")


def fits_message(rendered: tuple[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    text, blocks = rendered
    check_message(text, blocks, LIMITS)
    return blocks


def fits_view(view: dict[str, Any]) -> dict[str, Any]:
    check_view(view, LIMITS)
    return view


def test_the_oracle_refuses_what_slack_refuses() -> None:
    """The checker is strict where it matters here, so an accepted render means something."""
    with pytest.raises(SlackError, match="invalid_blocks"):
        check_message("t", [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}], LIMITS)
    with pytest.raises(SlackError, match="msg_blocks_too_long"):
        check_message("t", [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 2900}}] * 5, LIMITS)
    with pytest.raises(SlackError, match="invalid_blocks"):
        check_message(
            "t", [{"type": "section", "text": {"type": "mrkdwn", "text": "😀" * 1501}}], LIMITS
        )  # 3,002 units
    with pytest.raises(SlackError):
        check_view({"type": "modal", "title": {"type": "plain_text", "text": "t" * 25}, "blocks": []}, LIMITS)


# ---- worst cases, every builder, every card state ----------------------------------------------------------


def _decided(escalation: Escalation, unit: str) -> Decision:
    args = escalation.proposed_action.args if escalation.proposed_action else {}
    return Decision(
        CaseStatus.EDITED,
        SlackUser("U0SME1"),
        NOW,
        1,
        final_text=escalation.model_draft,
        note=unit * 1000,
        checklist=("&<>" * 25,) * 10,
        final_action={"action": "a", "args": {k: [unit * 300] for k in args}},
    )


@pytest.mark.parametrize("unit", [unit for _, unit in WORST], ids=[name for name, _ in WORST])
def test_worst_cases_fit_every_builder(unit: str) -> None:
    escalation = Escalation.model_validate(worst_case("w", unit))
    pages = tuple(
        PageView(t, unit * 80, "C0PAGE", "https://hitl.slack.com/archives/C0PAGE/p1") for t in (2, 3, 4, 5, 6)
    )
    for decision in (None, _decided(escalation, unit)):
        view = CardView(
            escalation.case_id,
            escalation,
            "q" * 40,
            6,
            6,
            unit * 80,
            NOW,
            NOW,
            decision,
            pages,
            "U0SME1",
            NOW,
            True,
            "off",
        )
        page = PageView(6, unit * 80, "C0PAGE")
        full = fits_message(build_review_card(view, NOW))
        assert message_cost(full) <= MESSAGE_BUDGET
        fits_message(build_review_card(view, NOW, page_for=page, mentions=["S" + "A" * 20] * 50))
        minimal = fits_message(
            build_minimal_card(
                view, NOW, api_path=f"GET /v1/escalations/{view.case_id}", page_for=page, mentions=["U" + "B" * 20] * 50
            )
        )
        assert message_cost(minimal) <= 3000
        for modal in (
            build_approve_modal(view, ["&<>" * 25] * 10, META),
            build_edit_modal(view, META),
            build_reject_modal(view, META),
        ):
            fits_view(modal)


@pytest.mark.parametrize("draft", WHITESPACE_DRAFTS, ids=["one-gap", "mixed-whitespace", "newlines"])
def test_whitespace_drafts_are_offered_whole_and_come_back_exactly(draft: str) -> None:
    view = card_view(model_draft=draft)
    edit = fits_view(build_edit_modal(view, META))
    shown = ModalMetadata.model_validate_json(edit["private_metadata"]).draft_parts
    by_id = {b.get("block_id"): b for b in edit["blocks"]}
    submitted = [by_id[draft_block_id(i)]["element"].get("initial_value", "") for i in range(shown)]
    assert all(part == part.strip() for part in submitted)  # Slack may trim what it sends back
    assert draft_from_inputs(draft, submitted) == draft


def test_a_draft_too_long_for_one_modal_keeps_its_tail_as_written() -> None:
    draft = "😀" * 100_000  # 200,000 units: more parts than one view's 250 kB holds
    edit = fits_view(build_edit_modal(card_view(model_draft=draft), META))
    shown = ModalMetadata.model_validate_json(edit["private_metadata"]).draft_parts
    parts, _ = split_for_inputs(draft)
    assert 0 < shown < len(parts)
    assert "more than one Slack form can hold" in str(edit["blocks"])
    assert draft_from_inputs(draft, parts[:shown]) == draft


# ---- generated cases at the limits -------------------------------------------------------------------------


@st.composite
def texts(draw: st.DrawFn, max_size: int, min_size: int = 1) -> str:
    unit = draw(st.sampled_from(UNITS))
    size = draw(st.one_of(st.just(max_size), st.integers(min_size, max_size)))
    return (unit * (size // len(unit) + 1))[:size]


ARG_VALUES = st.one_of(
    texts(1000, 0),
    st.sampled_from([10**4000, 1e308, -0.0, True, False, None, 5e-324, 123456789012345678901234567890]),
    st.builds(lambda t: {"a": [t, 1.5, None]}, texts(200)),
)


@st.composite
def escalations(draw: st.DrawFn) -> Escalation:
    evidence = draw(st.sampled_from([0, 1, 5, 6, 50]))
    args = draw(st.sampled_from([0, 1, 9, 10, 50]))
    quote, doc, key = draw(texts(20_000, 0)), draw(texts(254)), draw(texts(125))
    body: dict[str, Any] = {
        "case_id": "c" * draw(st.sampled_from([1, 128])),
        "model_draft": draw(texts(100_000)),
        "reason_for_escalation": draw(texts(20_000)),
        "user_question": draw(texts(20_000)),
        "tenant_id": draw(texts(128)),
        "risk_level": draw(st.sampled_from(["low", "critical"])),
        "model": {"name": draw(texts(256)), "version": draw(texts(256))},
        "evidence": [
            {
                "document_id": f"{doc}{i:02d}",
                "quote": quote,
                "score": 1e308,
                "url": "https://kb.example.com/" + "a" * 2000,
            }
            for i in range(evidence)
        ],
        "impact": {
            "dollars": 1e308,
            "users_affected": 10**4000,
            "compliance_risk": draw(st.one_of(st.booleans(), texts(5000))),
        },
    }
    if args:
        value = draw(ARG_VALUES)
        body["proposed_action"] = {"action": draw(texts(128)), "args": {f"{key}{i:03d}": value for i in range(args)}}
    return Escalation.model_validate(body)


@st.composite
def card_views(draw: st.DrawFn) -> CardView:
    escalation = draw(escalations())
    outcome = draw(st.sampled_from([None, "approved", "edited", "rejected"]))
    decision = None
    if outcome is not None:
        unit = draw(st.sampled_from(UNITS))
        decision = Decision(
            CaseStatus(outcome),
            SlackUser("U" + "A" * 20),
            NOW,
            1,
            final_text=draw(texts(100_000)) if outcome == "edited" else escalation.model_draft,
            reason=draw(st.sampled_from([r.value for r in RejectReason] + [unit * 200]))
            if outcome == "rejected"
            else None,
            note=draw(st.one_of(st.none(), texts(3000))),
            checklist=tuple([unit * 75] * draw(st.sampled_from([0, 10]))),
            final_action={"action": "a", "args": dict.fromkeys(escalation.proposed_action.args, unit * 3000)}
            if escalation.proposed_action and outcome != "rejected"
            else None,
        )
    tier_name = draw(texts(80))
    tier = draw(st.integers(1, 6))
    pages = tuple(
        PageView(t, tier_name, "C" + "0" * 12, draw(st.sampled_from([None, "https://hitl.slack.com/archives/C0/p1"])))
        for t in range(2, tier + 1)
    )
    return CardView(
        "c" * 128,
        escalation,
        draw(st.sampled_from(["q", "q" * 40])),
        tier,
        6,
        tier_name,
        NOW + timedelta(days=draw(st.integers(-400, 400))),
        NOW,
        decision,
        pages,
        draw(st.sampled_from([None, "U" + "B" * 20])),
        NOW,
        draw(st.booleans()),
        draw(st.sampled_from([None, "human-only", "off"])),
    )


generated = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
MENTIONS = st.lists(st.sampled_from(["U" + "A" * 20, "S" + "B" * 20, "W0C"]), max_size=60)


@generated
@given(card_views(), MENTIONS)
def test_generated_cards_fit_in_every_form(view: CardView, mentions: list[str]) -> None:
    assert message_cost(fits_message(build_review_card(view, NOW))) <= MESSAGE_BUDGET
    page = PageView(view.tier + 1, view.tier_name, "C0PAGED")
    fits_message(build_review_card(view, NOW, page_for=page, mentions=mentions))
    minimal = fits_message(
        build_minimal_card(view, NOW, api_path=f"GET /v1/escalations/{view.case_id}", page_for=page, mentions=mentions)
    )
    assert message_cost(minimal) <= 3000 and any(b["type"] == "actions" for b in minimal) == (view.decision is None)


@generated
@given(card_views(), st.lists(texts(75), max_size=10))
def test_generated_decision_modals_fit_and_an_untouched_edit_gives_the_draft_back(
    view: CardView, checklist: list[str]
) -> None:
    fits_view(build_approve_modal(view, checklist, META))
    fits_view(build_reject_modal(view, META))
    edit = fits_view(build_edit_modal(view, META))
    assert view_bytes(edit) < 250_000
    shown = ModalMetadata.model_validate_json(edit["private_metadata"]).draft_parts
    by_id = {b.get("block_id"): b for b in edit["blocks"]}
    submitted = [by_id[draft_block_id(i)]["element"].get("initial_value", "") for i in range(shown)]
    assert draft_from_inputs(view.escalation.model_draft, submitted) == view.escalation.model_draft


@settings(max_examples=60, deadline=None)
@given(texts(100_000))
def test_a_draft_splits_into_inputs_and_back(draft: str) -> None:
    parts, _ = split_for_inputs(draft)
    assert all(slack_len(p) <= 3000 and p == p.strip() for p in parts)
    assert draft_from_inputs(draft, parts) == draft


@settings(max_examples=40, deadline=None)
@given(
    texts(80),
    texts(128),
    MENTIONS,
    st.sampled_from(
        [
            None,
            "https://hitl.slack.com/archives/C0/p1",
            "https://x.example.com/" + "a" * 600,
            "https://x.example.com/a|b",
        ]
    ),
)
def test_paging_messages_fit(name: str, case_id: str, people: list[str], permalink: str | None) -> None:
    deadline = NOW - timedelta(days=36_500)
    fits_message(build_reminder(deadline, NOW, people))
    fits_message(build_repage(case_id, deadline, NOW, 100, 100, people))
    fits_message(build_escalation_note(6, name, "C0PAGED", permalink))
    fits_message(build_unhandled_alert(case_id, name, 6, 100, permalink, people))
    fits_view(build_notice_modal(name, f"You're not a reviewer for {name}, so you can't decide this case."))


# ---- ops answers and the digest, at their largest ------------------------------------------------------------


def _switch(i: int, unit: str) -> ActiveSwitch:
    return ActiveSwitch(
        i,
        Scope("tenant", "t" * 150),
        Mode.OFF if i % 2 else Mode.HUMAN_ONLY,
        (unit * MAX_REASON)[:MAX_REASON],
        "U" + "A" * 20,
        None,
        NOW,
    )


@pytest.mark.parametrize("unit", ["&<>", "😀", "x"])
def test_ops_answers_fit_at_their_largest(unit: str) -> None:
    switches = tuple(_switch(i, unit) for i in range(50))
    load = [QueueLoad("q" * 40, t, unit * 80, 10**9) for t in range(1, 11) for _ in range(12)]
    cases = [
        PendingCase(
            "c" * 128, "q" * 40, 10, NOW - timedelta(days=400), "U" + "A" * 20, "https://x.example.com/" + "a" * 480
        )
        for _ in range(30)
    ]
    fits_message(build_help())
    status = fits_message(build_status(switches, load, cases[0], 10**9, NOW))
    assert "more pauses" in str(status) and "more queue tiers" in str(status)
    listing = fits_message(build_queue_listing("q" * 40, cases, 10**9, NOW))
    assert "more" in str(listing)
    fits_message(build_queue_listing(None, [], 0, NOW))
    fits_message(build_kill_announcement(switches[0]))
    fits_message(build_resume_announcement(switches[1], "U0OPS1", unit * 4000))
    fits_message(
        build_dead_letter_notice(
            10**12, "post_card", "c" * 128, "https://receiver.example.com/" + unit * 500, unit * 5000
        )
    )
    fits_view({**build_kill_modal("skill:" + "😀" * 150), "private_metadata": "{}"})


def _figures(queues: int, unit: str) -> dict[str, Any]:
    row = {
        "received": 10**12,
        "decided": 10**12,
        "approved": 10**12,
        "edited": 10**12,
        "rejected": 10**12,
        "pending": 10**12,
        "sla_breaches": 10**12,
        "sla_miss_rate": 1e308,
        "median_time_to_decision_s": 1e308,
        "p90_time_to_decision_s": None,
        "draft_acceptance_rate": -0.0,
        "mean_edit_distance": 1e308,
        "escalation_trend": {"prior_7d_average": 1e308, "change": 1e308, "flagged": True},
    }
    start = datetime(2026, 11, 20, tzinfo=UTC)
    return {
        "window": {
            "start": start.isoformat(),
            "end": (start + timedelta(days=1)).isoformat(),
            "timezone": "America/Argentina/ComodRivadavia",
        },
        "queues": {f"{'q' * 36}{i:04d}": row for i in range(queues)},
        "totals": row,
        "audit_anchor": f"{10**12}:{'f' * 64}",
        "top_reasons": [{"reason": unit * 20_000, "count": 10**9}] * 5,
        "top_rejection_categories": [{"category": unit * 200, "count": 10**9}] * 5,
        "oldest_pending": [
            {
                "case_id": "c" * 128,
                "queue": "q" * 40,
                "tier": 10,
                "received_at": start.isoformat(),
                "link": "https://x.example.com/" + "a" * 2000,
            }
        ]
        * 5,
        "reviewer_load": [{"slack_user_id": "U" + "A" * 20, "name": None, "decisions": 10**9}] * 200,
        "killswitch": [
            {"action": "killed", "scope": "tenant:" + "t" * 150, "by": "U" + "A" * 20, "at": start.isoformat()}
        ]
        * 20,
    }


@pytest.mark.parametrize("queues", [0, 1, 36, 80])
@pytest.mark.parametrize("unit", ["&<>", "😀👩‍👩‍👧"])
def test_the_digest_fits_at_its_largest(queues: int, unit: str) -> None:
    blocks = fits_message(build_digest(_figures(queues, unit), title="hitl digest · " + "q" * 40, now=NOW))
    assert "Audit trail head" in str(blocks[-1])


def test_an_empty_day_is_a_short_digest() -> None:
    figures = _figures(3, "x")
    figures["totals"] = {**figures["totals"], "received": 0, "decided": 0, "pending": 4}
    text, blocks = build_digest(figures, title="hitl digest", now=NOW)
    assert "No escalations in this period. 4 case(s) still pending." in text and len(blocks) == 3
