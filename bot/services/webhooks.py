"""Outbound webhooks, signed per Standard Webhooks (webhook-id / webhook-timestamp / webhook-signature),
queued in the outbox and delivered with httpx over the pinned transport (bot.outbound_http): retried on
transient failures, given up on a refused address, a redirect or a 4xx other than 429.

What went wrong is stored as `category: detail` (`last_error`); the status API shows only the category.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import ssl
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession
from standardwebhooks.webhooks import Webhook as Signer

from bot.clock import Clock
from bot.domain.audit import SYSTEM, AuditAction
from bot.domain.outbox import OutboxMessage, Webhook
from bot.durations import format_duration
from bot.outbound import BLOCKED_ADDRESS, INVALID_URL, OutboundRules, redact_url, url_refusal
from bot.outbound_http import BlockedAddress, DnsFailed
from bot.outbox import AfterDelivery, Delivery, GiveUp, RetryLater, backoff
from store import outbox
from store.audit import append_audit
from store.models import OutboxItem

log = logging.getLogger(__name__)

# Failure categories (README, "Webhooks"). Retried until HITL_WEBHOOK_GIVE_UP_AFTER, with http_429 and http_5xx:
RETRIED = frozenset({"timeout", "connect_failed", "dns_failed", "tls_failed", "protocol_error"})
# Given up at once, with every other http_4xx; `expired` once HITL_WEBHOOK_GIVE_UP_AFTER has passed:
GIVEN_UP = frozenset({BLOCKED_ADDRESS, INVALID_URL, "redirect", "no_secret", "expired"})
UNKNOWN = "failed"
_HTTP_STATUS = re.compile(r"^http_[1-5][0-9][0-9]$")

# A receiver's answer is read this far, only so its connection can be reused; its status is what counts.
DRAIN_BYTES = 64 * 1024
DRAIN_SECONDS = 2.0


async def enqueue_webhook(
    session: AsyncSession,
    *,
    url: str,
    event_type: str,
    data: dict[str, Any],
    now: datetime,
    case_id: str | None = None,
    event_id: str | None = None,
) -> str:
    """Queue one event; its `event_id` is the receiver's idempotency key (and our dedupe key)."""
    event_id = event_id or f"evt_{uuid.uuid4().hex}"
    body = {"event_id": event_id, "type": str(event_type), "created_at": now.isoformat(), **data}
    await outbox.enqueue(session, Webhook(url=url, event_id=event_id, body=body, case_id=case_id), now=now)
    return event_id


def signed_headers(secret: str, event_id: str, at: datetime, body: str) -> dict[str, str]:
    signature = Signer(secret).sign(event_id, at, body)
    return {
        "webhook-id": event_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
    }


def failure_category(last_error: str | None) -> str | None:
    """The category of a stored `last_error` (`given up: redirect: …` → `redirect`), for the status API."""
    if last_error is None:
        return None
    head = last_error.removeprefix("given up: ").split(":", 1)[0].strip()
    return head if head in RETRIED or head in GIVEN_UP or _HTTP_STATUS.match(head) else UNKNOWN


