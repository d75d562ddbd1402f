"""What the sync and async clients share: request bodies, answers to exceptions, retry and wait timing, and
the conversation with the server itself, as steps.

No I/O here: `Conversation`'s methods yield the `Call`s and `Sleep`s they need and are sent back what came of
each call; `client.py` carries the steps out with httpx, blocking or async.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import uuid
from collections.abc import Awaitable, Callable, Generator, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx
from pydantic_core import to_jsonable_python

from hitl_client.errors import (
    Conflict,
    HitlError,
    Invalid,
    NotFound,
    Rejected,
    ServerError,
    TimedOut,
    Unauthorized,
    UnexpectedDecision,
    Unreachable,
)
from hitl_client.models import Approval, Case, Decision

ESCALATIONS = "/v1/escalations"
# Worth another attempt: the request never got an answer, or the server (or a proxy) said "not now".
# Safe for POST too, because the case_id makes an escalation idempotent (a replay answers 200).
RETRY_STATUSES = frozenset({429, 502, 503, 504})
MAX_SERVER_WAIT = 60.0  # the server caps ?wait= (assumed 60 s); longer waits are several long polls
HELD = 1.0  # a pending answer faster than this means the server did not hold the request (an old server)
POLL_FIRST, POLL_MAX = 0.5, 5.0  # back-off between plain polls when the server does not hold
RETRY_AFTER_MAX = 30.0


def settings_from_env(base_url: str | None, token: str | None) -> tuple[str, str]:
    base_url = base_url or os.environ.get("HITL_URL")
    token = token or os.environ.get("HITL_API_TOKEN")
    if not base_url:
        raise ValueError("hitl_client needs the server's URL: pass base_url or set HITL_URL")
    if not token:
        raise ValueError("hitl_client needs an API token: pass token or set HITL_API_TOKEN")
    return base_url.rstrip("/"), token


def case_path(case_id: str) -> str:
    if not case_id:
        raise ValueError("case_id is empty")
    return f"{ESCALATIONS}/{quote(case_id, safe=':@/._-')}"


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries with capped exponential back-off and jitter, at least what Retry-After asks."""

    attempts: int = 5
    first_delay: float = 0.5
    max_delay: float = 8.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        base = min(self.first_delay * 2 ** (attempt - 1), self.max_delay)
        delay = base / 2 + random.uniform(0, base / 2)  # jitter: clients cut off together don't return together
        if retry_after is not None:
            delay = max(delay, min(retry_after, RETRY_AFTER_MAX))
        return float(delay)


def retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def transport_failure(exc: httpx.TransportError) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def decode(response: httpx.Response, base_url: str, case_id: str | None) -> dict[str, Any]:
    """The answer's JSON object, or the exception its status means."""
    status = response.status_code
    if status == 401:
        raise Unauthorized(base_url)
    try:
        body = response.json()
    except ValueError:
        body = None
    if status in (200, 201):
        if not isinstance(body, dict):
            raise ServerError(base_url, status, response.text)
        return body
    details = body if isinstance(body, dict) else {}
    message = str(details.get("message") or response.reason_phrase)
    if status == 404 and case_id is not None:
        raise NotFound(case_id)
    if status == 409 and case_id is not None:
        raise Conflict(case_id, message)
    if status in (400, 413, 422):
        fields = details.get("fields")
        raise Invalid(
            status, str(details.get("error") or "invalid"), message, fields if isinstance(fields, list) else []
        )
    raise ServerError(base_url, status, response.text)


def escalation_body(
    case_id: str, model_draft: str, reason_for_escalation: str, fields: Mapping[str, Any]
) -> dict[str, Any]:
    body = {"case_id": case_id, "model_draft": model_draft, "reason_for_escalation": reason_for_escalation}
    # None means "not given": the server's defaults apply, and a retry sends the very same body.
    body.update({k: v for k, v in fields.items() if v is not None})
    jsonable: dict[str, Any] = to_jsonable_python(body)
    return jsonable


def created_case(response: httpx.Response, base_url: str, case_id: str) -> Case:
    case = Case.model_validate(decode(response, base_url, case_id))
    case.created = response.status_code == 201
    return case


