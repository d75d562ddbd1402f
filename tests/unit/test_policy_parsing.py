"""The routing policy file (bot/policy.py): what it accepts, how each mistake is named, what a tier inherits."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.cli import main
from bot.outbound import OutboundRules
from bot.policy import PolicyError, load_policy, parse_policy
from tests.support import ISSUE_POLICY_YAML


def test_the_issue_policy_works_as_written(tmp_path: Path) -> None:
    path = tmp_path / "hitl.yml"
    path.write_text(ISSUE_POLICY_YAML)
    policy = load_policy(path)
    assert [q.name for q in policy.queues] == ["billing", "legal", "general"]
    assert policy.route({"skill": "billing"}).name == "billing"
    assert policy.route({"skill": "legal", "risk_level": "high"}).name == "legal"
    assert policy.route({"skill": "legal", "risk_level": "critical"}).name == "legal"
    # First match wins: low-risk legal falls through to the catch-all.
    assert policy.route({"skill": "legal", "risk_level": "low"}).name == "general"
    assert policy.route({}).name == "general"
    assert policy.queue("billing").tiers[1].sla == timedelta(hours=1)
    assert policy.queue("legal").approve_checklist[0].startswith("Verified")
    assert policy.ops.operators == ["U0OPS1"]


def test_match_on_tenant_and_language() -> None:
    policy = parse_policy(
        {
            "queues": [
                {
                    "name": "de",
                    "match": {"tenant_id": ["acme", "globex"], "language": "de"},
                    "tiers": [{"name": "t", "channel": "C0DE", "reviewers": ["U0A"], "sla": "1h"}],
                },
                {"name": "rest", "tiers": [{"name": "t", "channel": "C0REST", "reviewers": ["U0A"], "sla": "1h"}]},
            ]
        }
    )
    assert policy.route({"tenant_id": "acme", "language": "de"}).name == "de"
    assert policy.route({"tenant_id": "acme", "language": "en"}).name == "rest"
    assert policy.route({"tenant_id": "initech", "language": "de"}).name == "rest"


@pytest.mark.parametrize(
    "mutation, message",
    [
        (
            lambda p: p["queues"][0]["tiers"][0].update(sla="4 hours"),
            "queues[0].tiers[0].sla: '4 hours' is not a duration",
        ),
        (lambda p: p["queues"][0].update(colour="red"), "queues[0].colour: unknown key"),
        (lambda p: p["queues"][0]["tiers"][0].update(reviewers=["dana"]), "is not a Slack user ID"),
        (lambda p: p["queues"][0]["tiers"][0].update(channel="#billing"), "is not a Slack channel ID"),
        (lambda p: p["queues"].append(dict(p["queues"][0])), "queue name 'billing' is used twice"),
        (lambda p: p["queues"][0].update(tiers=[]), "queues[0].tiers"),
        (lambda p: p["queues"][0]["match"].update(skil="x"), "queues[0].match.skil: unknown key"),
    ],
)
def test_policy_errors_name_their_place(mutation, message: str) -> None:
    data = {
        "queues": [
            {
                "name": "billing",
                "match": {"skill": "billing"},
                "tiers": [{"name": "t1", "channel": "C0BILLING", "reviewers": ["U0SME1"], "sla": "4h"}],
            }
        ]
    }
    mutation(data)
    with pytest.raises(PolicyError) as err:
        parse_policy(data, "hitl.yml")
    assert message in str(err.value)
    assert str(err.value).startswith("hitl.yml: ")


def test_check_policy_prints_the_routing_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "hitl.yml"
    path.write_text(ISSUE_POLICY_YAML)
    assert main(["check-policy", str(path)]) == 0
    out = capsys.readouterr().out
    assert "1. billing  when skill=billing" in out
    assert "tier 2: Billing SME  channel C0BILLESC  sla 1h" in out


def test_check_policy_bad_file_is_one_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.yml"
    path.write_text("queues:\n  - name: x\n    tiers: [{name: a, channel: C0X, reviewers: [U0A], sla: soon}]\n")
    assert main(["check-policy", str(path)]) == 2
    err = capsys.readouterr().err
    assert (
        err.strip() == f"hitl: {path}: queues[0].tiers[0].sla: 'soon' is not a duration "
        "(use s, m, h, d: e.g. 90s, 30m, 4h, 1d, 1h30m)"
    )
    assert "Traceback" not in err


# ---- validation: every bad value names its place ---------------------------------------------------------------


def _queue(**fields: Any) -> dict[str, Any]:
    return {"name": "q", "tiers": [{"name": "t1", "channel": "C0Q", "reviewers": ["U0A"], "sla": "1h"}], **fields}


@pytest.mark.parametrize(
    "data, message",
    [
        ({"queues": []}, "queues: List should have at least 1 item"),
        ({"queues": [_queue(name="has space")]}, "queues[0].name: String should match pattern"),
        ({"queues": [_queue(name="q" * 41)]}, "queues[0].name: String should have at most 40 characters"),
        (
            {"queues": [_queue(business_hours={"timezone": "Mars/Olympus"})]},
            "queues[0].business_hours.timezone: 'Mars/Olympus' is not an IANA time zone",
        ),
        (
            {"queues": [_queue(business_hours={"timezone": "UTC", "start": "17:00", "end": "09:00"})]},
            "queues[0].business_hours: start must be before end",
        ),
        (
            {"queues": [_queue(business_hours={"timezone": "UTC", "start": "9am"})]},
            "'9am' is not a time of day like 09:00",
        ),
        ({"queues": [_queue(business_hours={"timezone": "UTC", "days": "fri-mon"})]}, "'fri-mon' runs backwards"),
        (
            {"queues": [_queue(business_hours={"timezone": "UTC", "days": "weekdays"})]},
            "'weekdays' is not a day or range of days",
        ),
        ({"queues": [_queue(remind_at=1)]}, "queues[0].remind_at: Input should be less than 1"),
        ({"queues": [_queue(max_repeats=101)]}, "queues[0].max_repeats: Input should be less than or equal to 100"),
        ({"queues": [_queue(repeat_every=30)]}, "queues[0].repeat_every: write durations with a unit"),
        (
            {"queues": [_queue(approve_checklist=["x" * 76])]},
            "queues[0].approve_checklist[0]: String should have at most 75 characters",
        ),
        (
            {"queues": [_queue(approve_checklist=["x"] * 11)]},
            "queues[0].approve_checklist: List should have at most 10 items",
        ),
        ({"queues": [_queue(webhook_url="http://127.0.0.1/hook")]}, "queues[0].webhook_url: "),
        (
            {"queues": [_queue()], "ops": {"channel": "C0OPS", "operators": ["ops-team"]}},
            "ops.operators[0]: 'ops-team' is not a Slack user ID",
        ),
        (
            {"queues": [_queue()], "digest": {"channel": "C0D", "at": "25:00"}},
            "digest.at: '25:00' is not a time of day",
        ),
        (
            {"queues": [_queue()], "scheduler": {"sweep_every": "0s"}},
            "scheduler.sweep_every: '0s' must be longer than zero",
        ),
        ({"queues": [_queue()], "colour": "red"}, "colour: unknown key"),
    ],
)
def test_each_bad_value_is_named(data: dict[str, Any], message: str) -> None:
    with pytest.raises(PolicyError) as err:
        parse_policy(data, "hitl.yml")
    assert message in str(err.value), str(err.value)


def test_every_bad_place_is_listed_one_per_line() -> None:
    data = {
        "queues": [
            _queue(colour="red"),
            {"name": "b", "tiers": [{"name": "", "channel": "#x", "reviewers": [], "sla": "soon"}]},
        ]
    }
    with pytest.raises(PolicyError) as err:
        parse_policy(data, "p.yml")
    lines = str(err.value).splitlines()
    assert len(lines) == 5 and all(line.startswith("p.yml: queues[") for line in lines), lines


@pytest.mark.parametrize("data", [None, [], "queues", 3])
def test_a_file_that_is_not_a_mapping_says_so(data: Any) -> None:
    with pytest.raises(PolicyError, match=r"^p\.yml: expected a mapping with a `queues:` list at the top level$"):
        parse_policy(data, "p.yml")


def test_a_webhook_url_to_a_private_address_is_allowed_only_when_the_operator_allows_it() -> None:
    data = {"queues": [_queue(webhook_url="http://10.0.0.5/hook")]}
    with pytest.raises(PolicyError):
        parse_policy(data)
    assert (
        str(parse_policy(data, outbound=OutboundRules(allow_private=True)).queues[0].webhook_url)
        == "http://10.0.0.5/hook"
    )


def test_yaml_errors_give_the_line(tmp_path: Path) -> None:
    path = tmp_path / "hitl.yml"
    path.write_text("queues:\n  - name: a\n    tiers: [\n")
    with pytest.raises(PolicyError, match=r"not valid YAML at line \d+, column \d+$"):
        load_policy(path)
    with pytest.raises(PolicyError, match="policy file not found"):
        load_policy(tmp_path / "missing.yml")


# ---- timing: a tier inherits from its queue, then the defaults -------------------------------------------------


def test_tier_settings_override_the_queue_and_the_queue_overrides_the_defaults() -> None:
    hours = {"timezone": "Europe/Berlin"}
    policy = parse_policy(
        {
            "queues": [
                {
                    "name": "q",
                    "remind_at": 0.5,
                    "max_repeats": 5,
                    "business_hours": hours,
                    "tiers": [
                        {
                            "name": "t1",
                            "channel": "C0A",
                            "reviewers": ["U0A"],
                            "sla": "1h",
                            "remind_at": 0.9,
                            "max_repeats": 0,
                        },
                        {"name": "t2", "channel": "C0B", "reviewers": ["S0B"], "sla": "2h", "repeat_every": "10m"},
                    ],
                },
                {"name": "plain", "tiers": [{"name": "t", "channel": "C0C", "reviewers": ["W0C"], "sla": "1d"}]},
            ]
        }
    )
    first, second = policy.queue("q").timing(1), policy.queue("q").timing(2)
    assert (first.sla, first.remind_at, first.max_repeats, first.repeat_every) == (
        timedelta(hours=1),
        0.9,
        0,
        timedelta(minutes=30),
    )
    assert (second.sla, second.remind_at, second.max_repeats, second.repeat_every) == (
        timedelta(hours=2),
        0.5,
        5,
        timedelta(minutes=10),
    )
    assert first.business_hours is not None and first.business_hours.timezone == "Europe/Berlin"
    plain = policy.queue("plain").timing(1)
    assert (plain.remind_at, plain.max_repeats, plain.repeat_every, plain.business_hours) == (
        0.75,
        3,
        timedelta(minutes=30),
        None,
    )


def test_tier_numbers_are_clamped_to_the_queues_tiers() -> None:
    queue = parse_policy(yaml.safe_load(ISSUE_POLICY_YAML)).queue("billing")
    assert queue is not None
    assert [queue.tier(n).name for n in (0, 1, 2, 3, 99)] == [
        "Support specialist",
        "Support specialist",
        "Billing SME",
        "Billing SME",
        "Billing SME",
    ]
