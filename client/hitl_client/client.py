"""`HitlClient` (blocking) and `AsyncHitlClient`: escalate, read a case, wait for its decision.

Waiting long-polls `GET /v1/escalations/{case_id}?wait=…`; a server that answers at once (one without long
polling) is polled with back-off instead, never in a busy loop. State lives on the server: a decision made
while this process was down is there for the next `get` or `wait`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

import httpx

from hitl_client import _core
from hitl_client.errors import HitlError, TimedOut, Unreachable
from hitl_client.models import Approval, Case, Decision

DEFAULT_TIMEOUT = 10.0

# Module-level so tests can run the clock and sleeps without waiting.
_monotonic = time.monotonic
_sleep = time.sleep
_async_sleep = asyncio.sleep


class _Base:
    def __init__(self, base_url: str | None, token: str | None, timeout: float, retries: int) -> None:
        self.base_url, token = _core.settings_from_env(base_url, token)
        self.timeout = timeout
        self.retry = _core.RetryPolicy(attempts=retries + 1)
        self._headers = {"Authorization": f"Bearer {token}", "User-Agent": "hitl-client/0.1"}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.base_url!r})"


class HitlClient(_Base):
    """Blocking client. `HitlClient()` reads HITL_URL and HITL_API_TOKEN from the environment."""

    def __init__(
        self,
        base_url: str | None = None,
        token: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retries: int = 4,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(base_url, token, timeout, retries)
        self._http = httpx.Client(base_url=self.base_url, headers=self._headers, timeout=timeout, transport=transport)

    def __enter__(self) -> HitlClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def escalate(self, case_id: str, model_draft: str, reason_for_escalation: str, **fields: Any) -> Case:
        """Send an escalation (fields as in the HTTP API). Sending the same one again is safe: same case back."""
        body = _core.escalation_body(case_id, model_draft, reason_for_escalation, fields)
        response = self._send("POST", _core.ESCALATIONS, json=body)
        return _core.created_case(response, self.base_url, case_id)

    def get(self, case_id: str) -> Case:
        """The case as the server has it now: status, decision, timeline, deliveries."""
        return self._get(case_id, 0.0)

    def wait(self, case_id: str, *, timeout: float | None = None) -> Decision:
        """Block until the case is decided and return the decision; `TimedOut` after `timeout` seconds.

        A case that went unhandled (paging ran out) is still pending and decidable, so waiting goes on."""
        deadline = None if timeout is None else _monotonic() + timeout
        pause, case = _core.POLL_FIRST, None
        while True:
            remaining = None if deadline is None else deadline - _monotonic()
            if remaining is not None and remaining <= 0:
                raise TimedOut(case_id, timeout or 0.0, case)
            asked = _core.MAX_SERVER_WAIT if remaining is None else min(_core.MAX_SERVER_WAIT, remaining)
            started = _monotonic()
            case = self._get(case_id, asked)
            if case.decided:
                return _core.decision_of(case)
            if _core.held(asked, _monotonic() - started):
                pause = _core.POLL_FIRST
                continue
            _sleep(pause if deadline is None else max(0.0, min(pause, deadline - _monotonic())))
            pause = min(pause * 2, _core.POLL_MAX)

    def request_approval(
        self,
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
    ) -> Approval:
        """Propose a structured action, wait, and return it as approved (maybe edited); `Rejected` otherwise.

        Pass your own `case_id` to pick the same case up again after a crash."""
        case_id = case_id or _core.new_case_id("approval")
        proposed = {"action": action, "args": dict(args)}
        self.escalate(
            case_id, draft or _core.describe_action(action, args), reason,
            proposed_action=proposed, risk_level=risk_level, skill=skill, **fields,
        )
        return _core.approval(case_id, action, args, self.wait(case_id, timeout=timeout))

    def _get(self, case_id: str, wait: float) -> Case:
        params = _core.wait_param(wait)
        timeout = self.timeout + (wait if params else 0.0)
        response = self._send("GET", _core.case_path(case_id), params=params, timeout=timeout)
        return Case.model_validate(_core.decode(response, self.base_url, case_id))

    def _send(self, method: str, path: str, *, timeout: float | None = None, **kwargs: Any) -> httpx.Response:
        last = ""
        for attempt in range(1, self.retry.attempts + 1):
            try:
                response = self._http.request(method, path, timeout=timeout or self.timeout, **kwargs)
            except httpx.UnsupportedProtocol as exc:
                raise HitlError(f"hitl URL {self.base_url!r} is not http(s): {exc}") from exc
            except httpx.TransportError as exc:
                last, wait_at_least = _core.transport_failure(exc), None
            else:
                if response.status_code not in _core.RETRY_STATUSES:
                    return response
                last, wait_at_least = f"HTTP {response.status_code}", _core.retry_after(response)
            if attempt < self.retry.attempts:
                _sleep(self.retry.delay(attempt, wait_at_least))
        raise Unreachable(self.base_url, self.retry.attempts, last)


class AsyncHitlClient(_Base):
    """The same as `HitlClient`, for asyncio: every method is a coroutine."""

    def __init__(
        self,
        base_url: str | None = None,
        token: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retries: int = 4,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(base_url, token, timeout, retries)
        self._http = httpx.AsyncClient(base_url=self.base_url, headers=self._headers, timeout=timeout, transport=transport)

    async def __aenter__(self) -> AsyncHitlClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def escalate(self, case_id: str, model_draft: str, reason_for_escalation: str, **fields: Any) -> Case:
        """Send an escalation (fields as in the HTTP API). Sending the same one again is safe: same case back."""
        body = _core.escalation_body(case_id, model_draft, reason_for_escalation, fields)
        response = await self._send("POST", _core.ESCALATIONS, json=body)
        return _core.created_case(response, self.base_url, case_id)

    async def get(self, case_id: str) -> Case:
        """The case as the server has it now: status, decision, timeline, deliveries."""
        return await self._get(case_id, 0.0)

    async def wait(self, case_id: str, *, timeout: float | None = None) -> Decision:
        """Wait until the case is decided and return the decision; `TimedOut` after `timeout` seconds.

        A case that went unhandled (paging ran out) is still pending and decidable, so waiting goes on."""
        deadline = None if timeout is None else _monotonic() + timeout
        pause, case = _core.POLL_FIRST, None
        while True:
            remaining = None if deadline is None else deadline - _monotonic()
            if remaining is not None and remaining <= 0:
                raise TimedOut(case_id, timeout or 0.0, case)
            asked = _core.MAX_SERVER_WAIT if remaining is None else min(_core.MAX_SERVER_WAIT, remaining)
            started = _monotonic()
            case = await self._get(case_id, asked)
            if case.decided:
                return _core.decision_of(case)
            if _core.held(asked, _monotonic() - started):
                pause = _core.POLL_FIRST
                continue
            await _async_sleep(pause if deadline is None else max(0.0, min(pause, deadline - _monotonic())))
            pause = min(pause * 2, _core.POLL_MAX)

    async def request_approval(
        self,
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
    ) -> Approval:
        """Propose a structured action, wait, and return it as approved (maybe edited); `Rejected` otherwise.

        Pass your own `case_id` to pick the same case up again after a crash."""
        case_id = case_id or _core.new_case_id("approval")
        proposed = {"action": action, "args": dict(args)}
        await self.escalate(
            case_id, draft or _core.describe_action(action, args), reason,
            proposed_action=proposed, risk_level=risk_level, skill=skill, **fields,
        )
        return _core.approval(case_id, action, args, await self.wait(case_id, timeout=timeout))

    async def _get(self, case_id: str, wait: float) -> Case:
        params = _core.wait_param(wait)
        timeout = self.timeout + (wait if params else 0.0)
        response = await self._send("GET", _core.case_path(case_id), params=params, timeout=timeout)
        return Case.model_validate(_core.decode(response, self.base_url, case_id))

    async def _send(self, method: str, path: str, *, timeout: float | None = None, **kwargs: Any) -> httpx.Response:
        last = ""
        for attempt in range(1, self.retry.attempts + 1):
            try:
                response = await self._http.request(method, path, timeout=timeout or self.timeout, **kwargs)
            except httpx.UnsupportedProtocol as exc:
                raise HitlError(f"hitl URL {self.base_url!r} is not http(s): {exc}") from exc
            except httpx.TransportError as exc:
                last, wait_at_least = _core.transport_failure(exc), None
            else:
                if response.status_code not in _core.RETRY_STATUSES:
                    return response
                last, wait_at_least = f"HTTP {response.status_code}", _core.retry_after(response)
            if attempt < self.retry.attempts:
                await _async_sleep(self.retry.delay(attempt, wait_at_least))
        raise Unreachable(self.base_url, self.retry.attempts, last)