def wait_param(seconds: float) -> dict[str, str]:
    """`?wait=30s` for a long poll; nothing for less than a second (a plain read)."""
    whole = math.floor(min(seconds, MAX_SERVER_WAIT))
    return {"wait": f"{whole}s"} if whole >= 1 else {}


def held(asked: float, took: float) -> bool:
    """Whether the server held a pending answer (a long-polling server) rather than answering at once."""
    return took >= min(HELD, asked / 2)


def decision_of(case: Case) -> Decision:
    """A decided case's decision; a decided status without one (a newer server?) still comes back, raw kept."""
    if case.decision is not None:
        return case.decision
    return Decision.model_validate({"outcome": case.status})


def new_case_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


def stable_case_id(prefix: str, *parts: Any) -> str:
    """The same parts, the same case_id: a repeated request finds its case instead of opening another."""
    digest = hashlib.sha256(canonical_json(list(parts)).encode()).hexdigest()[:40]
    return f"{prefix}:{digest}"


def canonical_json(value: Any) -> str:
    return json.dumps(
        to_jsonable_python(value, fallback=str), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )


def describe_action(action: str, args: Mapping[str, Any]) -> str:
    """The card's draft for a structured action (the card also shows the args as fields)."""
    lines = [f"Proposed action: {action}"]
    lines += [f"- {key}: {json.dumps(value, ensure_ascii=False, default=str)}" for key, value in args.items()]
    return "\n".join(lines)


def approval(case_id: str, action: str, args: Mapping[str, Any], decision: Decision) -> Approval:
    """An approved decision as the action to run; a rejection raises `Rejected`, an unknown outcome fails closed."""
    if decision.rejected:
        raise Rejected(case_id, decision.reason, decision.note, decision)
    if not decision.approved:
        raise UnexpectedDecision(case_id, decision)
    approved = decision.proposed_action
    return Approval(
        case_id=case_id,
        action=approved.action if approved and approved.action else action,
        args=approved.args if approved else dict(args),
        edited=decision.edited,
        idempotency_key=approved.idempotency_key if approved else None,
        note=decision.note,
        decided_by=decision.decided_by,
        decision=decision,
    )


T = TypeVar("T")


@dataclass(frozen=True)
class Call:
    """An HTTP request for the driver to send."""

    method: str
    path: str
    timeout: float
    options: dict[str, Any]  # httpx's json=, params=


@dataclass(frozen=True)
class Sleep:
    seconds: float


# What came of a Call: the response, or the transport error the request raised.
Answer = httpx.Response | httpx.TransportError
Steps = Generator[Call | Sleep, Answer | None, T]


def attempt(request: Callable[..., httpx.Response], call: Call) -> Answer:
    try:
        return request(call.method, call.path, timeout=call.timeout, **call.options)
    except httpx.TransportError as exc:
        return exc


async def attempt_async(request: Callable[..., Awaitable[httpx.Response]], call: Call) -> Answer:
    try:
        return await request(call.method, call.path, timeout=call.timeout, **call.options)
    except httpx.TransportError as exc:
        return exc


class Run(Generic[T]):
    """Steps being carried out: iterating gives each step; `answer` hands back what came of a `Call`; `result`
    is what the steps returned, once the iteration ends (an exception they raise comes out of the iteration)."""

    def __init__(self, steps: Steps[T]) -> None:
        self._steps = steps
        self._answer: Answer | None = None
        self._result: tuple[T] | None = None

    def __iter__(self) -> Iterator[Call | Sleep]:
        try:
            while True:
                answer, self._answer = self._answer, None
                yield self._steps.send(answer)
        except StopIteration as done:
            self._result = (done.value,)

    def answer(self, answer: Answer) -> None:
        self._answer = answer

    @property
    def result(self) -> T:
        assert self._result is not None, "the steps have not finished"
        return self._result[0]


