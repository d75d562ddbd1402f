"""Every render fits, for every valid input: generated escalations and states at the limits go through every
builder in blocks/, and the emulator's Block Kit checks (Slack's limits, slack_emulator/blockkit.py) accept each.

Inputs are valid per bot/domain/escalation.py and the policy model, biased to the limits and to hostile shapes:
maximum lengths, all-whitespace and newline-only text, `&<>` (which triples when escaped), emoji and other
astral characters (2 units each), zero-width and right-to-left marks, mrkdwn control characters, 50 evidence
items, 50 action arguments of nested JSON, huge and negative-zero numbers, many reviewers. The end-to-end test
at the bottom posts worst cases (tests/unit/worst_cases.py) through the real app to the emulator; the same cases
go through each builder directly in tests/unit/test_block_limits.py.

`HITL_RENDER_EXAMPLES` sets how many examples each property runs (default 60).
"""

from __future__ import annotations

import json
import os
import string
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blocks.budget import line_sections, message_cost
from blocks.card import CardView, PageView, build_minimal_card, build_review_card
from blocks.digest import build_digest
from blocks.ids import ActionId, ModalMetadata
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
    build_help,
    build_kill_announcement,
    build_kill_modal,
    build_queue_listing,
    build_resume_announcement,
    build_status,
)
from blocks.paging import build_escalation_note, build_reminder, build_repage, build_unhandled_alert
from blocks.text import fit, label, mentions, number, plain, text_len, visible
from bot.domain.cases import CaseStatus, Decision, RejectReason, SlackUser
from bot.domain.escalation import Escalation
from bot.domain.pauses import ActiveSwitch, Mode, Scope
from slack_emulator.blockkit import Limits, check_message, check_view, slack_len
from tests.support import Harness
from tests.test_review_loop import open_modal
from tests.test_sla import posts_to, sweep_at
from tests.unit.worst_cases import WHITESPACE_DRAFTS, WORST, worst_case

EXAMPLES = int(os.environ.get("HITL_RENDER_EXAMPLES", "60"))
LIMITS = Limits()
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
RENDERED = {"inputs": 0, "renders": 0}

ALPHABETS = [
    string.ascii_letters + string.digits + " .,",
    " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2000\u2028\u2029\u3000",
    "\n",
    "&<>",
    "😀🏳️‍🌈👩‍👩‍👧𝕏🀄",
    "\u200b\u200c\u200d\u2060\ufeff",
    "\u200f\u202e\u2066\u2067\u061c",
    "*_~`>|:",
    "ab &<>\n 😀\u200b\u202e*_~`é日本" + "\u3000",
]

property_settings = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)


@pytest.fixture(scope="module", autouse=True)
def _report() -> Any:
    yield
    print(
        f"\nrenders: {RENDERED['inputs']} generated inputs, {RENDERED['renders']} renders, each accepted by the "
        f"emulator"
    )


@st.composite
def hostile(draw: st.DrawFn, max_size: int, min_size: int = 1, alphabets: list[str] = ALPHABETS) -> str:
    """A string of a hostile shape, most often at its maximum length."""
    alphabet = draw(st.sampled_from(alphabets))
    size = draw(st.one_of(st.just(max_size), st.integers(min_size, max_size)))
    unit = draw(st.text(alphabet=alphabet, min_size=1, max_size=12))
    return (unit * (size // len(unit) + 1))[:size]


def sized_lists(element: st.SearchStrategy[Any], max_size: int) -> st.SearchStrategy[list[Any]]:
    return st.one_of(st.just(max_size), st.integers(0, max_size)).flatmap(
        lambda n: st.lists(element, min_size=n, max_size=n)
    )


def unique_keys(keys: list[str]) -> list[str]:
    out: list[str] = []
    for index, key in enumerate(keys):
        out.append(key if key not in out else f"{key[:120]}{index}")
    return out


NUMBERS = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([1e308, -1e308, -0.0, 5e-324, 1e16, 123456789012345678.0]),
    st.integers(),
    st.sampled_from([10**4000, -(10**4000), 10**23, 10**24, 0]),
)
JSON = st.recursive(
    st.none() | st.booleans() | NUMBERS | hostile(5000, min_size=0),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=20,
)
URLS = st.builds(
    lambda host, path: f"https://{host}.example.com/{path}",
    st.text(alphabet=string.ascii_lowercase, min_size=1, max_size=20),
    hostile(2000, min_size=0, alphabets=[string.ascii_letters + "/?=&%|-_.~!$'()*+,;:@", "a", "%7C|"]),
)


def ids(first: str, rest: list[str], max_size: int, min_size: int = 0) -> st.SearchStrategy[str]:
    return st.builds(str.__add__, st.sampled_from(first), hostile(max_size - 1, min_size=min_size, alphabets=rest))


PRINCIPALS = ids("UWS", [string.ascii_uppercase + string.digits, "0"], 21, min_size=2)
USERS = ids("UW", [string.ascii_uppercase + string.digits], 21, min_size=2)
CHANNELS = ids("C", [string.ascii_uppercase + string.digits], 13, min_size=8)


def _unambiguous(case_id: str) -> str:
    """The generated id with every empty, '.' or '..' path segment made a plain one (ingest refuses those)."""

    def fix(text: str) -> str:
        return "/".join(
            segment if segment not in ("", ".", "..") else "x" * max(len(segment), 1) for segment in text.split("/")
        )

    return fix(fix(case_id)[:128].rstrip("/"))


CASE_IDS = ids(
    string.ascii_letters + string.digits, [string.ascii_letters + string.digits + "._:@/-", "/", ".:@", "-_"], 128
).map(_unambiguous)
QUEUES = ids(string.ascii_letters + string.digits + "_.-", [string.ascii_letters + string.digits + "_.-", "."], 40)
WHEN = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC))


