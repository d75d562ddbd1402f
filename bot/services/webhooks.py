"""Outbound webhooks, signed per Standard Webhooks (webhook-id / webhook-timestamp / webhook-signature),
queued in the outbox and delivered with httpx: retried on timeouts, 5xx and 429, given up on other 4xx."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession
from standardwebhooks.webhooks import Webhook

from bot.outbox import AfterDelivery, GiveUp, OutboxWorker
from bot.runtime import Runtime
from store import outbox
from store.audit import SYSTEM, append_audit
from store.models import OutboxItem

class RetryableHTTPError(Exception):
    """A 5xx or 429 answer; carries the response so the worker honours Retry-After."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"http_{response.status_code}")
        self.response = response


async def enqueue_webhook(session: AsyncSession, *, url: str, event_type: str, data: dict[str, Any], now: datetime, case_id: str | None = None, event_id: str | None = None) -> str:
    """Queue one event; its `event_id` is the receiver's idempotency key (and our dedupe key)."""
    event_id = event_id or f"evt_{uuid.uuid4().hex}"
    body = {"event_id": event_id, "type": event_type, "created_at": now.isoformat(), **data}
    await outbox.enqueue(session, kind="webhook", dedupe_key=f"webhook:{event_id}", payload={"url": url, "event_id": event_id, "body": body}, case_id=case_id, now=now)
    return event_id


def signed_headers(secret: str, event_id: str, at: datetime, body: str) -> dict[str, str]:
    signature = Webhook(secret).sign(event_id, at, body)
    return {"webhook-id": event_id, "webhook-timestamp": str(int(at.timestamp())), "webhook-signature": signature, "content-type": "application/json"}


async def deliver_webhook(rt: Runtime, item: OutboxItem) -> AfterDelivery | None:
    give_up = rt.settings.webhook_give_up_after
    if rt.clock.now() - item.created_at > give_up:
        raise GiveUp(f"not delivered within {give_up}")
    secret = rt.settings.webhook_secret.get_secret_value() if rt.settings.webhook_secret else None
    if not secret:
        raise GiveUp("HITL_WEBHOOK_SECRET is not set")
    body = json.dumps(item.payload["body"], ensure_ascii=False, separators=(",", ":"))
    # Real time, not the domain clock: receivers check the signature's timestamp against their own clock.
    headers = signed_headers(secret, item.payload["event_id"], datetime.now(timezone.utc), body)
    response = await rt.http.post(item.payload["url"], content=body.encode("utf-8"), headers=headers)
    if response.status_code == 429 or response.status_code >= 500:
        raise RetryableHTTPError(response)
    if response.status_code >= 400:
        raise GiveUp(f"receiver answered {response.status_code}")

    async def after(session: AsyncSession) -> None:
        if item.case_id:
            await append_audit(session, action="webhook_delivered", actor=SYSTEM, at=rt.clock.now(), case_id=item.case_id, details={"event_id": item.payload["event_id"], "status": response.status_code, "attempts": item.attempts})

    return after


def register_webhook_deliverer(worker: OutboxWorker, first_retry: timedelta) -> None:
    worker.register("webhook", deliver_webhook, retry_base=first_retry.total_seconds())
