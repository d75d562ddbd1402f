"""`HitlClient` (blocking) and `AsyncHitlClient`: escalate, read a case, wait for its decision.

Waiting long-polls `GET /v1/escalations/{case_id}?wait=…`; a server that answers at once (one without long
polling) is polled with back-off instead, never in a busy loop. State lives on the server: a decision made
while this process was down is there for the next `get` or `wait`.

What the two clients do is written once, as steps (`_core.Conversation`); each client only carries the steps
out: its httpx client sends the requests, and it sleeps where the steps say, blocking or async.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar

import httpx

from hitl_client import _core

DEFAULT_TIMEOUT = 10.0

# Module-level so tests can run the clock and sleeps without waiting.
_monotonic = time.monotonic
_sleep = time.sleep
_async_sleep = asyncio.sleep

P = ParamSpec("P")
T = TypeVar("T")
Steps = Callable[Concatenate[Any, P], _core.Steps[T]]


Transport = TypeVar("Transport", httpx.BaseTransport, httpx.AsyncBaseTransport)


class _Base(_core.Conversation, Generic[Transport]):
    def __init__(
        self,
        base_url: str | None = None,
        token: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retries: int = 4,
        transport: Transport | None = None,
    ) -> None:
        super().__init__(base_url, token, timeout, retries)
        self._open(transport)

    def _open(self, transport: Transport | None) -> None:
        raise NotImplementedError

    def now(self) -> float:
        return _monotonic()


def _named(method: Callable[..., Any], steps: Callable[..., Any]) -> None:
    """The client method takes the steps' name (without the underscore), docstring and parameters."""
    method.__name__ = method.__qualname__ = steps.__name__.lstrip("_")
    method.__doc__ = steps.__doc__
    # What help() and inspect.signature show: the steps' parameters (their return type is the steps, not this).
    method.__signature__ = inspect.signature(steps).replace(return_annotation=inspect.Signature.empty)  # type: ignore[attr-defined]


def _blocking(steps: Steps[P, T]) -> Callable[Concatenate[HitlClient, P], T]:
    def method(self: HitlClient, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return self._run(steps(self, *args, **kwargs))

    _named(method, steps)
    return method


def _async(steps: Steps[P, T]) -> Callable[Concatenate[AsyncHitlClient, P], Awaitable[T]]:
    async def method(self: AsyncHitlClient, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return await self._run(steps(self, *args, **kwargs))

    _named(method, steps)
    return method


class HitlClient(_Base[httpx.BaseTransport]):
    """Blocking client. `HitlClient()` reads HITL_URL and HITL_API_TOKEN from the environment.

    `HitlClient(base_url, token, *, timeout=10.0, retries=4, transport=None)`: `transport` is httpx's (a test's
    `httpx.MockTransport`, say)."""

    def _open(self, transport: httpx.BaseTransport | None) -> None:
        self._http = httpx.Client(
            base_url=self.base_url, headers=self._headers, timeout=self.timeout, transport=transport
        )

    def __enter__(self) -> HitlClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _run(self, steps: _core.Steps[T]) -> T:
        """Carry the steps out: send their requests, sleep where they say; what they return."""
        run = _core.Run(steps)
        for step in run:
            if isinstance(step, _core.Sleep):
                _sleep(step.seconds)
            else:
                run.answer(_core.attempt(self._http.request, step))
        return run.result

    escalate = _blocking(_core.Conversation._escalate)
    get = _blocking(_core.Conversation._get)
    wait = _blocking(_core.Conversation._wait)
    request_approval = _blocking(_core.Conversation._request_approval)


class AsyncHitlClient(_Base[httpx.AsyncBaseTransport]):
    """The same as `HitlClient`, for asyncio: every method is a coroutine (`transport`: an async one)."""

    def _open(self, transport: httpx.AsyncBaseTransport | None) -> None:
        self._http = httpx.AsyncClient(
            base_url=self.base_url, headers=self._headers, timeout=self.timeout, transport=transport
        )

    async def __aenter__(self) -> AsyncHitlClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _run(self, steps: _core.Steps[T]) -> T:
        run = _core.Run(steps)
        for step in run:
            if isinstance(step, _core.Sleep):
                await _async_sleep(step.seconds)
            else:
                run.answer(await _core.attempt_async(self._http.request, step))
        return run.result

    escalate = _async(_core.Conversation._escalate)
    get = _async(_core.Conversation._get)
    wait = _async(_core.Conversation._wait)
    request_approval = _async(_core.Conversation._request_approval)
