"""hitl_client against a scripted transport (httpx.MockTransport) and a fake clock: retries, errors, parsing,
waiting and its back-off. Needs only the client package and pytest."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

pytest.importorskip("hitl_client", reason="./client is not installed (README: Tests)")

from hitl_client import (
    AsyncHitlClient,
    HitlClient,
    Invalid,
    Rejected,
    ServerError,
    TimedOut,
    Unauthorized,
    UnexpectedDecision,
    Unreachable,
    _core,
    require_approval,
)
from hitl_client import client as client_module

URL = "http://hitl.test"
PENDING = {"case_id": "c1", "status": "pending", "decision": None}
APPROVED = {
    "case_id": "c1",
    "status": "approved",
    "decision": {
        "outcome": "approved",
        "final_text": "ok",
        "decided_by": {"slack_user_id": "U1", "name": "dana"},
        "proposed_action": None,
    },
}


class FakeClock:
    """Time moves only when the client sleeps or the scripted server holds a request."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    async def async_sleep(self, seconds: float) -> None:
        self.sleep(seconds)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(client_module, "_monotonic", fake.monotonic)
    monkeypatch.setattr(client_module, "_sleep", fake.sleep)
    monkeypatch.setattr(client_module, "_async_sleep", fake.async_sleep)
    return fake


Handler = Callable[[httpx.Request], httpx.Response]


def blocking(handler: Handler, **options: Any) -> HitlClient:
    return HitlClient(URL, "token", transport=httpx.MockTransport(handler), **options)


def scripted(*answers: httpx.Response | Exception) -> tuple[Handler, list[httpx.Request]]:
    """A server that gives these answers in turn (an exception: the connection failed)."""
    queue = list(answers)
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = queue.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    return handle, seen


def ok(body: dict[str, Any], status: int = 200) -> httpx.Response:
    return httpx.Response(status, json=body)


def test_connection_errors_are_retried_with_growing_bounded_delays(clock: FakeClock) -> None:
    handle, seen = scripted(httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), ok(PENDING))
    case = blocking(handle).get("c1")
    assert case.pending and len(seen) == 3
    first, second = clock.sleeps
    assert 0.25 <= first <= 0.5 and 0.5 <= second <= 1.0


def test_unreachable_after_bounded_attempts_names_the_url(clock: FakeClock) -> None:
    handle, seen = scripted(*[httpx.ConnectError("refused")] * 3)
    with pytest.raises(Unreachable) as caught:
        blocking(handle, retries=2).get("c1")
    assert len(seen) == 3 and len(clock.sleeps) == 2
    assert URL in str(caught.value) and "3 attempts" in str(caught.value) and "ConnectError" in str(caught.value)


def test_503_is_retried_honouring_retry_after_and_the_replay_is_the_same_escalation(clock: FakeClock) -> None:
    busy = httpx.Response(503, json={"error": "busy"}, headers={"Retry-After": "3"})
    handle, seen = scripted(busy, ok({"case_id": "c1", "status": "pending", "queue": "billing"}, 200))
    case = blocking(handle).escalate("c1", "draft", "why", skill="billing", risk_level=None)
    assert clock.sleeps[0] >= 3
    assert seen[0].content == seen[1].content  # the same body: the server sees a replay of one case
    assert json.loads(seen[0].content) == {
        "case_id": "c1",
        "model_draft": "draft",
        "reason_for_escalation": "why",
        "skill": "billing",
    }
    assert case.created is False and case.queue == "billing"


@pytest.mark.parametrize(
    "response, error",
    [
        (httpx.Response(401, json={"error": "unauthorized"}), Unauthorized),
        (
            httpx.Response(
                422,
                json={
                    "error": "validation_failed",
                    "message": "2 field(s) are invalid",
                    "fields": [{"field": "risk_level", "message": "bad"}, {"field": "confidence", "message": "bad"}],
                },
            ),
            Invalid,
        ),
        (httpx.Response(413, json={"error": "too_large", "message": "too big"}), Invalid),
        (httpx.Response(500, text="Internal Server Error"), ServerError),
        (httpx.Response(200, text="<html>a proxy's page</html>"), ServerError),
    ],
)
def test_errors_are_not_retried_and_say_what_is_wrong(
    clock: FakeClock, response: httpx.Response, error: type[Exception]
) -> None:
    handle, seen = scripted(response)
    with pytest.raises(error) as caught:
        blocking(handle).escalate("c1", "draft", "why")
    assert len(seen) == 1 and clock.sleeps == []
    if isinstance(caught.value, Unauthorized):
        assert URL in str(caught.value)
    if isinstance(caught.value, Invalid) and caught.value.status == 422:
        assert [f["field"] for f in caught.value.fields] == ["risk_level", "confidence"]
        assert "risk_level: bad" in str(caught.value)