@st.composite
def action_args(draw: st.DrawFn) -> dict[str, Any]:
    keys = unique_keys(draw(sized_lists(hostile(128), 50)))
    return {key: draw(JSON) for key in keys}


@st.composite
def escalations(draw: st.DrawFn) -> Escalation:
    evidence = st.fixed_dictionaries(
        {"document_id": hostile(256), "quote": hostile(20_000, min_size=0)},
        optional={
            "score": st.one_of(
                st.floats(allow_nan=False, allow_infinity=False), st.sampled_from([1e308, -1e308, -0.0])
            ),
            "url": URLS,
        },
    )
    body: dict[str, Any] = {
        "case_id": draw(CASE_IDS),
        "model_draft": draw(hostile(100_000)),
        "reason_for_escalation": draw(hostile(20_000)),
        "evidence": draw(sized_lists(evidence, 50)),
    }
    optional = {
        "tenant_id": hostile(128),
        "skill": hostile(64),
        "language": hostile(35),
        "user_question": hostile(20_000),
        "risk_level": st.sampled_from(["low", "medium", "high", "critical"]),
        "model": st.fixed_dictionaries({"name": hostile(256)}, optional={"version": hostile(256, min_size=0)}),
        "confidence": st.floats(0, 1),
        "impact": st.fixed_dictionaries(
            {},
            optional={
                "dollars": st.one_of(st.floats(0, 1e308), st.just(-0.0)),
                "users_affected": st.one_of(st.integers(0, 10**20), st.just(10**4000)),
                "compliance_risk": st.one_of(st.booleans(), hostile(5000)),
            },
        ),
        "proposed_action": st.fixed_dictionaries({"action": hostile(128), "args": action_args()}),
        "callback_url": URLS,
    }
    for key, strategy in optional.items():
        if draw(st.booleans()):
            body[key] = draw(strategy)
    return Escalation.model_validate(body)


@st.composite
def decisions(draw: st.DrawFn, escalation: Escalation) -> Decision | None:
    outcome = draw(st.sampled_from([None, "approved", "edited", "rejected"]))
    if outcome is None:
        return None
    proposed = escalation.proposed_action
    final_action = None
    if proposed is not None and outcome != "rejected":
        edited = draw(st.booleans())
        final_action = {
            "action": proposed.action,
            "args": {k: draw(JSON) for k in proposed.args} if edited else proposed.args,
        }
    return Decision(
        outcome=CaseStatus(outcome),
        decided_by=SlackUser(draw(USERS)),
        decided_at=draw(WHEN),
        tier=1,
        final_text=draw(hostile(100_000)) if outcome == "edited" else escalation.model_draft,
        reason=draw(st.one_of(st.sampled_from([r.value for r in RejectReason]), hostile(200)))
        if outcome == "rejected"
        else None,
        note=draw(st.one_of(st.none(), hostile(3000))),
        checklist=tuple(draw(st.lists(hostile(75), max_size=10))),
        final_action=final_action,
    )


@st.composite
def page_views(draw: st.DrawFn, tier: int) -> PageView:
    permalink = draw(
        st.one_of(st.none(), CHANNELS.map(lambda c: f"https://hitl.slack.com/archives/{c}/p1763729000000100"))
    )
    return PageView(tier, draw(hostile(80)), draw(CHANNELS), permalink)


