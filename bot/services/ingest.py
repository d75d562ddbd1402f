"""Escalations in: validate, route, store with its audit row and its card in the outbox, in one transaction."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.clock import Clock
from bot.domain.audit import Actor, AuditAction
from bot.domain.cases import CaseStatus
from bot.domain.escalation import Escalation
from bot.domain.outbox import PostCard
from bot.domain.pauses import Verdict
from bot.outbound import OutboundRules, url_refusal
from bot.outbox import Wake
from bot.policy import Policy, Queue
from bot.services.killswitch import KillSwitchBoard
from bot.services.sla_sweep import tier_schedule
from store import cases as case_store
from store import outbox
from store.audit import append_audit, canonical_json
from store.db import Database
from store.models import Case


class NoRoute(Exception):
    """No queue in the policy matches and there is no catch-all."""


class CaseConflict(Exception):
    """The case_id exists with different content."""


class Unacceptable(Exception):
    """A valid escalation this hitl can't take as given; the message says why, for the named field."""

    def __init__(self, field: str, message: str, summary: str) -> None:
        super().__init__(message)
        self.field = field
        self.summary = summary


@dataclass(frozen=True)
class IngestResult:
    case: Case
    created: bool
    automation: Verdict


def automation_context(escalation: Escalation, queue: str) -> dict[str, Any]:
    return {
        "tenant": escalation.tenant_id,
        "model": escalation.model.name if escalation.model else None,
        "skill": escalation.skill,
        "queue": queue,
    }


def payload_hash(raw: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(raw).encode("utf-8")).hexdigest()


class Ingest:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        policy: Policy,
        board: KillSwitchBoard,
        wake: Wake,
        *,
        signs_webhooks: bool,
        outbound: OutboundRules,
    ) -> None:
        self.db = db
        self.clock = clock
        self.policy = policy
        self.board = board
        self.wake = wake
        self.signs_webhooks = signs_webhooks
        self.outbound = outbound

    def _check_callback(self, escalation: Escalation) -> None:
        if escalation.callback_url is None:
            return
        if not self.signs_webhooks:
            raise Unacceptable(
                "callback_url",
                "the server has no HITL_WEBHOOK_SECRET, so it cannot send signed decisions back",
                "this server cannot sign webhooks",
            )
        # Literal addresses and names only: a host name is resolved (and checked) when the webhook is sent.
        refusal = url_refusal(str(escalation.callback_url), self.outbound)
        if refusal is not None:
            raise Unacceptable("callback_url", refusal.message, "hitl will not send webhooks there")

    async def receive(self, raw: dict[str, Any], escalation: Escalation, actor: Actor) -> IngestResult:
        self._check_callback(escalation)
        digest = payload_hash(raw)
        queue = self.policy.route(escalation.routing_context())
        if queue is None:
            raise NoRoute(
                "no queue in the policy matches this escalation, and the policy has no catch-all queue (match: {})"
            )
        now = self.clock.now()
        automation = self.board.evaluate(automation_context(escalation, queue.name))
        values = _case_values(escalation, digest, queue, automation, now)
        card = PostCard(case_id=escalation.case_id, channel=values["channel"])
        async with self.db.write.begin() as session:
            # No SELECT first: the insert itself tells a new case_id from a known one (stored earlier, or by a
            # concurrent request it waited for), which is then a replay or a conflict.
            case = await case_store.insert_new_case(session, values)
            if case is None:
                existing = await case_store.get_case(session, escalation.case_id)
                if existing is None:
                    raise RuntimeError(f"case {escalation.case_id!r} conflicted on insert but cannot be read")
                return self._replay(existing, escalation, digest)
            await outbox.enqueue(session, card, now=now)
            # The audit row last: on PostgreSQL it takes the chain's lock, held until commit.
            details = {
                "queue": queue.name,
                "tier": 1,
                "channel": case.channel,
                "sla_deadline": case.tier_deadline.isoformat(),
                "payload_hash": digest,
            }
            await append_audit(
                session, action=AuditAction.RECEIVED, actor=actor, at=now, case_id=case.case_id, details=details
            )
        # Keyed: no claim query while this channel's previous card is still being delivered by this process.
        self.wake(card.ordering_key())
        return IngestResult(case, created=True, automation=automation)

    def _replay(self, existing: Case, escalation: Escalation, digest: str) -> IngestResult:
        if existing.payload_hash != digest:
            raise CaseConflict(f"case_id {existing.case_id!r} was already received with different content")
        return IngestResult(
            existing, created=False, automation=self.board.evaluate(automation_context(escalation, existing.queue))
        )


def _case_values(
    escalation: Escalation, digest: str, queue: Queue, automation: Verdict, now: datetime
) -> dict[str, Any]:
    schedule = tier_schedule(queue, 1, now, escalation.sla_deadline)
    return {
        "case_id": escalation.case_id,
        "payload": escalation.model_dump(mode="json", exclude_none=True),
        "payload_hash": digest,
        "tenant_id": escalation.tenant_id,
        "skill": escalation.skill,
        "risk_level": escalation.risk_level.value if escalation.risk_level else None,
        "model_name": escalation.model.name if escalation.model else None,
        "queue": queue.name,
        "status": CaseStatus.PENDING.value,
        "version": 1,
        "channel": queue.tier(1).channel,
        "sla_deadline": schedule["tier_deadline"],
        **schedule,
        "reminded_tier": 0,
        "paused_mode": automation.mode.value if automation.mode else None,
        "repeats": 0,
        "created_at": now,
        "updated_at": now,
    }
