"""The daily digest on a fixed data set, every figure computed by hand."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml

from bot.clock import ManualClock
from bot.compose import Hitl, build_hitl
from bot.domain.audit import SYSTEM, Actor
from bot.policy import DigestSettings, parse_policy
from bot.services.digest import anchors_in_slack, scheduled_window
from bot.startup import start_hitl
from store.audit import append_audit, chain_head, verify_chain
from store.models import Case
from tests.support import ISSUE_POLICY_YAML, Harness, escalation, make_settings, serve_hitl

UTC = UTC
BERLIN = DigestSettings(channel="C0DIGEST", at="09:00", timezone="Europe/Berlin")
# 2026-11-21 10:00 in Berlin (CET, UTC+1): the window is 20 Nov 09:00 → 21 Nov 09:00 Berlin = 08:00 → 08:00 UTC.
NOW = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
# Start a server here and it has no digest to catch up: the last one (08:00 UTC) is past its 6 h grace.
QUIET_START = NOW - timedelta(hours=12)


def t(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def policy_with_digest() -> Any:
    data = yaml.safe_load(ISSUE_POLICY_YAML)
    data["digest"] = {"channel": "C0DIGEST", "at": "09:00", "timezone": "Europe/Berlin"}
    return parse_policy(data)


async def add_case(
    rt: Hitl,
    case_id: str,
    queue: str,
    created: datetime,
    *,
    outcome: str | None = None,
    decided: datetime | None = None,
    sla: datetime | None = None,
    by: str = "U1",
    edit_ratio: float | None = None,
    reason: str = "Refund above limit",
    category: str | None = None,
) -> None:
    payload = escalation(case_id, reason_for_escalation=reason)
    async with rt.db.write.begin() as session:
        session.add(
            Case(
                case_id=case_id, payload=payload, payload_hash="x", queue=queue, tier=1, status=outcome or "pending",
                version=1, channel="C0X", sla_deadline=sla or created + timedelta(hours=4),
                tier_deadline=sla or created + timedelta(hours=4), outcome=outcome, decided_at=decided,
                decided_by=by if outcome else None, decided_by_name=by.lower() if outcome else None,
                edit_ratio=edit_ratio, reason=category, created_at=created, updated_at=decided or created,
            )
        )  # fmt: skip


async def fixed_data_set(rt: Hitl) -> None:
    # billing, in the window (received 5): durations 3600, 7200, 21600, 3600 s
    await add_case(rt, "b1", "billing", t(20, 8, 30), outcome="approved", decided=t(20, 9, 30), by="U1")
    await add_case(rt, "b2", "billing", t(20, 10), outcome="edited", decided=t(20, 12), by="U2", edit_ratio=0.2)
    await add_case(
        rt, "b3", "billing", t(20, 11), outcome="edited", decided=t(20, 17), sla=t(20, 15), by="U2", edit_ratio=0.4
    )  # late
    await add_case(
        rt, "b4", "billing", t(20, 12), outcome="rejected", decided=t(20, 13), by="U1", category="hallucination"
    )
    await add_case(rt, "b5", "billing", t(20, 20), reason="Angry customer")  # pending
    # billing, received before the window (counts in the 7-day baseline), decided in it after 86400 s, late
    await add_case(rt, "b6", "billing", t(19, 10), outcome="approved", decided=t(20, 10), sla=t(19, 14), by="U1")
    # 13 more billing cases in the 7 days before: baseline 14 / 7 = 2 a day
    for n in range(13):
        await add_case(
            rt,
            f"old{n}",
            "billing",
            t(14, 10) + timedelta(hours=n),
            outcome="approved",
            decided=t(14, 11) + timedelta(hours=n),
        )
    # legal: one approval after 600 s
    await add_case(
        rt, "l1", "legal", t(20, 9), outcome="approved", decided=t(20, 9, 10), by="U3", reason="Legal commitment"
    )
    async with rt.db.write.begin() as session:
        await append_audit(
            session, action="sla_breached", actor=SYSTEM, at=t(20, 15), case_id="b3", details={"tier": 1}
        )
        await append_audit(
            session, action="sla_breached", actor=SYSTEM, at=t(19, 14), case_id="b6", details={"tier": 1}
        )  # before the window
        await append_audit(
            session,
            action="killed",
            actor=Actor.slack("U0OPS1", "T1", "olga"),
            at=t(20, 16),
            details={"scope": "tenant:acme", "mode": "human-only", "reason": "drill"},
        )


async def test_every_figure_matches_the_hand_computed_value(db_url: str) -> None:
    rt = build_hitl(make_settings(db_url, "http://127.0.0.1:9/api/"), policy_with_digest(), ManualClock(NOW))
    await fixed_data_set(rt)
    window = scheduled_window(BERLIN, NOW)
    assert (window.start, window.end) == (t(20, 8), t(21, 8))
    figures = await rt.digests.compute_figures(window)
    billing = figures["queues"]["billing"]
    counted = ("received", "decided", "approved", "edited", "rejected", "pending", "sla_breaches")
    assert {k: billing[k] for k in counted} == {
        "received": 5, "decided": 5, "approved": 2, "edited": 2, "rejected": 1, "pending": 1, "sla_breaches": 1,
    }  # fmt: skip
    assert billing["sla_miss_rate"] == 0.4  # b3 and b6 decided after their deadline, of 5
    assert billing["median_time_to_decision_s"] == 7200  # sorted 3600 3600 7200 21600 86400: rank ceil(2.5)=3
    assert billing["p90_time_to_decision_s"] == 86400  # rank ceil(4.5)=5
    assert billing["draft_acceptance_rate"] == 0.4  # 2 approved unchanged of 5 decided
    assert billing["mean_edit_distance"] == 0.3  # (0.2 + 0.4) / 2
    assert billing["escalation_trend"] == {"prior_7d_average": 2.0, "change": 1.5, "flagged": True}  # (5 - 2) / 2
    legal = figures["queues"]["legal"]
    assert (
        legal["received"],
        legal["decided"],
        legal["median_time_to_decision_s"],
        legal["p90_time_to_decision_s"],
    ) == (1, 1, 600, 600)
    assert (
        legal["mean_edit_distance"] is None
        and legal["escalation_trend"]["change"] is None
        and legal["draft_acceptance_rate"] == 1.0
    )
    general = figures["queues"]["general"]
    assert (
        general["received"] == 0 and general["sla_miss_rate"] is None and general["median_time_to_decision_s"] is None
    )
    totals = figures["totals"]
    assert (
        totals["received"],
        totals["decided"],
        totals["approved"],
        totals["edited"],
        totals["rejected"],
        totals["pending"],
    ) == (6, 6, 3, 2, 1, 1)
    assert totals["sla_miss_rate"] == round(2 / 6, 4)
    assert totals["median_time_to_decision_s"] == 3600  # sorted 600 3600 3600 7200 21600 86400: rank 3
    assert totals["p90_time_to_decision_s"] == 86400  # rank ceil(5.4)=6
    assert totals["draft_acceptance_rate"] == 0.5 and totals["mean_edit_distance"] == 0.3
    assert totals["escalation_trend"]["change"] == 2.0  # (6 - 2) / 2
    assert figures["top_reasons"] == [
        {"reason": "Refund above limit", "count": 4},
        {"reason": "Angry customer", "count": 1},
        {"reason": "Legal commitment", "count": 1},
    ]
    assert figures["top_rejection_categories"] == [{"category": "hallucination", "count": 1}]
    assert [(r["slack_user_id"], r["decisions"]) for r in figures["reviewer_load"]] == [("U1", 3), ("U2", 2), ("U3", 1)]
    assert [c["case_id"] for c in figures["oldest_pending"]] == ["b5"]
    assert [(k["action"], k["scope"]) for k in figures["killswitch"]] == [("killed", "tenant:acme")]
    await rt.close()


def test_the_window_follows_the_local_day_across_dst() -> None:
    # Berlin leaves summer time on 25 Oct 2026: that local day has 25 hours.
    window = scheduled_window(BERLIN, datetime(2026, 10, 25, 12, 0, tzinfo=UTC))
    assert (window.start, window.end) == (
        datetime(2026, 10, 24, 7, 0, tzinfo=UTC),
        datetime(2026, 10, 25, 8, 0, tzinfo=UTC),
    )
    assert window.end - window.start == timedelta(hours=25)
    spring = scheduled_window(BERLIN, datetime(2026, 3, 29, 12, 0, tzinfo=UTC))
    assert spring.end - spring.start == timedelta(hours=23)
    # Before 09:00 local, the latest complete window is yesterday's.
    early = scheduled_window(BERLIN, datetime(2026, 11, 21, 7, 59, tzinfo=UTC))
    assert early.end == datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


async def test_a_case_in_the_dst_hour_is_counted(db_url: str) -> None:
    rt = build_hitl(make_settings(db_url, "http://127.0.0.1:9/api/"), policy_with_digest(), ManualClock())
    await add_case(rt, "dst", "billing", datetime(2026, 10, 24, 7, 30, tzinfo=UTC))  # a naive 24 h window would miss it
    figures = await rt.digests.compute_figures(scheduled_window(BERLIN, datetime(2026, 10, 25, 12, 0, tzinfo=UTC)))
    assert figures["totals"]["received"] == 1
    await rt.close()


@pytest.fixture
async def digest_hitl(db_url: str, emulator: Any, clock: ManualClock) -> AsyncIterator[Harness]:
    clock.set(QUIET_START)
    async with serve_hitl(db_url, emulator, clock, policy=policy_with_digest()) as harness:
        yield harness


async def test_scheduled_digest_is_posted_with_its_chart_once(digest_hitl: Harness) -> None:
    hitl = digest_hitl
    hitl.clock.set(NOW)
    await fixed_data_set(hitl.rt)
    assert hitl.rt.policy.digest is not None
    assert await hitl.rt.digests.post_scheduled_digest(hitl.rt.policy.digest) is True
    assert await hitl.rt.digests.post_scheduled_digest(hitl.rt.policy.digest) is False  # claimed: never twice
    await hitl.settle()
    [post] = hitl.emulator.messages("C0DIGEST")
    text = json.dumps(post.blocks, ensure_ascii=False)
    for expected in (
        "*billing* · 5 received (↑ 150% vs 7-day avg (2/day) ⚠️)",
        "2 approved, 2 edited, 1 rejected · 1 pending",
        "Acceptance 40%",
        "p90 1d 0h",
        "Hallucination (1)",
        "<@U1> 3",
        "b5",
        "paused `tenant:acme`",
    ):
        assert expected in text, expected
    uploads = hitl.emulator.calls_to("files.completeUploadExternal")
    assert len(uploads) == 1 and uploads[0].args["thread_ts"] == post.ts and uploads[0].args["channel_id"] == "C0DIGEST"
    assert (
        hitl.emulator.workspace.files
        and next(iter(hitl.emulator.workspace.files.values()))["content"][:8] == b"\x89PNG\r\n\x1a\n"
    )
    # The audit trail's head is witnessed by Slack: shown in the post, carried in its metadata, read back by verify.
    async with hitl.rt.db.read() as session:
        head = await chain_head(session)
    assert head is not None and f"Audit trail head: `{head}`" in text
    assert post.metadata["event_payload"]["audit_anchor"] == str(head)
    anchors = await anchors_in_slack(hitl.rt.slack_out)
    assert anchors == [head]
    async with hitl.rt.db.read() as session:
        assert (await verify_chain(session, anchors=anchors)).ok


async def test_two_processes_post_one_digest(db_url: str) -> None:
    clock = ManualClock(NOW)
    runtimes = [
        build_hitl(make_settings(db_url, "http://127.0.0.1:9/api/"), policy_with_digest(), clock) for _ in range(2)
    ]
    results = await asyncio.gather(*(rt.digests.post_scheduled_digest(BERLIN) for rt in runtimes))
    assert sorted(results) == [False, True]
    for rt in runtimes:
        await rt.close()


async def test_empty_day_is_a_short_post(digest_hitl: Harness) -> None:
    hitl = digest_hitl
    hitl.clock.set(NOW)
    await hitl.rt.digests.post_scheduled_digest(BERLIN)
    await hitl.settle()
    [post] = hitl.emulator.messages("C0DIGEST")
    assert "No escalations in this period. 0 case(s) still pending." in json.dumps(post.blocks)
    assert len(post.blocks) == 2


async def test_thirty_queues_stay_inside_block_kit_limits(db_url: str, emulator: Any, clock: ManualClock) -> None:
    data: dict[str, Any] = {
        "queues": [
            {
                "name": f"queue{n:02d}",
                "match": {"skill": f"s{n}"},
                "tiers": [{"name": "t", "channel": "C0Q", "reviewers": ["U0A"], "sla": "1h"}],
            }
            for n in range(30)
        ]
    }
    data["digest"] = {"channel": "C0DIGEST"}
    policy = parse_policy(data)
    assert policy.digest is not None
    clock.set(QUIET_START)
    async with serve_hitl(db_url, emulator, clock, policy=policy) as hitl:
        hitl.clock.set(NOW)
        for n in range(30):
            await add_case(
                hitl.rt, f"c{n}", f"queue{n:02d}", t(20, 12), outcome="approved", decided=t(20, 13), reason="r" * 500
            )
        await hitl.rt.digests.post_scheduled_digest(policy.digest)
        await hitl.settle()
        [post] = hitl.emulator.messages("C0DIGEST")
    assert len(post.blocks) <= 50 and "queue29" in json.dumps(post.blocks)
    hitl.emulator.assert_no_rejections()


async def test_missed_digest_runs_once_at_start(db_url: str, emulator, clock) -> None:  # type: ignore[no-untyped-def]
    from bot.server import create_asgi_app
    from slack_emulator import serve_emulator
    from slack_emulator.webapi import serve_asgi

    clock.set(datetime(2026, 11, 21, 10, 30, tzinfo=UTC))  # 11:30 Berlin: today's 09:00 digest was missed
    async with serve_emulator(emulator) as api_url:
        for _ in range(2):  # two starts: the second finds the digest claimed
            rt = await start_hitl(make_settings(db_url, api_url), policy_with_digest(), clock)
            async with serve_asgi(create_asgi_app(rt), lifespan="on"):
                await rt.outbox.drain()  # type: ignore[union-attr]
    assert len(emulator.messages("C0DIGEST")) == 1


async def test_on_demand_digest_ephemeral_and_cli_json(hitl: Harness, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    await hitl.escalate()
    hitl.clock.advance(timedelta(seconds=1))  # windows end before "now"; the frozen test clock must move on
    response = await hitl.slack.slash_command("U0SME1", "/hitl", "digest billing --since 7d")
    body = response.json()
    assert body["response_type"] == "ephemeral" and "*billing* · 1 received" in json.dumps(
        body["blocks"], ensure_ascii=False
    )
    bad = await hitl.slack.slash_command("U0SME1", "/hitl", "digest --since soon")
    assert "`--since` takes a duration" in bad.json()["text"]
    from bot.cli import main

    monkeypatch.setenv("HITL_DATABASE_URL", hitl.rt.settings.database_url)
    monkeypatch.setenv("HITL_POLICY", _write_policy(monkeypatch))
    assert await asyncio.to_thread(main, ["digest", "--since", "24h", "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["totals"]["received"] == 1 and figures["queues"]["billing"]["pending"] == 1
    assert set(figures["totals"]) >= {
        "received",
        "decided",
        "approved",
        "edited",
        "rejected",
        "pending",
        "sla_breaches",
        "sla_miss_rate",
        "median_time_to_decision_s",
        "p90_time_to_decision_s",
        "draft_acceptance_rate",
        "mean_edit_distance",
    }


def _write_policy(monkeypatch) -> str:  # type: ignore[no-untyped-def]
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as path:
        path.write(ISSUE_POLICY_YAML)
    return path.name