@st.composite
def card_views(draw: st.DrawFn) -> CardView:
    escalation = draw(escalations())
    tier_count = draw(st.integers(1, 6))
    tier = draw(st.integers(1, tier_count))
    return CardView(
        case_id=escalation.case_id,
        escalation=escalation,
        queue=draw(QUEUES),
        tier=tier,
        tier_count=tier_count,
        tier_name=draw(hostile(80)),
        tier_deadline=draw(WHEN),
        received_at=draw(WHEN),
        decision=draw(decisions(escalation)),
        pages=tuple(draw(page_views(t)) for t in range(2, tier + 1)),
        claimed_by=draw(st.one_of(st.none(), USERS)),
        claimed_at=draw(st.one_of(st.none(), WHEN)),
        unhandled=draw(st.booleans()),
        paused_mode=draw(st.sampled_from([None, "human-only", "off"])),
    )


def accepted_message(rendered: tuple[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    text, blocks = rendered
    check_message(text, blocks, LIMITS)
    RENDERED["renders"] += 1
    return blocks


def accepted_view(view: dict[str, Any]) -> dict[str, Any]:
    check_view(view, LIMITS)
    RENDERED["renders"] += 1
    return view


@property_settings
@given(card_views(), st.lists(PRINCIPALS, max_size=60))
def test_cards_and_pages_fit(view: CardView, mentions: list[str]) -> None:
    RENDERED["inputs"] += 1
    accepted_message(build_review_card(view, NOW))
    page = PageView(view.tier + 1, view.tier_name, "C0PAGED", None)
    accepted_message(build_review_card(view, NOW, page_for=page, mentions=mentions))


@property_settings
@given(card_views(), st.lists(PRINCIPALS, max_size=60))
def test_the_minimal_card_fits_with_a_wide_margin(view: CardView, mentions: list[str]) -> None:
    RENDERED["inputs"] += 1
    api_path = f"GET /v1/escalations/{view.case_id}"
    page = PageView(view.tier + 1, view.tier_name, "C0PAGED", None)
    for rendered in (
        build_minimal_card(view, NOW, api_path=api_path),
        build_minimal_card(view, NOW, api_path=api_path, page_for=page, mentions=mentions),
    ):
        blocks = accepted_message(rendered)
        assert message_cost(blocks) <= 3000 and len(blocks) <= 8  # a quarter of Slack's budget, whatever the case holds
        assert "Content too large for Slack" in str(blocks)
        assert any(b["type"] == "actions" for b in blocks) == (view.decision is None)


@property_settings
@given(card_views(), st.lists(hostile(75), max_size=10), CHANNELS)
def test_decision_modals_fit(view: CardView, checklist: list[str], channel: str) -> None:
    RENDERED["inputs"] += 1
    meta = ModalMetadata(case_id=view.case_id, channel=channel, message_ts="1763729000.000100")
    accepted_view(build_approve_modal(view, checklist, meta))
    accepted_view(build_reject_modal(view, meta))
    edit = accepted_view(build_edit_modal(view, meta))
    # Submitting the Edit modal untouched gives back the draft exactly, every character of it.
    shown = ModalMetadata.model_validate_json(edit["private_metadata"]).draft_parts
    by_id = {b.get("block_id"): b for b in edit["blocks"]}
    submitted = [by_id[draft_block_id(i)]["element"].get("initial_value", "") for i in range(shown)]
    assert draft_from_inputs(view.escalation.model_draft, submitted) == view.escalation.model_draft


@property_settings
@given(hostile(100_000, alphabets=[*ALPHABETS, " a", "a\n\n\n", "\u3000x"]))
def test_a_draft_of_any_shape_splits_into_inputs_and_back(draft: str) -> None:
    RENDERED["inputs"] += 1
    parts, _seps = split_for_inputs(draft)
    assert all(slack_len(p) <= 3000 and p == p.strip() for p in parts)
    assert len(parts) <= 75  # 100,000 astral characters; ~38 for any other text
    assert draft_from_inputs(draft, parts) == draft


@property_settings
@given(hostile(20_000, min_size=0), st.integers(1, 3000), st.booleans())
def test_text_helpers_keep_their_limits(text: str, limit: int, escape: bool) -> None:
    assert text_len(fit(text, limit, escape=escape)) <= limit
    assert text_len(plain(text, limit)) <= limit
    assert visible(label(text or " ", 75)) and text_len(label(text or " ", 75)) <= 75
    assert text_len(mentions(["U" + "A" * (limit % 30 + 2)] * 60, limit)) <= max(limit, 8)
    lines = [fit(line, 500) for line in text.split("\n")[:200] if line] or ["x"]
    blocks = line_sections(lines, budget=max(limit * 3, 200))
    assert all(text_len(b["text"]["text"]) <= 3000 for b in blocks)
    assert number(10**4000) == "1.00e+4000" and number(-0.0, ".2f") == "-0.00"


@property_settings
@given(
    CASE_IDS,
    WHEN,
    st.lists(PRINCIPALS, max_size=60),
    hostile(80),
    QUEUES,
    st.one_of(st.none(), URLS),
    st.integers(1, 100),
)
def test_paging_messages_fit(
    case_id: str, deadline: datetime, people: list[str], tier_name: str, queue: str, permalink: str | None, n: int
) -> None:
    RENDERED["inputs"] += 1
    accepted_message(build_reminder(deadline, NOW, people))
    accepted_message(build_repage(case_id, deadline, NOW, n, 100, people))
    accepted_message(build_escalation_note(n, tier_name, "C0PAGED", permalink))
    accepted_message(build_unhandled_alert(case_id, queue, n, n, permalink, people))
    accepted_view(
        build_notice_modal(tier_name, f"You're not a reviewer for {tier_name}, so you can't decide this case.")
    )


SCOPES = st.one_of(
    st.just(Scope("all")),
    st.builds(
        Scope,
        st.sampled_from(["queue", "tenant", "model", "skill"]),
        hostile(150, alphabets=[string.printable.strip(), "&<>", "😀日"]).map(lambda s: "".join(s.split()) or "x"),
    ),
)
SWITCHES = st.builds(
    ActiveSwitch, st.integers(1, 10**9), SCOPES, st.sampled_from(list(Mode)), hostile(4000), USERS, st.none(), WHEN
)
PENDING = st.builds(
    PendingCase, CASE_IDS, QUEUES, st.integers(1, 10), WHEN, st.one_of(st.none(), USERS), st.one_of(st.none(), URLS)
)


@property_settings
@given(
    sized_lists(SWITCHES, 50),
    sized_lists(st.builds(QueueLoad, QUEUES, st.integers(1, 10), hostile(80), st.integers(0, 10**9)), 120),
    st.one_of(st.none(), PENDING),
    sized_lists(PENDING, 30),
    st.integers(0, 10**9),
    hostile(4000),
)
def test_ops_answers_fit(
    switches: list[ActiveSwitch],
    load: list[QueueLoad],
    oldest: PendingCase | None,
    cases: list[PendingCase],
    total: int,
    reason: str,
) -> None:
    RENDERED["inputs"] += 1
    accepted_message(build_help())
    accepted_message(build_status(tuple(switches), load, oldest, total, NOW))
    accepted_message(build_queue_listing(cases[0].queue if cases else None, cases, max(total, len(cases)), NOW))
    if switches:
        accepted_message(build_kill_announcement(switches[0]))
        accepted_message(build_resume_announcement(switches[0], "U0OPS1", reason))
        accepted_view({**build_kill_modal(str(switches[0].scope)), "private_metadata": "{}"})


RATES = st.one_of(st.none(), st.floats(0, 1), st.sampled_from([1e308, -0.0]))


@st.composite
def queue_figures(draw: st.DrawFn) -> dict[str, Any]:
    count = st.integers(0, 10**12)
    seconds = st.one_of(st.none(), st.floats(0, 1e308))
    return {
        "received": draw(count),
        "decided": draw(count),
        "approved": draw(count),
        "edited": draw(count),
        "rejected": draw(count),
        "pending": draw(st.integers(1, 10**12)),
        "sla_breaches": draw(count),
        "sla_miss_rate": draw(RATES),
        "median_time_to_decision_s": draw(seconds),
        "p90_time_to_decision_s": draw(seconds),
        "draft_acceptance_rate": draw(RATES),
        "mean_edit_distance": draw(RATES),
        "escalation_trend": {
            "prior_7d_average": draw(st.floats(0, 1e308)),
            "change": draw(st.one_of(st.none(), st.floats(-1, 1e308))),
            "flagged": draw(st.booleans()),
        },
    }


@st.composite
def digest_figures(draw: st.DrawFn) -> dict[str, Any]:
    names = draw(st.lists(QUEUES, max_size=80, unique=True))
    start = draw(WHEN)
    return {
        "window": {
            "start": start.isoformat(),
            "end": (start + timedelta(days=1)).isoformat(),
            "timezone": draw(st.sampled_from(["UTC", "Europe/Berlin", "America/Argentina/ComodRivadavia"])),
        },
        "queues": {name: draw(queue_figures()) for name in names},
        "totals": draw(queue_figures()),
        "audit_anchor": draw(st.one_of(st.none(), st.builds(lambda n: f"{n}:{'f' * 64}", st.integers(1, 10**12)))),
        "top_reasons": draw(
            st.lists(st.fixed_dictionaries({"reason": hostile(20_000), "count": st.integers(1, 10**9)}), max_size=5)
        ),
        "top_rejection_categories": draw(
            st.lists(
                st.fixed_dictionaries(
                    {
                        "category": st.one_of(st.sampled_from([r.value for r in RejectReason]), hostile(200)),
                        "count": st.integers(1, 10**9),
                    }
                ),
                max_size=5,
            )
        ),
        "oldest_pending": draw(
            st.lists(
                st.fixed_dictionaries(
                    {
                        "case_id": CASE_IDS,
                        "queue": QUEUES,
                        "tier": st.integers(1, 10),
                        "received_at": WHEN.map(datetime.isoformat),
                        "link": st.one_of(st.none(), URLS),
                    }
                ),
                max_size=5,
            )
        ),
        "reviewer_load": draw(
            st.lists(
                st.fixed_dictionaries({"slack_user_id": USERS, "name": st.none(), "decisions": st.integers(1, 10**9)}),
                max_size=200,
            )
        ),
        "killswitch": draw(
            st.lists(
                st.fixed_dictionaries(
                    {
                        "action": st.sampled_from(["killed", "resumed"]),
                        "scope": SCOPES.map(str),
                        "by": USERS,
                        "at": WHEN.map(datetime.isoformat),
                    }
                ),
                max_size=20,
            )
        ),
    }


@property_settings
@given(digest_figures(), st.one_of(st.just("hitl digest"), QUEUES.map(lambda q: f"hitl digest · {q}")))
def test_digests_fit(figures: dict[str, Any], title: str) -> None:
    RENDERED["inputs"] += 1
    accepted_message(build_digest(figures, title=title, now=NOW))


# ---- worst cases, end to end through the real app ------------------------------------------------------------


def _edited_value(block: dict[str, Any]) -> Any:
    element = block["element"]
    if element["type"] == "static_select":
        return "false" if element["initial_option"]["value"] == "true" else "true"
    if element["type"] == "number_input":
        return "-0" if element.get("initial_value") != "-0" else "1"
    hint = (block.get("hint") or {}).get("text")
    if hint == "JSON":
        return json.dumps([{"k": "&<>😀" * 100}] * 6, ensure_ascii=False)
    if hint == "A number":
        return str(10**30)  # a whole number reads as an int or a float
    return "&<>😀\u200b" * 500


async def test_worst_cases_end_to_end(hitl: Harness) -> None:
    """Worst-case escalations through the real app: card, reminder, page to tier 2, every modal, an edit that
    changes all 50 arguments, the decided card and page. The emulator refuses nothing (checked at teardown)."""
    bodies = [worst_case(f"worst-{name}", unit) for name, unit in WORST]
    bodies += [worst_case(f"worst-ws-{i}", "&<>", draft=draft) for i, draft in enumerate(WHITESPACE_DRAFTS)]
    for body in bodies:
        content = json.dumps(body, ensure_ascii=False).encode()
        assert len(content) < 1_000_000
        response = await hitl.api.post("/v1/escalations", content=content, headers={"Content-Type": "application/json"})
        assert response.status_code == 201, response.text
        await hitl.card(body["case_id"])
    await sweep_at(hitl, timedelta(hours=3))  # reminders
    await sweep_at(hitl, timedelta(hours=1))  # tier 1's SLA runs out: pages to tier 2, with mentions
    assert len(posts_to(hitl, "C0BILLESC")) == len(bodies)
    assert len([c for c in posts_to(hitl, "C0BILLING") if "Due in" in c.args["text"]]) == len(bodies)
    for body in bodies:
        case_id = body["case_id"]
        for action in (ActionId.APPROVE, ActionId.REJECT):
            await open_modal(hitl, "U0SME1", case_id, action)
        edit = await open_modal(hitl, "U0SME1", case_id, ActionId.EDIT)
        values = {b["block_id"]: _edited_value(b) for b in edit["blocks"] if b.get("block_id", "").startswith("arg_")}
        response = await hitl.slack.submit_view("U0SME1", edit["id"], {**values, "note": "&<>😀" * 600})
        assert response.status_code == 200 and not response.content, response.text
        await hitl.settle()
        status = await hitl.status(case_id)
        assert status["status"] == "edited" and status["decision"]["final_text"] == body["model_draft"]
        assert len(status["decision"]["note"]) == 2400  # 600 × "&<>😀": the note input's 3,000 units
    updates = hitl.emulator.calls_to("chat.update")
    assert updates and all(call.ok for call in updates)
    hitl.emulator.assert_no_rejections()
