"""The one Slack Web API client: `SLACK_API_URL`, with slack-sdk's retry handlers for 429 and 5xx."""

from __future__ import annotations

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
            except (TypeError, ValueError):
                return None
    return None
