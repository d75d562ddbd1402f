"""What a reviewer's click and modal submission do, independent of how Slack delivered them."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from blocks.card import CardView
from blocks.ids import ActionId, ModalMetadata
from blocks.modals import build_approve_modal, build_edit_modal, build_reject_modal
from blocks.text import escape_mrkdwn, slack_date
from bot.identity import Origin, Refused, SlackIdentity, origin_problem, refusal_text
from bot.outbox import DATABASE_BUSY
from bot.runtime import Runtime
from bot.services.cards import card_view
from bot.services.decisions import AlreadyDecided, CaseMissing, Decided, DecisionRequest, audit, authorize, decide, enqueue_card_update, load_case, tier_label
from bot.services.ops import clean_text
from bot.services.reviewers import Authorization
from store import cases as case_store
from store.audit import Actor, append_audit
from store.models import Case, CaseStatus

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reviewer:
    """Who clicked or submitted, as the request says (checked against the workspace hitl is installed in)."""

    user_id: str
    team_id: str | None
    name: str | None
    user_team_id: str | None = None
    enterprise_id: str | None = None

    @property
    def actor(self) -> Actor:
        # Cut to the audit columns: a refused request is recorded whatever it carried.
        return Actor.slack(clean_text(self.user_id, 64), clean_text(self.team_id, 32) if self.team_id else None, clean_text(self.name, 256) if self.name else None)

    @property
    def origin(self) -> Origin:
        return Origin(self.user_id, self.team_id, self.user_team_id, self.enterprise_id)


@dataclass(frozen=True)
class OpenModal:
    view: dict[str, Any]


@dataclass(frozen=True)
class Refusal:
    """Tell the clicker why nothing happened (ephemeral in the channel, or in the modal)."""

    text: str


def decided_text(case: Case) -> str:
    outcome = case.outcome or case.status
    when = slack_date(case.decided_at) if case.decided_at else "earlier"
    who = f"<@{case.decided_by}>" if case.decided_by else "someone"
    return f"This case was already *{escape_mrkdwn(outcome)}* by {who} {when}. Nothing was changed."


def installed(rt: Runtime) -> SlackIdentity:
    if rt.identity is None:
        raise RuntimeError("this runtime was built without the Slack identity auth.test gives at start")
    return rt.identity


def origin_details(reviewer: Reviewer, problem: Refused) -> dict[str, Any]:
    """What an audit row says about a request from outside the workspace (cut: it is the request's text)."""
    origin = reviewer.origin
    seen = {"team_id": origin.team_id, "user_team_id": origin.user_team_id, "enterprise_id": origin.enterprise_id}
    return {"reason": problem.value, **{k: clean_text(v, 64) for k, v in seen.items() if isinstance(v, str)}}


async def refuse_stranger(rt: Runtime, reviewer: Reviewer, case_id: str | None, details: dict[str, Any]) -> Refusal | None:
    """A refusal (audited) when the request is not from a user of hitl's workspace; None when it is."""
    problem = origin_problem(installed(rt), reviewer.origin)
    if problem is None:
        return None
    await audit(rt, case_id, "unauthorized_attempt", reviewer.actor, {**details, **origin_details(reviewer, problem)})
    return Refusal(refusal_text(installed(rt), problem))


async def _refuse_outsider(rt: Runtime, case: Case, reviewer: Reviewer, attempted: str, auth: Authorization) -> Refusal:
    reason = "membership_unverified" if auth.unverified else "not_a_reviewer"
    await audit(rt, case.case_id, "unauthorized_attempt", reviewer.actor, {"attempted": attempted, "tier": case.tier, "unverified": auth.unverified, "reason": reason})
    if auth.unverified:
        return Refusal(UNVERIFIED)
    return Refusal(f"You're not a reviewer for {escape_mrkdwn(tier_label(rt, case))}, so you can't decide this case. The attempt was recorded.")


MISSING = "This case is not in hitl's database any more. Nothing was changed."
UNVERIFIED = (
    "I couldn't check your user-group membership with Slack just now, so I can't let you act on this case yet. "
    "Nothing was changed, and the attempt was recorded. Please try again in a minute."
)


async def _case_for(rt: Runtime, case_id: str, reviewer: Reviewer, attempted: str, *, refuse_decided: bool = True) -> Case | Refusal:
    """The case, if this reviewer may act on it now; else why not. Every refusal is audited."""
    case = await load_case(rt, case_id)
    stranger = await refuse_stranger(rt, reviewer, case.case_id if case else None, {"attempted": attempted, "case": clean_text(case_id, 128)})
    if stranger is not None:
        return stranger
    if case is None:
        await audit(rt, None, "decision_refused", reviewer.actor, {"attempted": attempted, "case": clean_text(case_id, 128), "reason": "unknown case"})
        return Refusal(MISSING)
    if refuse_decided and CaseStatus(case.status).decided:
        await audit(rt, case.case_id, "decision_refused", reviewer.actor, {"attempted": attempted, "reason": "already decided", "decided_by": case.decided_by})
        return Refusal(decided_text(case))
    auth = await authorize(rt, case, reviewer.user_id)
    if not auth.allowed:
        return await _refuse_outsider(rt, case, reviewer, attempted, auth)
    return case


def _modal_for(action: ActionId, view: CardView, checklist: list[str], meta: ModalMetadata) -> dict[str, Any]:
    if action is ActionId.APPROVE:
        return build_approve_modal(view, checklist, meta)
    if action is ActionId.EDIT:
        return build_edit_modal(view, meta)
    return build_reject_modal(view, meta)


async def open_decision(rt: Runtime, action: ActionId, case_id: str, reviewer: Reviewer, channel: str | None, message_ts: str | None) -> OpenModal | Refusal:
    """Decide what a click on Approve / Edit / Reject shows. Only reads: the trigger_id is ticking."""
    case = await _case_for(rt, case_id, reviewer, action.value)
    if isinstance(case, Refusal):
        return case
    meta = ModalMetadata(case_id=case.case_id, channel=channel, message_ts=message_ts)
    return OpenModal(_modal_for(action, card_view(case, rt.policy), checklist_for(rt, case.queue), meta))


def record_view(rt: Runtime, case_id: str, reviewer: Reviewer, action: ActionId) -> None:
    rt.views.add(case_id, reviewer.actor, {"modal": action.value}, rt.clock.now())


class ViewLog:
    """Opened modals, written to the audit trail a batch at a time.

    A click storm would otherwise queue one write per click in front of the decisions (SQLite has one writer;
    PostgreSQL's audit chain has one lock). A batch is one transaction every `interval`, however fast people
    click. The cost: a crash loses the last fraction of a second of *views*, never a decision.
    """

    interval = 0.25
    max_pending = 10_000

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self._pending: list[tuple[str, Actor, dict[str, Any], datetime]] = []
        self._task: asyncio.Task[None] | None = None
        self._writing = asyncio.Lock()

    def add(self, case_id: str, actor: Actor, details: dict[str, Any], at: datetime) -> None:
        if len(self._pending) >= self.max_pending:
            # The database has been unwritable for a long while: keep the newest, say that one was lost.
            self._pending.pop(0)
            log.warning("dropped a view audit row: %d pending while the database is unavailable", self.max_pending)
        self._pending.append((case_id, actor, details, at))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._write_soon())

    async def _write_soon(self) -> None:
        await asyncio.sleep(self.interval)
        while self._pending:
            try:
                await self.flush()
            except DATABASE_BUSY as exc:
                log.warning("could not write %d view audit rows yet: %s", len(self._pending), type(exc).__name__)
                await asyncio.sleep(self.interval * 4)

    async def flush(self) -> None:
        """Write what is pending; when it returns, every view added before the call is in the database."""
        async with self._writing:
            batch, self._pending = self._pending, []
            if not batch:
                return
            try:
                async with self.rt.sessions.begin() as session:
                    for case_id, actor, details, at in batch:
                        await append_audit(session, action="viewed", actor=actor, at=at, case_id=case_id, details=details)
            except BaseException:
                self._pending[:0] = batch
                raise

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        try:
            await self.flush()
        except DATABASE_BUSY:
            log.error("lost %d view audit rows at shutdown: the database is unavailable", len(self._pending))