def test_wait_on_a_server_that_answers_at_once_backs_off_to_five_seconds(clock: FakeClock) -> None:
    handle, seen = scripted(*[ok(PENDING)] * 7, ok(APPROVED))
    decision = blocking(handle).wait("c1")
    assert decision.approved and decision.decided_by is not None and decision.decided_by.name == "dana"
    assert clock.sleeps == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 5.0]
    assert all(r.url.params["wait"] == "60s" for r in seen)


def test_wait_long_polls_without_sleeping_and_stops_at_its_own_deadline(clock: FakeClock) -> None:
    asked: list[str] = []

    def long_polling(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.params.get("wait", ""))
        held = float(asked[-1].rstrip("s")) if asked[-1] else 0.0
        clock.now += held  # the server holds the request for the whole wait
        return ok(PENDING)

    with pytest.raises(TimedOut) as caught:
        blocking(long_polling).wait("c1", timeout=150.5)
    assert asked == ["60s", "60s", "30s", ""]  # the last half second is a plain read
    assert clock.sleeps == [0.5]  # only after that read, which came back at once
    assert clock.now == pytest.approx(1000 + 150.5)
    assert caught.value.case is not None and caught.value.case.pending and caught.value.timeout == 150.5


def test_a_held_answer_resets_the_back_off(clock: FakeClock) -> None:
    answers = iter([0.0, 0.0, 20.0, 0.0])  # how long the server holds each request

    def server(request: httpx.Request) -> httpx.Response:
        clock.now += next(answers, 0.0)
        return ok(APPROVED if len(clock.sleeps) >= 3 else PENDING)

    blocking(server).wait("c1")
    assert clock.sleeps == [0.5, 1.0, 0.5]


def test_unknown_fields_and_outcomes_are_kept_not_dropped(clock: FakeClock) -> None:
    newer = {
        "case_id": "c1",
        "status": "escalated_to_legal",
        "legal_ticket": {"id": "L-7"},
        "tier": "two",
        "decision": {
            "outcome": "escalated_to_legal",
            "decided_at": "next tuesday",
            "note": "see L-7",
            "routing": ["legal"],
        },
    }
    handle, _ = scripted(ok(newer))
    decision = blocking(handle).wait("c1")
    assert (decision.outcome, decision.note, decision.decided_at) == ("escalated_to_legal", "see L-7", None)
    assert decision.raw == newer["decision"] and decision.unparsed == ("decided_at",)
    assert decision.model_extra == {"routing": ["legal"]}
    assert not decision.approved and not decision.rejected
    handle, _ = scripted(ok(newer))
    case = blocking(handle).get("c1")
    assert case.model_extra == {"legal_ticket": {"id": "L-7"}} and case.raw["tier"] == "two" and case.tier is None


def test_request_approval_fails_closed_on_an_outcome_it_does_not_know(clock: FakeClock) -> None:
    created = ok({"case_id": "a1", "status": "pending"}, 201)
    newer = ok({"case_id": "a1", "status": "deferred", "decision": {"outcome": "deferred", "note": "ask again monday"}})
    handle, seen = scripted(created, newer)
    with pytest.raises(UnexpectedDecision) as caught:
        blocking(handle).request_approval("refund", {"amount": 5}, reason="why", case_id="a1")
    assert caught.value.decision.raw == {"outcome": "deferred", "note": "ask again monday"}
    sent = json.loads(seen[0].content)
    assert sent["proposed_action"] == {"action": "refund", "args": {"amount": 5}}
    assert sent["model_draft"] == "Proposed action: refund\n- amount: 5"


def test_a_decided_status_without_a_decision_object_still_returns(clock: FakeClock) -> None:
    handle, _ = scripted(ok({"case_id": "c1", "status": "rejected", "decision": None}))
    assert blocking(handle).wait("c1").rejected


