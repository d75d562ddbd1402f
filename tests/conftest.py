"""Fixtures: a migrated database per test (SQLite, and PostgreSQL when HITL_TEST_POSTGRES_URL is set), the Slack
emulator on loopback, and the real hitl ASGI app served by uvicorn on loopback with the real AsyncWebClient."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from bot.clock import ManualClock
from bot.compose import Hitl
from bot.config import Settings
from bot.domain.audit import Actor
from bot.outbound_http import Resolver, system_resolver
from bot.policy import Policy, parse_policy
from bot.server import create_asgi_app
from bot.services.decision_rules import DecisionRequest
from bot.services.decisions import record_decision
from bot.startup import start_hitl
from slack_emulator import Emulator, Message, SlackRequestSender, serve_emulator
from slack_emulator.webapi import serve_asgi
from store import cases as case_store
from store import outbox as outbox_store
from tests import dbs

ISSUE_POLICY_YAML = """\
queues:                      # first match wins
  - name: billing
    match: {skill: billing}  # match on skill, risk_level, tenant_id, language; a list means any of
    tiers:
      - {name: Support specialist, channel: C0BILLING, reviewers: [U0SME1, S0BILLING], sla: 4h}
      - {name: Billing SME, channel: C0BILLESC, reviewers: [U0SME2], sla: 1h}
  - name: legal
    match: {skill: legal, risk_level: [high, critical]}
    approve_checklist: ["Verified claims against the cited sources", "Privacy and regulated data checked"]
    tiers:
      - {name: Legal reviewer, channel: C0LEGAL, reviewers: [S0LEGAL], sla: 1d}
  - name: general
    match: {}
    tiers:
      - {name: Content ops, channel: C0GENERAL, reviewers: [S0OPS], sla: 24h}
ops:
  channel: C0OPS
  operators: [U0OPS1]
"""

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
API_TOKEN = "test-api-token"
# The Standard Webhooks secret every test server signs with (a test needing none overrides HITL_WEBHOOK_SECRET).
WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
USER_GROUPS = {"S0BILLING": ["U0BILL1", "U0BILL2"], "S0LEGAL": ["U0LAW1"], "S0OPS": ["U0OPS2"]}
BACKENDS = ["sqlite"] + (["postgres"] if dbs.POSTGRES_URL else [])


@pytest.fixture(scope="session")
def sqlite_template_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return dbs.sqlite_template(tmp_path_factory.mktemp("template"))


def _in_thread(func: Callable[[], Any]) -> Any:
    """Run set-up that owns its own event loop (asyncio.run, Alembic) even when a test loop is running."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(func).result()


@pytest.fixture(scope="session")
def postgres_url() -> Any:
    if not dbs.POSTGRES_URL:
        pytest.skip("HITL_TEST_POSTGRES_URL is not set")
    base = dbs.POSTGRES_URL
    url = _in_thread(lambda: asyncio.run(dbs.create_postgres_database(base)))
    _in_thread(lambda: dbs.upgrade(url))
    yield url
    _in_thread(lambda: asyncio.run(dbs.drop_postgres_database(base, url)))


