"""The status API's view of a case: state, decision, timeline and delivery state, from the database."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.domain.audit import PAGING_ACTIONS, ActorType
from bot.domain.outbox import DeadReason, OutboxKind
from bot.outbound import redact_url
from bot.services.events import decision_json
from bot.services.webhooks import failure_category
from store import cases as case_store
from store import outbox
from store.audit import case_timeline
from store.db import Database
from store.models import AuditEvent, OutboxItem


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _event(event: AuditEvent) -> dict[str, Any]:
    return {
        "action": event.action,
        "actor": {
            "type": event.actor_type,
            "slack_user_id": event.actor_id if event.actor_type == ActorType.SLACK_USER else None,
            "slack_team_id": event.actor_team,
            "name": event.actor_name,
            "id": event.actor_id,
        },
        "at": _iso(event.at),
        "details": event.details,
    }


def _delivery(item: OutboxItem) -> dict[str, Any]:
    if item.delivered_at:
        state = "delivered"
    elif item.dead_at:
        state = "cancelled" if item.dead_reason == DeadReason.CANCELLED else "failed"
    else:
        state = "pending"
    return {
        "kind": item.kind,
        "state": state,
        "attempts": item.attempts,
        # A webhook's error is its category only: the detail may name internal addresses.
        "last_error": failure_category(item.last_error) if item.kind == OutboxKind.WEBHOOK else item.last_error,
        "next_attempt_at": _iso(item.next_attempt_at) if state == "pending" else None,
        "delivered_at": _iso(item.delivered_at),
    }


class CaseStatuses:
    """What the status API reads: a case as the API shows it, and whether the database answers at all."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(self, case_id: str) -> dict[str, Any] | None:
        async with self.db.read() as session:
            case = await case_store.get_case(session, case_id)
            if case is None:
                return None
            timeline = await case_timeline(session, case_id)
            deliveries = await outbox.items_for_case(session, case_id)
            messages = await case_store.case_messages(session, case_id, ("card", "page"))
        return {
            "case_id": case.case_id,
            "status": case.status,
            "queue": case.queue,
            "tier": case.tier,
            "channel": case.channel,
            "message_ts": case.message_ts,
            "sla_deadline": _iso(case.sla_deadline),
            "tier_deadline": _iso(case.tier_deadline),
            "next_deadline": _iso(case.due_at),
            "claimed_by": {"slack_user_id": case.claimed_by, "name": case.claimed_by_name, "at": _iso(case.claimed_at)}
            if case.claimed_by
            else None,
            "unhandled_at": _iso(case.unhandled_at),
            "paging": [
                {
                    "tier": m.tier,
                    "kind": m.kind,
                    "channel": m.channel,
                    "ts": m.ts,
                    "permalink": m.permalink,
                    "at": _iso(m.created_at),
                }
                for m in messages
            ],
            "paging_history": [_event(e) for e in timeline if e.action in PAGING_ACTIONS],
            "decision": decision_json(case.case_id, decision) if (decision := case_store.decision_of(case)) else None,
            "timeline": [_event(e) for e in timeline],
            "deliveries": [_delivery(d) for d in deliveries],
            "webhooks": [
                {
                    **_delivery(d),
                    "event_id": d.payload.get("event_id"),
                    "type": d.payload.get("body", {}).get("type"),
                    "url": redact_url(d.payload.get("url", "")),
                }
                for d in deliveries
                if d.kind == OutboxKind.WEBHOOK
            ],
            "created_at": _iso(case.created_at),
            "automation_at_arrival": {"paused": case.paused_mode is not None, "mode": case.paused_mode},
        }

    async def database_problem(self) -> str | None:
        """None when the database answers; else the name of what went wrong (for /healthz, no detail)."""
        try:
            await self.db.ping()
        except Exception as exc:  # noqa: BLE001 - any database failure means "not healthy"
            return type(exc).__name__
        return None
