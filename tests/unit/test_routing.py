"""Routing: which queue an escalation goes to (the policy's matches, first match wins), and which kill switches
cover it (scopes, `off` over `human-only`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.pauses import MAX_REASON, ActiveSwitch, KillArgs, Mode, Scope, check_reason, evaluate, parse_kill_args
from bot.policy import Match, parse_policy
from tests.support import ISSUE_POLICY_YAML

KEYS = ("skill", "risk_level", "tenant_id", "language")
VALUES = ("a", "b", "c")


def _policy(matches: list[dict[str, Any]]) -> Any:
    tiers = [{"name": "t", "channel": "C0X", "reviewers": ["U0A"], "sla": "1h"}]
    return parse_policy({"queues": [{"name": f"q{i}", "match": m, "tiers": tiers} for i, m in enumerate(matches)]})


def test_the_issue_policy_routes_as_its_comments_say() -> None:
    policy = parse_policy(yaml.safe_load(ISSUE_POLICY_YAML))
    cases = [
        ({"skill": "billing"}, "billing"),
        ({"skill": "billing", "risk_level": "critical", "tenant_id": "acme"}, "billing"),
        ({"skill": "legal", "risk_level": "high"}, "legal"),
        ({"skill": "legal", "risk_level": "critical"}, "legal"),
        ({"skill": "legal", "risk_level": "medium"}, "general"),
        ({"skill": "legal"}, "general"),  # no risk level: the legal queue wants one
        ({"skill": "Billing"}, "general"),  # values are compared exactly
        ({"skill": None}, "general"),
        ({}, "general"),
    ]
    for context, queue in cases:
        routed = policy.route(context)
        assert routed is not None and routed.name == queue, context
    assert policy.has_catch_all


def test_without_a_catch_all_an_unmatched_escalation_has_no_queue() -> None:
    policy = _policy([{"skill": "billing"}, {"tenant_id": ["acme", "globex"]}])
    assert policy.route({"skill": "legal", "tenant_id": "initech"}) is None
    assert policy.route({"tenant_id": "globex"}).name == "q1"
    assert not policy.has_catch_all


def test_an_empty_list_matches_nothing() -> None:
    assert not Match(skill=[]).matches({"skill": "billing"})
    assert Match().matches({"anything": "at all"})


def _reference_matches(match: dict[str, Any], context: dict[str, Any]) -> bool:
    for key, wanted in match.items():
        allowed = [wanted] if isinstance(wanted, str) else wanted
        if context.get(key) not in allowed:
            return False
    return True


MATCHES = st.lists(
    st.dictionaries(
        st.sampled_from(KEYS),
        st.one_of(st.sampled_from(VALUES), st.lists(st.sampled_from(VALUES), min_size=1, max_size=3)),
    ),
    min_size=1,
    max_size=6,
)
CONTEXTS = st.dictionaries(st.sampled_from(KEYS), st.one_of(st.none(), st.sampled_from(VALUES)))


@given(MATCHES, CONTEXTS)
def test_the_first_queue_whose_every_key_matches_wins(matches: list[dict[str, Any]], context: dict[str, Any]) -> None:
    expected = next((f"q{i}" for i, m in enumerate(matches) if _reference_matches(m, context)), None)
    routed = _policy(matches).route(context)
    assert (routed.name if routed else None) == expected


# ---- kill-switch scopes --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, scope",
    [
        ("all", Scope("all")),
        (" ALL ", Scope("all")),
        ("queue:billing", Scope("queue", "billing")),
        ("tenant:acme", Scope("tenant", "acme")),
        ("model:gpt-4o:2026", Scope("model", "gpt-4o:2026")),
        ("skill:" + "x" * 150, Scope("skill", "x" * 150)),
    ],
)
def test_scopes_people_write(text: str, scope: Scope) -> None:
    assert Scope.parse(text) == scope
    assert Scope.parse(str(scope)) == scope


@pytest.mark.parametrize(
    "text",
    [
        "",
        "everything",
        "queue:",
        "queue",
        "tenants:acme",
        "Queue:billing",
        "tenant:a b",
        "skill:" + "x" * 151,
        "tenant:ac\x00me",
        "model:\x7f",
    ],
)
def test_bad_scopes_are_value_errors_without_control_characters(text: str) -> None:
    with pytest.raises(ValueError, match="is not a scope") as err:
        Scope.parse(text)
    assert "\x00" not in str(err.value) and "\x7f" not in str(err.value)


def _switch(scope: str, mode: Mode, id_: int = 1) -> ActiveSwitch:
    return ActiveSwitch(id_, Scope.parse(scope), mode, "why", "U0OPS1", None, datetime(2026, 11, 21, tzinfo=UTC))


def test_off_wins_over_human_only_and_only_matching_switches_count() -> None:
    switches = (
        _switch("tenant:acme", Mode.HUMAN_ONLY, 1),
        _switch("model:gpt", Mode.OFF, 2),
        _switch("queue:legal", Mode.OFF, 3),
    )
    assert evaluate(switches, {"tenant": "globex"}).paused is False
    human = evaluate(switches, {"tenant": "acme", "model": "other"})
    assert (human.paused, human.mode, [s.id for s in human.matched]) == (True, Mode.HUMAN_ONLY, [1])
    both = evaluate(switches, {"tenant": "acme", "model": "gpt"})
    assert (both.mode, [s.id for s in both.matched]) == (Mode.OFF, [1, 2])
    assert evaluate((_switch("all", Mode.HUMAN_ONLY),), {}).mode is Mode.HUMAN_ONLY
    assert both.to_json(detail=False) == {"paused": True, "mode": "off"}


@pytest.mark.parametrize(
    "text, args",
    [
        ("", KillArgs(Scope("all"), Mode.HUMAN_ONLY, "")),
        ("tenant:acme refunds look wrong", KillArgs(Scope("tenant", "acme"), Mode.HUMAN_ONLY, "refunds look wrong")),
        ("mode:off model:gpt PII leak", KillArgs(Scope("model", "gpt"), Mode.OFF, "PII leak")),
        ("model:gpt MODE:OFF PII leak", KillArgs(Scope("model", "gpt"), Mode.OFF, "PII leak")),
        ("all because", KillArgs(Scope("all"), Mode.HUMAN_ONLY, "because")),
        (
            "the queue:billing is odd",
            KillArgs(Scope("all"), Mode.HUMAN_ONLY, "the queue:billing is odd"),
        ),  # scope only up front
    ],
)
def test_kill_arguments(text: str, args: KillArgs) -> None:
    assert parse_kill_args(text) == args


@pytest.mark.parametrize(
    "text, problem",
    [
        ("mode:sideways", "is not a mode"),
        ("tenants:acme why", "is not a scope"),
        ("all " + "r" * (MAX_REASON + 1), "keep it to 1,000"),
        ("all nul\x00", "control characters"),
    ],
)
def test_bad_kill_arguments_say_what_is_wrong(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_kill_args(text)


def test_a_reason_keeps_line_breaks_and_tabs() -> None:
    assert check_reason("line one\n\tline two") == "line one\n\tline two"
    assert check_reason("r" * MAX_REASON) == "r" * MAX_REASON
