from datetime import timedelta
from pathlib import Path

import pytest

from bot.cli import main
from bot.durations import format_duration, parse_duration
from bot.policy import PolicyError, load_policy, parse_policy
from tests.conftest import ISSUE_POLICY_YAML


@pytest.mark.parametrize(
    "text, seconds",
    [("90s", 90), ("30m", 1800), ("4h", 14400), ("1d", 86400), ("1h30m", 5400), (" 2H ", 7200)],
)
def test_durations_people_write(text: str, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "4", "4x", "h4", "-1h", "0s", "1.5h"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_duration_round_trip() -> None:
    assert format_duration(parse_duration("1d2h3m4s")) == "1d2h3m4s"


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
                {"name": "de", "match": {"tenant_id": ["acme", "globex"], "language": "de"}, "tiers": [{"name": "t", "channel": "C0DE", "reviewers": ["U0A"], "sla": "1h"}]},
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
        (lambda p: p["queues"][0]["tiers"][0].update(sla="4 hours"), "queues[0].tiers[0].sla: '4 hours' is not a duration"),
        (lambda p: p["queues"][0].update(colour="red"), "queues[0].colour: unknown key"),
        (lambda p: p["queues"][0]["tiers"][0].update(reviewers=["dana"]), "is not a Slack user ID"),
        (lambda p: p["queues"][0]["tiers"][0].update(channel="#billing"), "is not a Slack channel ID"),
        (lambda p: p["queues"].append(dict(p["queues"][0])), "queue name 'billing' is used twice"),
        (lambda p: p["queues"][0].update(tiers=[]), "queues[0].tiers"),
        (lambda p: p["queues"][0]["match"].update(skil="x"), "queues[0].match.skil: unknown key"),
    ],
)
def test_policy_errors_name_their_place(mutation, message: str) -> None:
    data = {"queues": [{"name": "billing", "match": {"skill": "billing"}, "tiers": [{"name": "t1", "channel": "C0BILLING", "reviewers": ["U0SME1"], "sla": "4h"}]}]}
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
    assert err.strip() == f"hitl: {path}: queues[0].tiers[0].sla: " "'soon' is not a duration (use s, m, h, d: e.g. 90s, 30m, 4h, 1d, 1h30m)"
    assert "Traceback" not in err
