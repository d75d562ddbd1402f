"""The real hitl app and the Slack emulator for tests of hitl_client, its MCP server, bridges and examples.

Client tests run on SQLite only: what they test is the client and the HTTP contract; the server's behaviour on
PostgreSQL is covered by the server's own tests. Reviewers act through signed Slack requests, as in Slack."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from blocks.ids import ActionId
from bot.clock import ManualClock
from hitl_client import AsyncHitlClient, _core
from slack_emulator import Emulator
from tests import dbs
from tests.support import API_TOKEN, Harness, serve_hitl
from tests.test_review_loop import open_modal

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
async def server(
    sqlite_template_path: Path, tmp_path: Path, emulator: Emulator, clock: ManualClock
) -> AsyncIterator[Harness]:
    async with serve_hitl(dbs.fresh_sqlite(sqlite_template_path, tmp_path), emulator, clock) as harness:
        yield harness


@pytest.fixture
async def client(server: Harness) -> AsyncIterator[AsyncHitlClient]:
    async with AsyncHitlClient(server.url, API_TOKEN) as hitl:
        yield hitl


@pytest.fixture(autouse=True)
def quick_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    """Today's server answers a wait at once, so the client polls with back-off (0.5 s to 5 s); tests shorten it.

    The back-off itself is tested on a fake clock in client/tests."""
    monkeypatch.setattr(_core, "POLL_FIRST", 0.05)
    monkeypatch.setattr(_core, "POLL_MAX", 0.2)


def hitl_env(h: Harness, **extra: str) -> dict[str, str]:
    return {"HITL_URL": h.url, "HITL_API_TOKEN": API_TOKEN, **extra}


async def until_card(h: Harness, case_id: str | None = None, showing: str | None = None, timeout: float = 20.0) -> str:
    """The case_id of a case whose card is posted: the one named, else the newest pending case whose card
    shows `showing` (any text of its blocks)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        await h.settle()
        for candidate in [case_id] if case_id else _carded_cases(h, showing):
            response = await h.api.get(f"/v1/escalations/{candidate}")
            if (
                response.status_code == 200
                and response.json()["message_ts"]
                and (case_id or response.json()["status"] == "pending")
            ):
                return candidate
        await asyncio.sleep(0.02)
    raise AssertionError(f"no card for {case_id or showing or 'a pending case'}")


def _carded_cases(h: Harness, showing: str | None) -> list[str]:
    """Case ids of the cards posted so far, newest first."""
    found = []
    for call in reversed(h.emulator.calls_to("chat.postMessage")):
        metadata = call.args.get("metadata")
        if not call.ok or not metadata:
            continue
        if showing is not None and showing not in json.dumps(call.args.get("blocks"), ensure_ascii=False):
            continue
        if isinstance(metadata, str):
            metadata = json.loads(metadata)
        found.append(str(metadata["event_payload"]["case_id"]))
    return found


async def approve(
    h: Harness, case_id: str | None = None, user: str = "U0SME1", note: str | None = None, showing: str | None = None
) -> str:
    case_id = await until_card(h, case_id, showing)
    view = await open_modal(h, user, case_id, ActionId.APPROVE)
    await _submit(h, user, view, {"note": note} if note else {})
    return case_id


async def edit(
    h: Harness, values: dict[str, Any], case_id: str | None = None, user: str = "U0SME1", showing: str | None = None
) -> str:
    """Submit the Edit modal: `draft_0` is the text, `arg_N` the N-th argument of a proposed action."""
    case_id = await until_card(h, case_id, showing)
    view = await open_modal(h, user, case_id, ActionId.EDIT)
    await _submit(h, user, view, values)
    return case_id


async def reject(
    h: Harness, category: str, note: str, case_id: str | None = None, user: str = "U0SME1", showing: str | None = None
) -> str:
    case_id = await until_card(h, case_id, showing)
    view = await open_modal(h, user, case_id, ActionId.REJECT)
    await _submit(h, user, view, {"reason": category, "note": note})
    return case_id


async def _submit(h: Harness, user: str, view: dict[str, Any], values: dict[str, Any]) -> None:
    response = await h.slack.submit_view(user, view["id"], values, user_name="dana")
    assert response.status_code == 200 and not response.content.strip(b"{}"), response.text