@pytest.fixture(params=BACKENDS)
async def db_url(request: pytest.FixtureRequest, sqlite_template_path: Path, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return dbs.fresh_sqlite(sqlite_template_path, tmp_path)
    url = request.getfixturevalue("postgres_url")
    await dbs.truncate_postgres(url)
    return url


def issue_policy() -> Policy:
    return parse_policy(yaml.safe_load(ISSUE_POLICY_YAML), "test policy")


def escalation(case_id: str = "case-1", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "case_id": case_id,
        "tenant_id": "acme",
        "skill": "billing",
        "user_question": "Can I get a refund for the double charge on invoice 1042?",
        "model_draft": "Yes. You were charged twice for invoice 1042; I have issued a refund of $49.00.",
        "evidence": [{"document_id": "kb-refunds-7", "quote": "Duplicate charges are refunded in full.", "score": 0.91, "url": "https://kb.example.com/refunds"}],
        "risk_level": "medium",
        "reason_for_escalation": "Refund above the automatic limit",
        "model": {"name": "gpt-support", "version": "2026-10"},
        "confidence": 0.62,
        "proposed_action": {"action": "refund", "args": {"invoice": "1042", "amount": 49.0, "currency": "USD"}},
    }
    body.update(overrides)
    return body


@dataclass
class Harness:
    rt: Hitl
    url: str
    api: httpx.AsyncClient
    slack: SlackRequestSender
    emulator: Emulator
    clock: ManualClock
    app: Any = None  # the Starlette app (its state.slack_events counts how far Slack's requests got)

    async def escalate(self, body: dict[str, Any] | None = None, **overrides: Any) -> httpx.Response:
        return await self.api.post("/v1/escalations", json=body if body is not None else escalation(**overrides))

    async def status(self, case_id: str) -> dict[str, Any]:
        response = await self.api.get(f"/v1/escalations/{case_id}")
        assert response.status_code == 200, response.text
        return response.json()

    async def settle(self, timeout: float = 10.0) -> None:
        """Wait until the outbox has nothing due, delivering it here if the background worker hasn't yet."""
        assert self.rt.outbox is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            await self.rt.outbox.drain()
            async with self.rt.db.write() as session:
                due = await outbox_store.count_pending_now(session, self.clock.now())
            if due == 0:
                return
            await asyncio.sleep(0.01)
        async with self.rt.db.write() as session:
            waiting = await outbox_store.list_items(session, dead=False, limit=10)
        stuck = [(i.id, i.dedupe_key, i.next_attempt_at, i.claimed_until, i.attempts, i.last_error) for i in waiting]
        raise AssertionError(f"outbox did not settle at {self.clock.now()}: {stuck}")

    async def card(self, case_id: str) -> Message:
        """The case's card as Slack holds it (after delivering what is queued)."""
        await self.settle()
        status = await self.status(case_id)
        assert status["message_ts"], f"card of {case_id} not posted: {status['deliveries']}"
        message = next((m for m in self.emulator.messages(status["channel"]) if m.ts == status["message_ts"]), None)
        assert message is not None
        return message


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met in time")


def make_emulator() -> Emulator:
    emulator = Emulator(strict_triggers=True)
    for group, members in USER_GROUPS.items():
        emulator.workspace.add_usergroup(group, members)
    return emulator


@pytest.fixture
def emulator() -> Emulator:
    return make_emulator()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime.now(UTC).replace(microsecond=0))


def make_settings(db_url: str, api_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "SLACK_BOT_TOKEN": "xoxb-test-token",
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": api_url,
        "HITL_DATABASE_URL": db_url,
        "HITL_API_TOKEN": API_TOKEN,
        "HITL_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "HITL_OUTBOX_POLL_SECONDS": 0.2,
        # Tests post many messages to one channel at once; pacing is measured in bench/posting_rate.py.
        "HITL_SLACK_CHANNEL_RATE": 1000,
        # Test receivers listen on 127.0.0.1; tests/test_outbound.py turns this off to prove the refusals.
        "HITL_WEBHOOK_ALLOW_PRIVATE": True,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@contextlib.asynccontextmanager
async def serve_hitl(db_url: str, emulator: Emulator, clock: ManualClock, *, policy: Policy | None = None, resolver: Resolver = system_resolver, **settings: Any) -> AsyncIterator[Harness]:
    """The emulator and the real hitl app on loopback; `settings` override the test defaults (env names);
    `policy` replaces the issue's policy; `resolver` looks up webhook hosts."""
    async with serve_emulator(emulator) as api_url:
        async with serve_replica(db_url, emulator, api_url, clock, policy=policy, resolver=resolver, **settings) as harness:
            yield harness
    emulator.assert_no_rejections()


@contextlib.asynccontextmanager
async def serve_replica(
    db_url: str, emulator: Emulator, api_url: str, clock: ManualClock, *, policy: Policy | None = None, resolver: Resolver = system_resolver, **settings: Any
) -> AsyncIterator[Harness]:
    """One hitl app with its own runtime, against an emulator already served at `api_url`: several of them on
    one database are replicas."""
    rt = await start_hitl(make_settings(db_url, api_url, **settings), policy or issue_policy(), clock, resolver=resolver)
    app = create_asgi_app(rt)
    async with serve_asgi(app, lifespan="on") as url:
        async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=10) as api:
            async with SlackRequestSender(url, SIGNING_SECRET, emulator) as slack:
                yield Harness(rt, url, api, slack, emulator, clock, app)


@pytest.fixture
async def hitl(db_url: str, emulator: Emulator, clock: ManualClock) -> AsyncIterator[Harness]:
    async with serve_hitl(db_url, emulator, clock) as harness:
        yield harness


async def decide_directly(hitl: Hitl, case_id: str, request: DecisionRequest, actor: Actor) -> None:
    """Record a decision as the review service does, without Slack (for tests about what follows one)."""
    async with hitl.db.write.begin() as session:
        case = await case_store.get_case(session, case_id)
        assert case is not None
        await record_decision(session, hitl.policy, case, request, actor, hitl.clock.now())
    hitl.outbox.wake(None)