def transport_category(exc: BaseException) -> str:
    """What a failed request's exception means, in a word a receiver's operator can act on."""
    if isinstance(exc, DnsFailed):
        return "dns_failed"
    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    if isinstance(exc, httpx.ConnectError):
        return "tls_failed" if _caused_by(exc, ssl.SSLError) else "connect_failed"
    if isinstance(exc, httpx.ProtocolError):
        return "protocol_error"
    if isinstance(exc, (httpx.UnsupportedProtocol, httpx.InvalidURL)):
        return INVALID_URL
    if isinstance(exc, httpx.TransportError):
        return "connect_failed"
    return UNKNOWN


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, kind):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class WebhookDelivery:
    """Delivers `Webhook` items: signed with HITL_WEBHOOK_SECRET, over the pinned client, within the give-up window."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        clock: Clock,
        *,
        secret: str | None,
        rules: OutboundRules,
        first_retry: timedelta,
        give_up_after: timedelta,
    ) -> None:
        self.http = http
        self.clock = clock
        self.secret = secret
        self.rules = rules
        self.first_retry = first_retry
        self.give_up_after = give_up_after

    def delivery(self) -> Delivery:
        return Delivery(self.deliver, retry_base=self.first_retry.total_seconds())

    async def deliver(self, item: OutboxItem, message: OutboxMessage) -> AfterDelivery | None:
        assert isinstance(message, Webhook)
        secret = self._deliverable_with(item, message.url)
        body = json.dumps(message.body, ensure_ascii=False, separators=(",", ":"))
        # Real time, not the domain clock: receivers check the signature's timestamp against their own clock.
        headers = signed_headers(secret, message.event_id, datetime.now(UTC), body)
        try:
            status, retry_after = await _post(self.http, message.url, body.encode("utf-8"), headers)
        except BlockedAddress as exc:
            raise GiveUp(f"{BLOCKED_ADDRESS}: {exc}") from None
        except (httpx.HTTPError, httpx.InvalidURL, DnsFailed) as exc:
            category = transport_category(exc)
            if category in GIVEN_UP:
                raise GiveUp(f"{category}: {type(exc).__name__}") from None
            raise self._retry(item, message, category, None) from None
        if 300 <= status < 400:
            raise GiveUp(f"redirect: the receiver answered {status}; redirects are not followed")
        if status == 429 or status >= 500:
            raise self._retry(item, message, f"http_{status}", retry_after)
        if status >= 400 or status < 200:
            raise GiveUp(f"http_{status}: the receiver answered {status}")

        async def after(session: AsyncSession) -> None:
            if item.case_id:
                details = {"event_id": message.event_id, "status": status, "attempts": item.attempts}
                await append_audit(
                    session,
                    action=AuditAction.WEBHOOK_DELIVERED,
                    actor=SYSTEM,
                    at=self.clock.now(),
                    case_id=item.case_id,
                    details=details,
                )

        return after

    def _deliverable_with(self, item: OutboxItem, url: str) -> str:
        """The signing secret, or GiveUp: too late, nothing to sign with, or a URL the rules refuse (checked again
        here: the item may predate the rules, and the policy's URLs are not checked by ingest)."""
        if self.clock.now() - item.created_at > self.give_up_after:
            raise GiveUp(
                f"expired: not delivered within {format_duration(self.give_up_after)} "
                f"(last failure: {failure_category(item.last_error)})"
            )
        if not self.secret:
            raise GiveUp("no_secret: HITL_WEBHOOK_SECRET is not set")
        refusal = url_refusal(url, self.rules)
        if refusal is not None:
            raise GiveUp(f"{refusal.category}: {refusal.message}")
        return self.secret

    def _retry(self, item: OutboxItem, message: Webhook, category: str, retry_after: float | None) -> RetryLater:
        """Back off like the worker does (honouring Retry-After), with the category as the stored error."""
        wait = max(retry_after or 0.0, backoff(item.attempts, base=self.first_retry.total_seconds()))
        log.warning(
            "webhook %s to %s failed (attempt %d): %s; retry in %.1fs",
            message.event_id,
            redact_url(message.url),
            item.attempts,
            category,
            wait,
        )
        return RetryLater(category, seconds=wait)


async def _post(client: httpx.AsyncClient, url: str, body: bytes, headers: dict[str, str]) -> tuple[int, float | None]:
    async with client.stream("POST", url, content=body, headers=headers) as response:
        await _drain(response)
        return response.status_code, _retry_after(response.headers.get("retry-after"))


async def _drain(response: httpx.Response) -> None:
    """Read a little of the answer so the connection can be kept; a large or slow one is just closed."""
    read = 0
    try:
        async with asyncio.timeout(DRAIN_SECONDS):
            async for chunk in response.aiter_raw():
                read += len(chunk)
                if read > DRAIN_BYTES:
                    return
    except (TimeoutError, httpx.HTTPError):
        return


def _retry_after(value: str | None) -> float | None:
    try:
        return max(float(value), 0.0) if value else None
    except ValueError:
        return None