class Conversation:
    """The client's side of the API, once for both clients: each method is the steps of one client method."""

    def __init__(self, base_url: str | None, token: str | None, timeout: float, retries: int) -> None:
        self.base_url, token = settings_from_env(base_url, token)
        self.timeout = timeout
        self.retry = RetryPolicy(attempts=retries + 1)
        self._headers = {"Authorization": f"Bearer {token}", "User-Agent": "hitl-client/0.1"}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.base_url!r})"

    def now(self) -> float:
        """Seconds on a monotonic clock (the client's own, which tests replace)."""
        raise NotImplementedError

    def _escalate(self, /, case_id: str, model_draft: str, reason_for_escalation: str, **fields: Any) -> Steps[Case]:
        """Send an escalation (fields as in the HTTP API). Sending the same one again is safe: same case back."""
        body = escalation_body(case_id, model_draft, reason_for_escalation, fields)
        response = yield from self._send("POST", ESCALATIONS, json=body)
        return created_case(response, self.base_url, case_id)

    def _get(self, case_id: str) -> Steps[Case]:
        """The case as the server has it now: status, decision, timeline, deliveries."""
        return (yield from self._read(case_id, 0.0))

    def _wait(self, case_id: str, *, timeout: float | None = None) -> Steps[Decision]:
        """Wait until the case is decided and return the decision; `TimedOut` after `timeout` seconds.

        A case that went unhandled (paging ran out) is still pending and decidable, so waiting goes on."""
        deadline = None if timeout is None else self.now() + timeout
        pause, case = POLL_FIRST, None
        while True:
            remaining = None if deadline is None else deadline - self.now()
            if remaining is not None and remaining <= 0:
                raise TimedOut(case_id, timeout or 0.0, case)
            asked = MAX_SERVER_WAIT if remaining is None else min(MAX_SERVER_WAIT, remaining)
            started = self.now()
            case = yield from self._read(case_id, asked)
            if case.decided:
                return decision_of(case)
            if held(asked, self.now() - started):
                pause = POLL_FIRST
                continue
            yield Sleep(pause if deadline is None else max(0.0, min(pause, deadline - self.now())))
            pause = min(pause * 2, POLL_MAX)

    def _request_approval(
        self,
        /,
        action: str,
        args: Mapping[str, Any],
        *,
        reason: str,
        risk_level: str | None = None,
        skill: str | None = None,
        timeout: float | None = None,
        case_id: str | None = None,
        draft: str | None = None,
        **fields: Any,
    ) -> Steps[Approval]:
        """Propose a structured action, wait, and return it as approved (maybe edited); `Rejected` otherwise.

        Pass your own `case_id` to pick the same case up again after a crash."""
        case_id = case_id or new_case_id("approval")
        proposed = {"action": action, "args": dict(args)}
        yield from self._escalate(
            case_id,
            draft or describe_action(action, args),
            reason,
            proposed_action=proposed,
            risk_level=risk_level,
            skill=skill,
            **fields,
        )
        decision = yield from self._wait(case_id, timeout=timeout)
        return approval(case_id, action, args, decision)

    def _read(self, case_id: str, wait: float) -> Steps[Case]:
        params = wait_param(wait)
        timeout = self.timeout + (wait if params else 0.0)
        response = yield from self._send("GET", case_path(case_id), params=params, timeout=timeout)
        return Case.model_validate(decode(response, self.base_url, case_id))

    def _send(self, method: str, path: str, *, timeout: float | None = None, **options: Any) -> Steps[httpx.Response]:
        """One request, retried (bounded, with back-off) while the connection fails or the server says "not now"."""
        last = ""
        for attempt_number in range(1, self.retry.attempts + 1):
            answer = yield Call(method, path, timeout or self.timeout, options)
            if isinstance(answer, httpx.UnsupportedProtocol):
                raise HitlError(f"hitl URL {self.base_url!r} is not http(s): {answer}") from answer
            if isinstance(answer, httpx.TransportError):
                last, wait_at_least = transport_failure(answer), None
            else:
                assert answer is not None
                if answer.status_code not in RETRY_STATUSES:
                    return answer
                last, wait_at_least = f"HTTP {answer.status_code}", retry_after(answer)
            if attempt_number < self.retry.attempts:
                yield Sleep(self.retry.delay(attempt_number, wait_at_least))
        raise Unreachable(self.base_url, self.retry.attempts, last)
