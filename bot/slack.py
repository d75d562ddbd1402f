"""The one Slack Web API client: `SLACK_API_URL`, with slack-sdk's retry handlers for 429 and 5xx."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler, AsyncServerErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import Settings


def create_slack_client(settings: Settings, *, timeout: int = 10, retries: int = 2) -> AsyncWebClient:
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    client = AsyncWebClient(token=token, base_url=settings.slack_api_url, timeout=timeout)
    # The connection-error handler is already there by default; these add Retry-After-aware 429s and 5xx.
    # A call that still fails is retried later by the outbox, so the in-call retries stay few and short.
    client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=retries))
    client.retry_handlers.append(AsyncServerErrorRetryHandler(max_retry_count=retries))
    return client


def slack_error_code(exc: BaseException) -> str:
    """`channel_not_found`, `ratelimited`, `http_503`… for logs and the status API."""
    response = getattr(exc, "response", None)
    if response is not None:
        try:
            error = response.get("error")
        except Exception:  # noqa: BLE001 - a response that is not JSON
            error = None
        if error:
            return str(error)
        status = getattr(response, "status_code", None)
        if status:
            return f"http_{status}"
    return type(exc).__name__


def retry_after_seconds(exc: BaseException) -> float | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None) or {}
    for key, value in dict(headers).items():
        if key.lower() == "retry-after":
            values = value if isinstance(value, list) else [value]
            try:
                return float(values[0])
            except (IndexError, TypeError, ValueError):
                return None
    return None


class ChannelPacer:
    """Spaces this process's posts to each channel (Slack allows about one message a second per channel), so a
    burst is sent at the allowed rate instead of discovering the limit through a storm of 429s."""

    def __init__(
        self,
        per_second: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.interval = 1.0 / per_second
        self._next_slot: dict[str, float] = {}
        self._clock = clock
        self._sleep = sleep

    @contextlib.asynccontextmanager
    async def slot(self, channel: str) -> AsyncIterator[None]:
        """Wait for this channel's next slot, post, and count the next interval from when the post finished:
        Slack sees arrivals, and a slow request must not squeeze the gap to the one after it."""
        now = self._clock()
        slot = max(now, self._next_slot.get(channel, 0.0))
        # Reserve the slot before sleeping: no await between reading and writing it.
        self._next_slot[channel] = slot + self.interval
        if slot > now:
            await self._sleep(slot - now)
        try:
            yield
        finally:
            self._next_slot[channel] = max(self._next_slot[channel], self._clock() + self.interval)
