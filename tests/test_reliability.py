"""Faults: Slack retries and double clicks, a locked database, a Slack outage, kill -9 mid-burst, fuzzed input."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blocks.ids import ActionId, CallbackId, CaseRef
from handlers.slack.answers import OVERLOADED_SUBMISSION, OVERLOADED_TEXT
from slack_emulator import serve_emulator
from slack_emulator.client import payload_body
from slack_emulator.tests import slack_fixtures
from tests.support import API_TOKEN, ISSUE_POLICY_YAML, SIGNING_SECRET, Harness, escalation, make_emulator, serve_hitl
from tests.test_review_loop import ephemerals_for, open_modal

pytestmark = pytest.mark.reliability


def click_payload(user: str, channel: str, ts: str, action: ActionId, case_id: str, trigger_id: str) -> dict[str, Any]:
    """A Slack-shaped block_actions payload (slack_emulator/tests/fixtures/slack), pointed at our card."""
    payload = slack_fixtures.load("block_actions_button_in_message.json")
    payload["team"] = {"id": "T0HITL", "domain": "hitl-emulator"}
    payload["user"] = {"id": user, "username": user.lower(), "team_id": "T0HITL"}
    payload["trigger_id"] = trigger_id
    payload["container"] = {"type": "message", "message_ts": ts, "channel_id": channel, "is_ephemeral": False}
    payload["channel"] = {"id": channel}
    payload["actions"] = [
        {
            "action_id": action.value,
            "block_id": "decide",
            "value": CaseRef(case_id=case_id).dump(),
            "type": "button",
            "action_ts": "1.2",
        }
    ]
    payload.pop("message", None)
    return payload


async def test_a_slack_retry_is_processed_once(hitl: Harness) -> None:
    await hitl.escalate()
    card = await hitl.card("case-1")
    body = payload_body(
        click_payload(
            "U0SME1",
            card.channel,
            card.ts,
            ActionId.APPROVE,
            "case-1",
            hitl.emulator.workspace.issue_trigger_id("U0SME1"),
        )
    )
    first = await hitl.slack.send_raw(body)
    retry = await hitl.slack.send_raw(body, headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"})
    assert (first.status_code, retry.status_code) == (200, 200)
    await asyncio.sleep(0.3)
    assert len(hitl.emulator.calls_to("views.open")) == 1


async def test_a_double_click_opens_one_modal(hitl: Harness) -> None:
    await hitl.escalate()
    card = await hitl.card("case-1")
    await asyncio.gather(*(hitl.slack.click("U0SME1", card.channel, card.ts, ActionId.EDIT.value) for _ in range(2)))
    await asyncio.sleep(0.3)
    assert len(hitl.emulator.calls_to("views.open")) == 1
    # A deliberate second click a little later still works.
    await asyncio.sleep(2.1)
    await hitl.slack.click("U0SME1", card.channel, card.ts, ActionId.EDIT.value)
    await asyncio.sleep(0.3)
    assert len(hitl.emulator.calls_to("views.open")) == 2


@contextlib.asynccontextmanager
async def sqlite_writer_locked(db_url: str) -> AsyncIterator[None]:
    """Another program holds SQLite's write lock (in a thread: a blocking call here would stall the event loop)."""
    blocker = sqlite3.connect(db_url.split(":///", 1)[1], isolation_level=None, timeout=10, check_same_thread=False)
    await asyncio.to_thread(blocker.execute, "BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        await asyncio.to_thread(blocker.execute, "ROLLBACK")
        blocker.close()


async def test_a_locked_database_is_a_clear_503_and_work_resumes(db_url: str, emulator, clock) -> None:  # type: ignore[no-untyped-def]
    if not db_url.startswith("sqlite"):
        pytest.skip("a SQLite write lock; PostgreSQL restarts are absorbed by the reconnecting pool (pool_pre_ping)")
    async with serve_hitl(db_url, emulator, clock, HITL_SQLITE_BUSY_TIMEOUT="1s") as hitl:
        async with sqlite_writer_locked(db_url):
            response = await hitl.api.post("/v1/escalations", json=escalation())
            assert response.status_code == 503 and int(response.headers["retry-after"]) > 0
            assert response.json()["error"] == "unavailable"
            assert (await hitl.api.get("/healthz")).status_code == 503
        # Nothing was half-written, the process lives on, and the same request now succeeds.
        assert (await hitl.api.get("/v1/escalations/case-1")).status_code == 404
        assert (await hitl.api.post("/v1/escalations", json=escalation())).status_code == 201
        assert (await hitl.api.get("/healthz")).status_code == 200
        await hitl.settle()
    assert len(emulator.messages("C0BILLING")) == 1


@contextlib.asynccontextmanager
async def postgres_down(db_url: str) -> AsyncIterator[None]:
    """What hitl sees while PostgreSQL restarts: every connection dropped, new ones refused, then back."""
    from sqlalchemy import make_url, text
    from sqlalchemy.ext.asyncio import create_async_engine

    name = make_url(db_url).database
    admin = create_async_engine(make_url(db_url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false'))
            await conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name"), {"name": name}
            )
        try:
            yield
        finally:
            async with admin.connect() as conn:
                await conn.execute(text(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true'))
    finally:
        await admin.dispose()


async def test_postgres_down_for_a_moment_is_a_clear_503_and_work_resumes(db_url: str, hitl: Harness) -> None:
    if db_url.startswith("sqlite"):
        pytest.skip("PostgreSQL only; the SQLite case is the locked-database test")
    await hitl.escalate()
    card = await hitl.card("case-1")
    async with postgres_down(db_url):
        response = await hitl.api.post("/v1/escalations", json=escalation(case_id="case-2"))
        assert response.status_code == 503 and int(response.headers["retry-after"]) > 0
        assert response.json()["error"] == "unavailable"
        assert (await hitl.api.get("/healthz")).status_code == 503
        # A click is acked at once, and the reviewer hears that nothing happened.
        assert (await hitl.slack.click("U0SME1", card.channel, card.ts, ActionId.APPROVE.value)).status_code == 200
        [text] = await ephemerals_for(hitl, "U0SME1")
        assert text == OVERLOADED_TEXT
        # A command is answered in its own response, as Slack shows it to the operator.
        status = await hitl.slack.slash_command("U0OPS1", "/hitl", "status")
        assert status.status_code == 200 and status.json() == {"response_type": "ephemeral", "text": OVERLOADED_TEXT}
        await asyncio.sleep(1.5)  # the background jobs (outbox, sweep, kill-switch refresh) fail meanwhile
    # Back: the same process serves again, nothing was half-written, and queued work goes out.
    assert (await hitl.api.get("/healthz")).status_code == 200
    assert (await hitl.api.get("/v1/escalations/case-2")).status_code == 404
    assert (await hitl.api.post("/v1/escalations", json=escalation(case_id="case-2"))).status_code == 201
    assert (await hitl.card("case-2")).channel == "C0BILLING"
    await asyncio.sleep(2.1)  # the same click again within 2 s would be taken for a double click
    view = await open_modal(hitl, "U0SME1", "case-1", ActionId.APPROVE)
    assert view["callback_id"] == CallbackId.APPROVE.value


async def test_reviewers_hear_about_a_locked_database_and_nothing_is_lost(db_url: str, emulator, clock) -> None:  # type: ignore[no-untyped-def]
    """After the ack a failed listener has no HTTP answer left: the reviewer must still learn the click did nothing."""
    if not db_url.startswith("sqlite"):
        pytest.skip("a SQLite write lock; the PostgreSQL case is the next test")
    async with serve_hitl(db_url, emulator, clock, HITL_SQLITE_BUSY_TIMEOUT="1s") as hitl:
        await hitl.escalate()
        card = await hitl.card("case-1")
        async with sqlite_writer_locked(db_url):
            # Reads never queue behind the writer, so the form still opens within Slack's 3 s.
            assert (await hitl.slack.click("U0SME1", card.channel, card.ts, ActionId.APPROVE.value)).status_code == 200
            for _ in range(200):
                if opened := hitl.emulator.calls_to("views.open"):
                    break
                await asyncio.sleep(0.01)
            assert opened[0].ok
            view = opened[0].response["view"]
            # Claiming has to write: the reviewer is told so, instead of a button that silently does nothing.
            assert (await hitl.slack.click("U0SME1", card.channel, card.ts, ActionId.CLAIM.value)).status_code == 200
            [text] = await ephemerals_for(hitl, "U0SME1")
            assert text == OVERLOADED_TEXT
            # Submitting has to write: answered in time with an inline error, the form and its text kept.
            response = await hitl.slack.submit_view("U0SME1", view["id"], {"note": "Checked"})
            assert response.status_code == 200
            assert response.json() == {"response_action": "errors", "errors": {"note": OVERLOADED_SUBMISSION}}
        assert (await hitl.status("case-1"))["status"] == "pending"
        # Released: Submit again decides, and the view waited for its turn instead of being lost.
        response = await hitl.slack.submit_view("U0SME1", view["id"], {"note": "Checked"})
        assert response.status_code == 200 and response.content in (b"", b"{}")
        status = await hitl.status("case-1")
        assert status["status"] == "approved"
        assert [e["action"] for e in status["timeline"]] == ["received", "posted", "viewed", "approved"]


async def test_a_click_that_cannot_read_in_time_is_answered_with_an_ephemeral(db_url: str, hitl: Harness) -> None:
    if db_url.startswith("sqlite"):
        pytest.skip("SQLite readers never wait (WAL snapshots); on PostgreSQL a table lock can stall them")
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    await hitl.escalate()
    card = await hitl.card("case-1")
    locker = create_async_engine(db_url)
    try:
        async with locker.connect() as conn:
            await conn.execute(text("LOCK TABLE cases IN ACCESS EXCLUSIVE MODE"))
            assert (await hitl.slack.click("U0SME1", card.channel, card.ts, ActionId.APPROVE.value)).status_code == 200
            [text_] = await ephemerals_for(hitl, "U0SME1")
            assert text_ == OVERLOADED_TEXT
            assert hitl.emulator.calls_to("views.open") == []
            await conn.rollback()
    finally:
        await locker.dispose()
    # The lock gone, the same click opens the form.
    view = await open_modal(hitl, "U0SME1", "case-1", ActionId.APPROVE)
    assert view["callback_id"] == CallbackId.APPROVE.value


async def test_slack_outage_loses_nothing_and_keeps_order_per_channel(hitl: Harness) -> None:
    hitl.emulator.faults.fail("chat.postMessage", status=500, count=None)
    ids = [f"o{n:02d}" for n in range(12)]
    for n, case_id in enumerate(ids):
        assert (await hitl.escalate(case_id=case_id, skill="billing" if n % 2 else "other")).status_code == 201
    for _ in range(6):  # 30 s of outage, in five-second steps
        hitl.clock.advance(timedelta(seconds=5))
        await hitl.settle()
    assert [c for c in hitl.emulator.calls_to("chat.postMessage") if c.ok] == []
    hitl.emulator.faults.clear()
    for _ in range(30):
        hitl.clock.advance(timedelta(minutes=1))
        await hitl.settle()
    for channel, expected in (("C0BILLING", ids[1::2]), ("C0GENERAL", ids[0::2])):
        cards = [m.metadata["event_payload"]["case_id"] for m in hitl.emulator.messages(channel) if m.metadata]
        assert cards == expected, channel


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _start_server(tmp: Path, api_url: str, db_url: str, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "SLACK_BOT_TOKEN": "xoxb-crash",
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": api_url,
        "HITL_API_TOKEN": API_TOKEN,
        "HITL_DATABASE_URL": db_url,
        "HITL_HOST": "127.0.0.1",
        "PORT": str(port),
        "HITL_POLICY": str(tmp / "hitl.yml"),
        "HITL_SLACK_CHANNEL_RATE": "1000",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "serve"],
        cwd=tmp,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    async with httpx.AsyncClient() as client:
        for _ in range(200):
            try:
                if (await client.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200:
                    return process
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.05)
    process.kill()
    raise AssertionError("hitl serve did not start")


async def test_kill_9_mid_burst_loses_nothing_and_posts_nothing_twice(db_url: str, tmp_path: Path) -> None:
    (tmp_path / "hitl.yml").write_text(ISSUE_POLICY_YAML)
    emulator = make_emulator()
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    async with serve_emulator(emulator) as api_url:
        server = await _start_server(tmp_path, api_url, db_url, port)
        accepted: list[str] = []
        try:
            async with httpx.AsyncClient(base_url=base, headers=headers, timeout=5) as api:
                # A decision made before the crash.
                assert (await api.post("/v1/escalations", json=escalation("pre-1"))).status_code == 201
                from slack_emulator import SlackRequestSender

                for _ in range(200):
                    if emulator.messages("C0BILLING"):
                        break
                    await asyncio.sleep(0.02)
                async with SlackRequestSender(base, SIGNING_SECRET, emulator) as slack:
                    await slack.click(
                        "U0SME1", "C0BILLING", emulator.messages("C0BILLING")[0].ts, ActionId.APPROVE.value
                    )
                    for _ in range(200):
                        if emulator.calls_to("views.open"):
                            break
                        await asyncio.sleep(0.02)
                    view = emulator.calls_to("views.open")[-1].response["view"]
                    assert (await slack.submit_view("U0SME1", view["id"], {})).status_code == 200

                async def send(n: int) -> None:
                    try:
                        response = await api.post(
                            "/v1/escalations", json=escalation(f"burst-{n:03d}", skill="billing" if n % 2 else "other")
                        )
                        if response.status_code == 201:
                            accepted.append(f"burst-{n:03d}")
                    except httpx.HTTPError:
                        pass  # the server died under this request: not accepted

                async def killer() -> None:
                    while len(accepted) < 80:
                        await asyncio.sleep(0.005)
                    server.send_signal(signal.SIGKILL)

                sem = asyncio.Semaphore(8)

                async def bounded(n: int) -> None:
                    async with sem:
                        await send(n)

                await asyncio.gather(killer(), *(bounded(n) for n in range(200)))
            server.wait(timeout=10)
            assert 80 <= len(accepted) < 200
            server = await _start_server(tmp_path, api_url, db_url, port)
            async with httpx.AsyncClient(base_url=base, headers=headers, timeout=5) as api:
                for _ in range(600):
                    states = [(await api.get(f"/v1/escalations/{c}")).json() for c in accepted[-3:]]
                    if all(s["message_ts"] for s in states):
                        break
                    await asyncio.sleep(0.05)
                statuses = [(await api.get(f"/v1/escalations/{c}")).json() for c in accepted]
                assert all(s["message_ts"] for s in statuses)
                assert (await api.get("/v1/escalations/pre-1")).json()["status"] == "approved"
        finally:
            server.kill()
            server.wait(timeout=10)
    cards: dict[str, int] = {}
    for channel in ("C0BILLING", "C0GENERAL"):
        for message in emulator.messages(channel):
            if message.metadata and message.metadata.get("event_type") == "hitl_case":
                case_id = message.metadata["event_payload"]["case_id"]
                cards[case_id] = cards.get(case_id, 0) + 1
    assert all(cards.get(c) == 1 for c in accepted), {c: cards.get(c) for c in accepted if cards.get(c) != 1}
    assert max(cards.values()) == 1


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
fields = st.sampled_from(
    [
        "case_id",
        "model_draft",
        "reason_for_escalation",
        "skill",
        "risk_level",
        "evidence",
        "confidence",
        "sla_deadline",
        "proposed_action",
        "signals",
        "impact",
        "callback_url",
        "tenant_id",
        "unknown",
    ]
)
escalation_like = st.fixed_dictionaries(
    {"case_id": st.text(min_size=1, max_size=20) | json_values},
    optional={
        "model_draft": st.text(max_size=50) | json_values,
        "reason_for_escalation": st.text(max_size=30) | json_values,
    },
).flatmap(lambda base: st.dictionaries(fields, json_values, max_size=5).map(lambda extra: {**base, **extra}))


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(body=escalation_like)
async def test_fuzzed_escalations_never_500_and_never_half_stored(hitl: Harness, body: dict[str, Any]) -> None:
    before = await _row_counts(hitl)
    # Raw bytes, so NaN and Infinity reach the server as Python's json module would write them.
    response = await hitl.api.post(
        "/v1/escalations", content=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code in (200, 201, 400, 409, 413, 422), response.text
    assert response.headers["content-type"].startswith("application/json")
    after = await _row_counts(hitl)
    # A new case comes whole (case, its `received` audit row, its card in the outbox) or not at all.
    assert after == ({k: v + 1 for k, v in before.items()} if response.status_code == 201 else before), (
        response.status_code,
        before,
        after,
    )


async def _row_counts(h: Harness) -> dict[str, int]:
    from sqlalchemy import func, select

    from store.models import AuditEvent, Case, OutboxItem

    # What ingest writes; the worker posting earlier cards meanwhile adds `posted` rows, which don't count here.
    counted = {
        "cases": select(func.count()).select_from(Case),
        "received": select(func.count()).where(AuditEvent.action == "received"),
        "post_card": select(func.count()).where(OutboxItem.kind == "post_card"),
    }
    async with h.rt.db.write() as session:
        return {name: int((await session.execute(query)).scalar_one()) for name, query in counted.items()}


slack_payloads = st.fixed_dictionaries(
    {"type": st.sampled_from(["block_actions", "view_submission", "shortcut", "x"])},
    optional={
        "user": json_values,
        "actions": st.lists(
            st.fixed_dictionaries(
                {"action_id": st.sampled_from([a.value for a in ActionId] + ["x"])}, optional={"value": json_values}
            ),
            max_size=2,
        )
        | json_values,
        "view": st.fixed_dictionaries(
            {
                "callback_id": st.sampled_from(
                    ["hitl.approve_submit", "hitl.edit_submit", "hitl.reject_submit", "hitl.kill_submit"]
                )
            },
            optional={"private_metadata": json_values | st.text(max_size=40), "state": json_values},
        )
        | json_values,
        "container": json_values,
        "trigger_id": json_values,
    },
)


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(payload=slack_payloads)
async def test_fuzzed_slack_payloads_never_500(hitl: Harness, payload: dict[str, Any]) -> None:
    response = await hitl.slack.send_raw(payload_body(payload))
    assert response.status_code < 500, (response.status_code, response.text)
