"""Decisions flow back: signed webhooks with retries, structured action approval, reviewed cases as a dataset."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from blocks.ids import ActionId
from bot.compose import build_hitl
from bot.services.export import ExportFormat, write_export
from slack_emulator.webapi import serve_asgi
from tests.support import WEBHOOK_SECRET, Harness, escalation, issue_policy, make_settings
from tests.test_review_loop import open_modal

SECRET = WEBHOOK_SECRET


@dataclass
class Receiver:
    url: str = ""
    events: list[dict[str, Any]] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)  # status codes to give before succeeding
    hits: int = 0


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    state = Receiver()

    async def receive(request: Request) -> Response:
        state.hits += 1
        body = await request.body()
        if state.answers:
            return Response(status_code=state.answers.pop(0), headers={"Retry-After": "1"})
        # Verified with the standardwebhooks package, as any receiver would.
        state.events.append(Webhook(SECRET).verify(body, dict(request.headers)))
        return Response(status_code=200)

    async with serve_asgi(Starlette(routes=[Route("/hook", receive, methods=["POST"])])) as url:
        state.url = f"{url}/hook"
        yield state


async def _decide_edit(h: Harness, user: str = "U0SME1", **values: Any) -> None:
    view = await open_modal(h, user, "case-1", ActionId.EDIT)
    response = await h.slack.submit_view(user, view["id"], values)
    assert response.status_code == 200 and not response.content.strip(b"{}"), response.text


async def test_decision_webhook_is_signed_and_complete(hitl: Harness, receiver: Receiver) -> None:
    await hitl.escalate(callback_url=receiver.url)
    await _decide_edit(hitl, draft_0="Refunded $49.00 for invoice 1042.", note="tone")
    await hitl.settle()
    [event] = receiver.events
    assert event["type"] == "review.decided" and event["case_id"] == "case-1"
    assert event["outcome"] == "edited" and event["edited"] is True
    assert event["final_text"] == "Refunded $49.00 for invoice 1042."
    assert event["original_draft"] == escalation()["model_draft"]
    assert event["edit_distance"] > 0 and 0 < event["edit_ratio"] <= 1
    assert event["decided_by"]["slack_user_id"] == "U0SME1" and event["decided_by"]["slack_team_id"] == "T0HITL"
    assert event["tier"] == 1 and event["queue"] == "billing" and event["note"] == "tone"
    assert event["proposed_action"]["action"] == "refund" and event["proposed_action"]["idempotency_key"].startswith(
        "hitl_"
    )
    status = await hitl.status("case-1")
    [hook] = status["webhooks"]
    assert hook["state"] == "delivered" and hook["event_id"] == event["event_id"]
    assert "webhook_delivered" in [e["action"] for e in status["timeline"]]


async def test_failures_then_success_with_back_off(hitl: Harness, receiver: Receiver) -> None:
    receiver.answers = [503, 429]
    await hitl.escalate(callback_url=receiver.url)
    view = await open_modal(hitl, "U0SME1", "case-1", ActionId.REJECT)
    await hitl.slack.submit_view("U0SME1", view["id"], {"reason": "unsafe", "note": "no"})
    await hitl.settle()
    hook = (await hitl.status("case-1"))["webhooks"][0]
    assert hook["state"] == "pending" and hook["last_error"] == "http_503"
    # The first retry falls due within 5 seconds.
    hitl.clock.advance(timedelta(seconds=5))
    await hitl.settle()
    assert (await hitl.status("case-1"))["webhooks"][0]["last_error"] == "http_429"
    hitl.clock.advance(timedelta(seconds=10))
    await hitl.settle()
    [event] = receiver.events
    assert event["outcome"] == "rejected" and event["reason"] == "unsafe" and event["proposed_action"] is None
    assert receiver.hits == 3
    assert (await hitl.status("case-1"))["webhooks"][0]["state"] == "delivered"


async def test_410_gives_up_and_retry_command_resends(
    hitl: Harness, receiver: Receiver, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    receiver.answers = [410]
    await hitl.escalate(callback_url=receiver.url)
    view = await open_modal(hitl, "U0SME1", "case-1", ActionId.APPROVE)
    await hitl.slack.submit_view("U0SME1", view["id"], {})
    await hitl.settle()
    hitl.clock.advance(timedelta(hours=1))
    await hitl.settle()
    hook = (await hitl.status("case-1"))["webhooks"][0]
    assert hook["state"] == "failed" and "410" in hook["last_error"] and receiver.hits == 1
    # An operator fixes the receiver and sends it again, with the same event_id.
    from bot.cli import main

    monkeypatch.setenv("HITL_DATABASE_URL", hitl.rt.settings.database_url)
    assert await asyncio.to_thread(main, ["webhooks", "retry", "case-1"]) == 0
    assert "queued again: evt_" in capsys.readouterr().out
    await hitl.settle()
    [event] = receiver.events
    assert event["event_id"] == hook["event_id"] and event["outcome"] == "approved"


async def test_webhook_give_up_after_is_configurable(hitl: Harness, receiver: Receiver) -> None:
    receiver.answers = [500] * 50
    await hitl.escalate(callback_url=receiver.url)
    view = await open_modal(hitl, "U0SME1", "case-1", ActionId.APPROVE)
    await hitl.slack.submit_view("U0SME1", view["id"], {})
    await hitl.settle()
    hitl.clock.advance(timedelta(hours=25))
    await hitl.settle()
    hook = (await hitl.status("case-1"))["webhooks"][0]
    assert hook["state"] == "failed" and hook["last_error"] == "expired"


async def test_pending_webhook_survives_a_restart_and_two_workers_send_it_once(
    db_url: str, receiver: Receiver, clock
) -> None:  # type: ignore[no-untyped-def]
    from bot.domain.audit import SYSTEM, Actor
    from bot.domain.cases import CaseStatus
    from bot.domain.escalation import Escalation
    from bot.services.decision_rules import DecisionRequest
    from tests.support import decide_directly

    settings = make_settings(db_url, "http://127.0.0.1:9/api/", HITL_WEBHOOK_SECRET=SECRET)
    first = build_hitl(settings, issue_policy(), clock)
    raw = escalation(callback_url=receiver.url)
    await first.ingest.receive(raw, Escalation.model_validate(raw), SYSTEM)
    await decide_directly(
        first,
        "case-1",
        DecisionRequest(CaseStatus.APPROVED, final_text=raw["model_draft"]),
        Actor.slack("U0SME1", "T1", "dana"),
    )
    await first.close()  # the process dies before delivering
    receiver.answers = []
    runtimes = [build_hitl(settings, issue_policy(), clock) for _ in range(2)]
    await asyncio.gather(*(rt.outbox.drain() for rt in runtimes))  # type: ignore[union-attr]
    assert [e["case_id"] for e in receiver.events] == ["case-1"]
    for rt in runtimes:
        await rt.close()


async def test_queue_webhook_url_is_used_without_a_callback(
    db_url: str, emulator: Any, clock: Any, receiver: Receiver
) -> None:
    import yaml

    from bot.outbound import ALLOW_ALL
    from bot.policy import parse_policy
    from tests.support import ISSUE_POLICY_YAML, serve_hitl

    data = yaml.safe_load(ISSUE_POLICY_YAML)
    data["queues"][0]["webhook_url"] = receiver.url
    async with serve_hitl(db_url, emulator, clock, policy=parse_policy(data, outbound=ALLOW_ALL)) as hitl:
        await hitl.escalate()
        view = await open_modal(hitl, "U0SME1", "case-1", ActionId.APPROVE)
        await hitl.slack.submit_view("U0SME1", view["id"], {})
        await hitl.settle()
    assert [e["outcome"] for e in receiver.events] == ["approved"]


async def test_edit_modal_edits_typed_action_arguments(hitl: Harness, receiver: Receiver) -> None:
    action = {
        "action": "refund",
        "args": {"invoice": "1042", "amount": 49.0, "count": 2, "notify": True, "lines": [1, 2]},
    }
    await hitl.escalate(callback_url=receiver.url, proposed_action=action)
    view = await open_modal(hitl, "U0SME1", "case-1", ActionId.EDIT)
    inputs = {b["block_id"]: b["element"] for b in view["blocks"] if b.get("block_id", "").startswith("arg_")}
    assert [e["type"] for e in inputs.values()] == [
        "plain_text_input",
        "number_input",
        "number_input",
        "static_select",
        "plain_text_input",
    ]
    assert inputs["arg_1"]["is_decimal_allowed"] is True and inputs["arg_2"]["is_decimal_allowed"] is False
    # Invalid edits are inline errors on the right input.
    bad = await hitl.slack.submit_view("U0SME1", view["id"], {"arg_1": "forty", "arg_2": "2.5", "arg_4": "[1,"})
    assert bad.json()["response_action"] == "errors" and set(bad.json()["errors"]) == {"arg_1", "arg_2", "arg_4"}
    ok = await hitl.slack.submit_view("U0SME1", view["id"], {"arg_1": "39.5", "arg_3": "false", "arg_4": "[1]"})
    assert ok.status_code == 200
    await hitl.settle()
    [event] = receiver.events
    # The text was untouched but the action changed: that is an edit.
    assert event["outcome"] == "edited" and event["final_text"] == escalation()["model_draft"]
    assert event["proposed_action"]["args"] == {
        "invoice": "1042",
        "amount": 39.5,
        "count": 2,
        "notify": False,
        "lines": [1],
    }
    assert event["original_action"] == action
    card = await hitl.card("case-1")
    assert "Action as approved (edited)" in json.dumps(card.blocks, ensure_ascii=False)


async def _seed_dataset(h: Harness) -> None:
    cases = [
        ("a1", "billing", ActionId.APPROVE, {}),
        ("e1", "billing", ActionId.EDIT, {"draft_0": "Edited answer one."}),
        ("r1", "billing", ActionId.REJECT, {"reason": "hallucination", "note": "made up"}),
        ("g1", "general", ActionId.APPROVE, {}),
    ]
    for case_id, queue, action, values in cases:
        body = escalation(
            case_id,
            skill="billing" if queue == "billing" else "other",
            user_question=f"Question {case_id}?",
            model_draft=f"Draft {case_id}.",
            prompt_hash="ph1",
        )
        await h.escalate(body)
        user = "U0SME1" if queue == "billing" else "U0OPS2"
        view = await open_modal(h, user, case_id, action)
        await h.slack.submit_view(user, view["id"], values)
    await h.escalate(escalation("p1", user_question="Pending?"))  # not decided: never exported
    await h.settle()


async def _export(h: Harness, fmt: ExportFormat, **kwargs: Any) -> str:
    out = io.StringIO()
    args = {
        "since": h.clock.now() - timedelta(days=30),
        "queue": None,
        "outcomes": [],
        "mark_rejected": False,
        **kwargs,
    }
    async with h.rt.db.write() as session:
        await write_export(session, out, fmt, **args)
    return out.getvalue()


async def test_export_formats_on_a_fixed_data_set(hitl: Harness) -> None:
    await _seed_dataset(hitl)
    records = [json.loads(line) for line in (await _export(hitl, ExportFormat.JSONL)).splitlines()]
    assert [(r["case_id"], r["outcome"]) for r in records] == [
        ("a1", "approved"),
        ("e1", "edited"),
        ("r1", "rejected"),
        ("g1", "approved"),
    ]
    edited = records[1]
    assert edited["final_text"] == "Edited answer one." and edited["model_draft"] == "Draft e1."
    assert (
        edited["edit_distance"] > 0
        and edited["reviewer"]["slack_user_id"] == "U0SME1"
        and edited["prompt_hash"] == "ph1"
    )
    assert (
        edited["model"] == {"name": "gpt-support", "version": "2026-10"}
        and edited["evidence"][0]["document_id"] == "kb-refunds-7"
    )
    assert records[2]["reason"] == "hallucination" and records[2]["final_text"] is None
    assert records[0]["edit_distance"] == 0

    filtered = [
        json.loads(line)["case_id"]
        for line in (
            await _export(hitl, ExportFormat.JSONL, queue="billing", outcomes=["edited", "rejected"])
        ).splitlines()
    ]
    assert filtered == ["e1", "r1"]

    rows = list(csv.DictReader(io.StringIO(await _export(hitl, ExportFormat.CSV))))
    assert [r["case_id"] for r in rows] == ["a1", "e1", "r1", "g1"] and rows[1]["final_text"] == "Edited answer one."
    assert json.loads(rows[1]["evidence"])[0]["score"] == 0.91

    chat = [json.loads(line) for line in (await _export(hitl, ExportFormat.OPENAI_CHAT)).splitlines()]
    assert [c["messages"][1]["content"] for c in chat] == ["Draft a1.", "Edited answer one.", "Draft g1."]
    assert chat[0]["messages"][0] == {"role": "user", "content": "Question a1?"}
    marked = [
        json.loads(line) for line in (await _export(hitl, ExportFormat.OPENAI_CHAT, mark_rejected=True)).splitlines()
    ]
    assert [m["messages"][1].get("weight") for m in marked] == [None, None, 0, None]


async def test_callback_url_without_a_signing_secret_is_refused(db_url: str, emulator: Any, clock: Any) -> None:
    from tests.support import serve_hitl

    async with serve_hitl(db_url, emulator, clock, HITL_WEBHOOK_SECRET=None) as hitl:
        response = await hitl.escalate(callback_url="https://llm.example.com/hook")
        assert response.status_code == 422 and response.json()["fields"][0]["field"] == "callback_url"
        assert (await hitl.api.get("/v1/escalations/case-1")).status_code == 404
