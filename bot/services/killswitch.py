"""Pausing the automation: /hitl kill and resume, and the verdict the LLM system asks for.

Active switches live in the database; each process keeps a copy in memory (`KillSwitchBoard`), refreshed
every second and at once after a local change, so GET /v1/killswitch answers without touching the database.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from blocks.ops import build_kill_announcement, build_resume_announcement
from bot.clock import Clock
from bot.domain.audit import Actor, AuditAction
from bot.domain.outbox import Announce
from bot.domain.pauses import ActiveSwitch, Mode, Scope, Verdict, evaluate
from bot.outbox import Wake
from bot.policy import Policy
from bot.services.webhooks import enqueue_webhook
from store import killswitches as store
from store import outbox
from store.audit import append_audit
from store.db import Database
from store.models import KillSwitch

log = logging.getLogger(__name__)


class KillSwitchBoard:
    """The active switches as of the last refresh."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.switches: tuple[ActiveSwitch, ...] = ()

    def evaluate(self, context: dict[str, Any]) -> Verdict:
        return evaluate(self.switches, context)

    async def refresh(self) -> None:
        async with self.db.read() as session:
            rows = await store.active_switches(session)
        self.switches = tuple(switch for switch in map(_readable, rows) if switch is not None)


def _readable(row: KillSwitch) -> ActiveSwitch | None:
    """A stored switch this version can't read (edited by hand, or by a newer version) is skipped and said, not
    a reason to stop serving."""
    try:
        return _active(row)
    except ValueError as exc:
        log.error("kill switch %d is unreadable and ignored: %s", row.id, exc)
        return None


def _active(row: KillSwitch) -> ActiveSwitch:
    return ActiveSwitch(
        row.id, Scope.parse(row.scope), Mode(row.mode), row.reason, row.created_by, row.created_by_name, row.created_at
    )


@dataclass(frozen=True)
class Paused:
    """The switch in force for a scope after a kill: the one it made (`new`), or the one already active there."""

    switch: ActiveSwitch
    new: bool


class KillSwitches:
    """`/hitl kill` and `resume`: one active switch per scope, audited, announced in the ops channel and pushed
    to the ops webhook, all in the transaction that sets or lifts it."""

    def __init__(self, db: Database, clock: Clock, policy: Policy, board: KillSwitchBoard, wake: Wake) -> None:
        self.db = db
        self.clock = clock
        self.policy = policy
        self.board = board
        self.wake = wake

    async def kill(self, scope: Scope, mode: Mode, reason: str, actor: Actor) -> Paused:
        now = self.clock.now()
        try:
            async with self.db.write.begin() as session:
                existing = await store.active_for_scope(session, str(scope))
                if existing is not None:
                    return Paused(_active(existing), new=False)
                row = KillSwitch(
                    scope=str(scope),
                    mode=mode.value,
                    reason=reason,
                    created_by=actor.id or "",
                    created_by_name=actor.name,
                    created_at=now,
                )
                session.add(row)
                await session.flush()
                switch = _active(row)
                details = {"scope": str(scope), "mode": mode.value, "reason": reason}
                await append_audit(session, action=AuditAction.KILLED, actor=actor, at=now, details=details)
                data = {**details, "paused_by": actor.id, "paused_by_name": actor.name}
                await self._announce(
                    session, f"kill:{row.id}", build_kill_announcement(switch), "killswitch.activated", data
                )
        except IntegrityError:
            # Another operator paused the same scope between our read and our insert.
            await self.board.refresh()
            return Paused(next(s for s in self.board.switches if str(s.scope) == str(scope)), new=False)
        await self.board.refresh()
        self.wake(None)
        return Paused(switch, new=True)

    async def resume(self, scope: Scope, reason: str, actor: Actor) -> ActiveSwitch | None:
        """Lift the active switch of exactly this scope. None if there was none."""
        now = self.clock.now()
        async with self.db.write.begin() as session:
            lifted = await store.lift(session, str(scope), by=actor.id or "", reason=reason, now=now)
            if lifted is None:
                return None
            switch = _active(lifted)
            details = {
                "scope": str(scope),
                "mode": switch.mode.value,
                "reason": reason,
                "paused_since": switch.created_at.isoformat(),
            }
            await append_audit(session, action=AuditAction.RESUMED, actor=actor, at=now, details=details)
            data = {**details, "resumed_by": actor.id, "resumed_by_name": actor.name}
            await self._announce(
                session,
                f"resume:{lifted.id}",
                build_resume_announcement(switch, actor.id or "", reason),
                "killswitch.lifted",
                data,
            )
        await self.board.refresh()
        self.wake(None)
        return switch

    async def _announce(
        self,
        session: AsyncSession,
        key: str,
        message: tuple[str, list[dict[str, Any]]],
        event_type: str,
        data: dict[str, Any],
    ) -> None:
        now = self.clock.now()
        ops = self.policy.ops
        if ops is None:
            return
        text, blocks = message
        await outbox.enqueue(session, Announce(channel=ops.channel, text=text, blocks=blocks, key=key), now=now)
        if ops.webhook_url:
            await enqueue_webhook(
                session,
                url=str(ops.webhook_url),
                event_type=event_type,
                data=data,
                now=now,
                event_id=f"evt_{key.replace(':', '_')}",
            )
