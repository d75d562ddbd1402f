"""hitl_client against the real hitl app over HTTP, with reviewers deciding through signed Slack requests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from slack_emulator.webapi import serve_asgi

pytest.importorskip("hitl_client", reason="./client is not installed (README: Tests)")

from hitl_client import (
    AsyncHitlClient,
    Conflict,
    HitlClient,
    Invalid,
    InvalidSignature,
    NotFound,
    Rejected,
    TimedOut,
    Unauthorized,
    require_approval,
    verify_webhook,
)
from tests.client_harness import approve, client, edit, quick_polls, reject, server  # noqa: F401 - fixtures
from tests.support import API_TOKEN, WEBHOOK_SECRET, Harness, escalation

REFUND = {"invoice": "1042", "amount": 49.0, "currency": "USD"}


async def test_escalate_wait_and_approve(server: Harness, client: AsyncHitlClient) -> None:
    case = await client.escalate(**escalation())
    assert (case.case_id, case.status, case.queue, case.created) == ("case-1", "pending", "billing", True)
    assert case.automation == {"paused": False, "mode": None}
    assert (await client.escalate(**escalation())).created is False  # a retry is a replay, not a second case
    waiting = asyncio.create_task(client.wait("case-1", timeout=30))
    await approve(server, "case-1", note="Checked the ledger")
    decision = await waiting
    assert decision.outcome == "approved" and decision.approved and not decision.edited
    assert decision.final_text == escalation()["model_draft"] and decision.note == "Checked the ledger"
    assert decision.decided_by is not None and decision.decided_by.slack_user_id == "U0SME1"
    assert (
        decision.proposed_action is not None
        and decision.proposed_action.args == escalation()["proposed_action"]["args"]
    )
    assert decision.proposed_action.idempotency_key and decision.proposed_action.idempotency_key.startswith("hitl_")
    case = await client.get("case-1")
    assert case.decided and case.decision == decision and case.raw["decision"]["outcome"] == "approved"
    assert [e["action"] for e in case.timeline][-1] == "approved"


async def test_request_approval_returns_the_edited_args(server: Harness, client: AsyncHitlClient) -> None:
    asking = asyncio.create_task(
        client.request_approval(
            "refund", REFUND, reason="Refund above the automatic limit", skill="billing", case_id="refund-1"
        )
    )
    await edit(server, {"arg_1": "39.5"}, "refund-1")  # arg_1 is amount
    approval = await asking
    assert approval.edited and approval.args == {"invoice": "1042", "amount": 39.5, "currency": "USD"}
    assert (approval.action, approval.case_id) == ("refund", "refund-1") and approval.idempotency_key
    assert approval.decided_by is not None and approval.decided_by.name == "dana"


async def test_request_approval_rejected_carries_category_and_note(server: Harness, client: AsyncHitlClient) -> None:
    asking = asyncio.create_task(
        client.request_approval("refund", REFUND, reason="Refund above the automatic limit", skill="billing")
    )
    await reject(server, "policy_violation", "Refunds over $40 need a manager")
    with pytest.raises(Rejected) as caught:
        await asking
    assert caught.value.category == "policy_violation" and caught.value.note == "Refunds over $40 need a manager"
    assert "rejected by dana (policy_violation)" in str(caught.value)


async def test_blocking_client_and_decorator(server: Harness) -> None:
    ran: list[dict[str, Any]] = []
    with HitlClient(server.url, API_TOKEN) as hitl:

        @require_approval(hitl, skill="billing", reason="Refunds need a human")
        def refund(invoice: str, amount: float, currency: str = "USD") -> str:
            ran.append({"invoice": invoice, "amount": amount, "currency": currency})
            return f"refunded {amount} {currency}"

        # The blocking client runs in a thread: this test's loop serves hitl meanwhile.
        calling = asyncio.create_task(asyncio.to_thread(refund, "1042", 49.0))
        await edit(server, {"arg_1": "45"})
        assert await calling == "refunded 45.0 USD"  # the decimal input keeps the amount a number
        assert ran == [{"invoice": "1042", "amount": 45.0, "currency": "USD"}]

        calling = asyncio.create_task(asyncio.to_thread(refund, "1043", 10.0))
        case_id = await reject(server, "unsafe", "Not this customer", case_id=None)
        with pytest.raises(Rejected):
            await calling
        assert len(ran) == 1 and case_id.startswith("approval-")


async def test_async_decorator_runs_the_original_objects_when_unchanged(
    server: Harness, client: AsyncHitlClient
) -> None:
    class Ticket(dict):  # not JSON-native: the proposal carries its JSON form, the function gets the object
        pass

    seen: list[Any] = []

    @require_approval(client, skill="billing")
    async def close_ticket(ticket: Ticket, *, notify: bool = True) -> None:
        seen.append((ticket, notify))

    ticket = Ticket(id="T-9")
    calling = asyncio.create_task(close_ticket(ticket))
    case_id = await approve(server)
    await calling
    assert seen == [(ticket, True)] and seen[0][0] is ticket
    approved = (await client.get(case_id)).decision
    assert approved is not None and approved.proposed_action is not None
    assert (approved.proposed_action.action, approved.proposed_action.args) == (
        "close_ticket",
        {"ticket": {"id": "T-9"}, "notify": True},
    )
    with HitlClient(server.url, API_TOKEN) as blocking, pytest.raises(TypeError, match="AsyncHitlClient"):
        require_approval(blocking)(close_ticket.__wrapped__)  # type: ignore[attr-defined]


async def test_timeout_then_a_decision_made_while_away_is_found(server: Harness, client: AsyncHitlClient) -> None:
    await client.escalate(**escalation())
    with pytest.raises(TimedOut) as caught:
        await client.wait("case-1", timeout=0.3)
    assert caught.value.case is not None and caught.value.case.pending
    await approve(server, "case-1")  # decided while nobody waits
    assert (await client.get("case-1")).status == "approved"
    assert (await client.wait("case-1", timeout=5)).approved


async def test_an_unhandled_case_keeps_the_waiter_waiting(server: Harness, client: AsyncHitlClient) -> None:
    await client.escalate(**escalation())
    waiting = asyncio.create_task(client.wait("case-1", timeout=60))
    await server.settle()
    for step in (timedelta(hours=4), timedelta(hours=1), *[timedelta(minutes=30)] * 3, timedelta(minutes=30)):
        server.clock.advance(step)
        await server.rt.sweep.run()
        await server.settle()
    case = await client.get("case-1")
    assert case.pending and case.unhandled and case.unhandled_at is not None
    await asyncio.sleep(0.3)
    assert not waiting.done()
    await approve(server, "case-1", user="U0SME2")  # the last tier still decides
    assert (await waiting).approved


async def test_errors_name_what_is_wrong(server: Harness, client: AsyncHitlClient) -> None:
    async with AsyncHitlClient(server.url, "wrong-token") as intruder:
        with pytest.raises(Unauthorized, match=server.url):
            await intruder.get("case-1")
    with pytest.raises(Invalid) as caught:
        await client.escalate("case-2", "draft", "why", risk_level="extreme", confidence=1.5)
    assert caught.value.status == 422
    assert {f["field"] for f in caught.value.fields} == {"risk_level", "confidence"}
    await client.escalate(**escalation())
    with pytest.raises(Conflict):
        await client.escalate("case-1", "another draft", "why")
    with pytest.raises(NotFound):
        await client.get("nope")


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[str, list[tuple[bytes, dict[str, str]]]]]:
    received: list[tuple[bytes, dict[str, str]]] = []

    async def receive(request: Request) -> Response:
        received.append((await request.body(), dict(request.headers)))
        return Response(status_code=200)

    async with serve_asgi(Starlette(routes=[Route("/hook", receive, methods=["POST"])])) as url:
        yield f"{url}/hook", received


async def test_verify_webhook_accepts_the_servers_signature(
    server: Harness, client: AsyncHitlClient, receiver: Any
) -> None:
    secret = WEBHOOK_SECRET  # the test server's
    url, received = receiver
    await client.escalate(**escalation(), callback_url=url)
    await edit(server, {"draft_0": "Refunded $49.00 for invoice 1042.", "arg_1": "40"}, "case-1")
    await server.settle()
    [(body, headers)] = received
    event = verify_webhook(body, headers, secret)
    assert (event.type, event.case_id, event.outcome, event.edited) == ("review.decided", "case-1", "edited", True)
    assert event.final_text == "Refunded $49.00 for invoice 1042."
    assert event.proposed_action is not None and event.proposed_action.args["amount"] == 40
    assert event.original_action is not None and event.original_action.args["amount"] == 49.0
    assert event.event_id == headers["webhook-id"] and event.raw["queue"] == "billing"
    assert verify_webhook(body, headers, ["whsec_b2xkIHNlY3JldA==", secret]).event_id == event.event_id  # rotation
    with pytest.raises(InvalidSignature):
        verify_webhook(body.replace(b"edited", b"approved"), headers, secret)
    with pytest.raises(InvalidSignature):
        verify_webhook(body, headers, "whsec_b2xkIHNlY3JldA==")