def test_rejection_carries_category_and_note(clock: FakeClock) -> None:
    rejected = {
        "case_id": "a1",
        "status": "rejected",
        "decision": {"outcome": "rejected", "reason": "unsafe", "note": "no", "decided_by": {"slack_user_id": "U9"}},
    }
    handle, _ = scripted(ok({"case_id": "a1", "status": "pending"}, 201), ok(rejected))
    with pytest.raises(Rejected) as caught:
        blocking(handle).request_approval("wipe", {}, reason="why", case_id="a1")
    assert (caught.value.category, caught.value.note) == ("unsafe", "no") and "by U9" in str(caught.value)


def test_decorator_calls_the_function_with_the_approved_arguments(clock: FakeClock) -> None:
    proposals: list[dict[str, Any]] = []

    def server(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            proposals.append(json.loads(request.content)["proposed_action"])
            return ok({"case_id": "x", "status": "pending"}, 201)
        args = {**proposals[-1]["args"], "b": 20, "extra": "edited"}
        action = {**proposals[-1], "args": args, "idempotency_key": "hitl_k"}
        return ok({"case_id": "x", "status": "edited", "decision": {"outcome": "edited", "proposed_action": action}})

    calls: list[tuple[Any, ...]] = []

    with blocking(server) as hitl:

        @require_approval(hitl)
        def move(a: int, /, b: int, *rest: int, c: int = 3, **more: Any) -> None:
            calls.append((a, b, rest, c, more))

        move(1, 2, 7, 8, c=4, tag="t")
    assert proposals == [{"action": "move", "args": {"a": 1, "b": 2, "rest": [7, 8], "c": 4, "tag": "t"}}]
    assert calls == [(1, 20, (7, 8), 4, {"tag": "t", "extra": "edited"})]


def test_decorator_refuses_a_client_of_the_wrong_kind() -> None:
    async def tool() -> None: ...

    def plain() -> None: ...

    with blocking(lambda r: ok(PENDING)) as hitl, pytest.raises(TypeError, match="AsyncHitlClient"):
        require_approval(hitl)(tool)
    async_client = AsyncHitlClient(URL, "token")
    with pytest.raises(TypeError, match="needs a HitlClient"):
        require_approval(async_client)(plain)


async def test_async_client_retries_and_backs_off_too(clock: FakeClock) -> None:
    answers: list[httpx.Response | Exception] = [httpx.ConnectError("down"), ok(PENDING), ok(PENDING), ok(APPROVED)]

    async def handle(request: httpx.Request) -> httpx.Response:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    async with AsyncHitlClient(URL, "token", transport=httpx.MockTransport(handle)) as hitl:
        decision = await hitl.wait("c1", timeout=100)
    assert decision.approved
    assert 0.25 <= clock.sleeps[0] <= 0.5 and clock.sleeps[1:] == [0.5, 1.0]


async def test_async_wait_times_out_at_its_deadline(clock: FakeClock) -> None:
    async def handle(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0)
        return ok(PENDING)

    async with AsyncHitlClient(URL, "token", transport=httpx.MockTransport(handle)) as hitl:
        with pytest.raises(TimedOut):
            await hitl.wait("c1", timeout=3)
    assert sum(clock.sleeps) == pytest.approx(3.0) and clock.sleeps == [0.5, 1.0, 1.5]


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HITL_URL", raising=False)
    monkeypatch.delenv("HITL_API_TOKEN", raising=False)
    with pytest.raises(ValueError, match="HITL_URL"):
        HitlClient()
    monkeypatch.setenv("HITL_URL", "http://example.test/")
    with pytest.raises(ValueError, match="HITL_API_TOKEN"):
        HitlClient()
    monkeypatch.setenv("HITL_API_TOKEN", "t")
    assert HitlClient().base_url == "http://example.test"


def test_paths_and_wait_parameters() -> None:
    assert _core.case_path("tenant/acme:case 1") == "/v1/escalations/tenant/acme:case%201"
    assert (
        _core.wait_param(75) == {"wait": "60s"}
        and _core.wait_param(2.9) == {"wait": "2s"}
        and _core.wait_param(0.9) == {}
    )
    assert _core.stable_case_id("p", {"b": 1, "a": 2}) == _core.stable_case_id("p", {"a": 2, "b": 1})
    assert _core.stable_case_id("p", {"a": 1}) != _core.stable_case_id("p", {"a": 2})
    assert len(_core.stable_case_id("mcp-permission", "x" * 1000)) <= 128
