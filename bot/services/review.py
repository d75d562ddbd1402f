"""What a reviewer's click, modal submission and claim do, whatever way Slack delivered them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from blocks.card import CardView
from blocks.ids import ActionId, ModalMetadata
from blocks.modals import build_approve_modal, build_edit_modal, build_reject_modal
from blocks.text import escape_mrkdwn, slack_date
from bot.clock import Clock
from bot.domain.audit import AuditAction, audit_text
from bot.domain.cases import CaseStatus
from bot.identity import Reviewer
from bot.outbox import Wake
from bot.policy import Policy
from bot.services.access import Access, Denial, Refusal
from bot.services.cards import card_view
from bot.services.decision_rules import DecisionInput, Errors, decision_request
from bot.services.decisions import AlreadyDecided, Decided, enqueue_card_update, record_decision
from bot.services.views import ViewLog
from bot.services.waiting import DecisionWaiters
from store import cases as case_store
from store.audit import append_audit
from store.db import Database
from store.models import Case

MISSING = "This case is not in hitl's database any more. Nothing was changed."


@dataclass(frozen=True)
class OpenModal:
    view: dict[str, Any]


def decided_text(case: Case) -> str:
    outcome = case.outcome or case.status
    when = slack_date(case.decided_at) if case.decided_at else "earlier"
    who = f"<@{case.decided_by}>" if case.decided_by else "someone"
    return f"This case was already *{escape_mrkdwn(outcome)}* by {who} {when}. Nothing was changed."


def _modal_for(action: ActionId, view: CardView, checklist: list[str], meta: ModalMetadata) -> dict[str, Any]:
    if action is ActionId.APPROVE:
        return build_approve_modal(view, checklist, meta)
    if action is ActionId.EDIT:
        return build_edit_modal(view, meta)
    return build_reject_modal(view, meta)


class Reviews:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        policy: Policy,
        access: Access,
        views: ViewLog,
        waiters: DecisionWaiters,
        wake: Wake,
    ) -> None:
        self.db = db
        self.clock = clock
        self.policy = policy
        self.access = access
        self.views = views
        self.waiters = waiters
        self.wake = wake

    def checklist(self, queue_name: str) -> list[str]:
        queue = self.policy.queue(queue_name)
        return list(queue.approve_checklist) if queue else []

    async def _denial(
        self, who: Reviewer, case: Case | None, *, refuse_decided: bool, cached: bool = False
    ) -> Denial | None:
        """Why `who` may not act on `case` now, or None. In order: from outside the workspace, an unknown case, a
        decided one (unless the conditional update is to settle it), not a reviewer of its tier."""
        if (stranger := self.access.stranger(who)) is not None:
            return stranger
        if case is None:
            return Denial(MISSING, "unknown case", AuditAction.DECISION_REFUSED)
        if refuse_decided and CaseStatus(case.status).decided:
            return Denial(
                decided_text(case), "already decided", AuditAction.DECISION_REFUSED, {"decided_by": case.decided_by}
            )
        return await self.access.as_reviewer(who, case, cached=cached)

    @staticmethod
    def _attempt(case_id: str, attempted: str) -> dict[str, Any]:
        return {"attempted": attempted, "case": audit_text(case_id, 128)}

    async def open_form(
        self, action: ActionId, case_id: str, who: Reviewer, channel: str | None, message_ts: str | None
    ) -> OpenModal | Refusal:
        """What a click on Approve / Edit / Reject shows. Only reads: the trigger_id is ticking."""
        async with self.db.read() as session:
            case = await case_store.get_case(session, case_id)
        denial = await self._denial(who, case, refuse_decided=True)
        if denial is not None:
            return await self.access.refuse(
                who, denial, case_id=case.case_id if case else None, details=self._attempt(case_id, action.value)
            )
        assert case is not None
        meta = ModalMetadata(case_id=case.case_id, channel=channel, message_ts=message_ts)
        return OpenModal(_modal_for(action, card_view(case, self.policy), self.checklist(case.queue), meta))

    def record_view(self, case_id: str, who: Reviewer, action: ActionId) -> None:
        self.views.add(case_id, who.actor, {"modal": action.value}, self.clock.now())

    async def submit(self, form: DecisionInput, who: Reviewer) -> Decided | Refusal | Errors:
        """Record a submitted decision. The case is read once, in the transaction that decides it; who may decide
        is checked again there (the tier may have moved since the click), from the group membership made
        current just before (so nothing waits on Slack while the transaction holds the database)."""
        # The reviewer's own "viewed" row goes first, so the audit trail reads in the order things happened.
        await self.views.flush()
        await self.access.warm()
        async with self.db.write.begin() as session:
            case = await case_store.get_case(session, form.case_id)
            denial = await self._denial(who, case, refuse_decided=False, cached=True)
            if denial is not None:
                details = self._attempt(form.case_id, form.outcome.value)
                return await self.access.refuse(
                    who, denial, case_id=case.case_id if case else None, details=details, session=session
                )
            assert case is not None
            request = decision_request(form, case.payload, self.checklist(case.queue))
            if isinstance(request, dict):
                return request
            result = await record_decision(session, self.policy, case, request, who.actor, self.clock.now())
        if isinstance(result, AlreadyDecided):
            return Refusal(decided_text(result.case))
        self.wake(None)
        self.waiters.notify(form.case_id)
        return result

    async def claim(self, case_id: str, who: Reviewer, *, take: bool) -> Refusal | None:
        """Take a case (others see who has it) or give it back. Claiming does not stop the SLA clock."""
        attempted = "claim" if take else "unclaim"
        async with self.db.read() as session:
            case = await case_store.get_case(session, case_id)
        denial = await self._denial(who, case, refuse_decided=True)
        if denial is not None:
            return await self.access.refuse(
                who, denial, case_id=case.case_id if case else None, details=self._attempt(case_id, attempted)
            )
        assert case is not None
        now = self.clock.now()
        async with self.db.write.begin() as session:
            version = await case_store.set_claim(
                session,
                case_id,
                user_id=who.user_id if take else None,
                name=who.name if take else None,
                expected=None if take else who.user_id,
                now=now,
            )
            if version is None:
                holder = current.claimed_by if (current := await case_store.get_case(session, case_id)) else None
            else:
                await append_audit(
                    session,
                    action=AuditAction.CLAIMED if take else AuditAction.UNCLAIMED,
                    actor=who.actor,
                    at=now,
                    case_id=case_id,
                    details={"tier": case.tier},
                )
                await enqueue_card_update(session, case_id, version, now)
        if version is None:
            if take:
                return Refusal(
                    f"<@{holder}> has already claimed this case." if holder else "This case can't be claimed right now."
                )
            return Refusal(
                f"Only <@{holder}>, who claimed it, can unclaim this case." if holder else "This case isn't claimed."
            )
        self.wake(None)
        return None