async def submit_decision(rt: Runtime, request: DecisionRequest, reviewer: Reviewer) -> Decided | Refusal:
    """Record a submitted decision; authorization is checked again, the tier may have moved since the click."""
    # No "already decided?" pre-check: the conditional update in decide() is the one place a race is settled.
    # The reviewer's own "viewed" row goes first, so the audit trail reads in the order things happened.
    await rt.views.flush()
    case = await _case_for(rt, request.case_id, reviewer, request.outcome.value, refuse_decided=False)
    if isinstance(case, Refusal):
        return case
    result = await decide(rt, request)
    if isinstance(result, AlreadyDecided):
        return Refusal(decided_text(result.case))
    if isinstance(result, CaseMissing):
        await audit(rt, None, "decision_refused", reviewer.actor, {"attempted": request.outcome.value, "case": clean_text(request.case_id, 128), "reason": "unknown case"})
        return Refusal(MISSING)
    return result


def checklist_for(rt: Runtime, queue_name: str) -> list[str]:
    queue = rt.policy.queue(queue_name)
    return list(queue.approve_checklist) if queue else []


async def claim(rt: Runtime, case_id: str, reviewer: Reviewer, *, take: bool) -> Refusal | None:
    """Take a case (others see who has it) or give it back. Claiming does not stop the SLA clock."""
    case = await _case_for(rt, case_id, reviewer, "claim" if take else "unclaim")
    if isinstance(case, Refusal):
        return case
    now = rt.clock.now()
    async with rt.sessions.begin() as session:
        version = await case_store.set_claim(
            session, case_id, user_id=reviewer.user_id if take else None, name=reviewer.name if take else None, expected=None if take else reviewer.user_id, now=now
        )
        if version is not None:
            await append_audit(session, action="claimed" if take else "unclaimed", actor=reviewer.actor, at=now, case_id=case_id, details={"tier": case.tier})
            await enqueue_card_update(session, case_id, version, now)
    if version is None:
        current = await load_case(rt, case_id)
        holder = current.claimed_by if current else None
        if take:
            return Refusal(f"<@{holder}> has already claimed this case." if holder else "This case can't be claimed right now.")
        return Refusal(f"Only <@{holder}>, who claimed it, can unclaim this case." if holder else "This case isn't claimed.")
    rt.wake_outbox()
    return None
