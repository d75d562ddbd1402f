"""Who may do what: a request must come from the installed workspace; a case is decided by the reviewers of its
tier and every tier before it; pauses are set by the operators. Every refusal is told and audited, here, once,
for reviewers and operators alike."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from blocks.text import escape_mrkdwn
from bot.domain.audit import AuditAction, audit_text
from bot.identity import Refused, Reviewer, SlackIdentity, origin_problem, refusal_text
from bot.policy import Policy
from bot.services.audit_log import AuditLog
from bot.services.reviewers import Authorization, ReviewerDirectory, all_groups, deciders
from store.audit import append_audit
from store.models import Case

UNVERIFIED = (
    "I couldn't check your user-group membership with Slack just now, so I can't let you act on this case yet. "
    "Nothing was changed, and the attempt was recorded. Please try again in a minute."
)
UNVERIFIED_OPERATOR = (
    "I couldn't check your user-group membership with Slack just now, so I can't tell whether you're an operator. "
    "Nothing was changed, and the attempt was recorded; try again in a minute."
)
NOT_AN_OPERATOR = "Only the operators named in the policy (`ops.operators`) can do that. The attempt was recorded."


@dataclass(frozen=True)
class Refusal:
    """Why nothing happened, for the person who asked (an ephemeral in the channel, or a modal notice)."""

    text: str


@dataclass(frozen=True)
class Denial:
    """A refusal before it is told: what the audit row records (`action`, `reason`, details) and the text."""

    text: str
    reason: str
    action: AuditAction = AuditAction.UNAUTHORIZED_ATTEMPT
    details: dict[str, Any] = field(default_factory=dict)


def _origin_details(who: Reviewer, problem: Refused) -> dict[str, Any]:
    """What an audit row says about a request from outside the workspace (cut: it is the request's text)."""
    origin = who.origin
    seen = {"team_id": origin.team_id, "user_team_id": origin.user_team_id, "enterprise_id": origin.enterprise_id}
    return {k: audit_text(v, 64) for k, v in seen.items() if isinstance(v, str)}


class Access:
    def __init__(
        self, policy: Policy, directory: ReviewerDirectory, identity: SlackIdentity | None, audit: AuditLog
    ) -> None:
        self.policy = policy
        self.directory = directory
        self.identity = identity
        self.audit = audit

    def stranger(self, who: Reviewer) -> Denial | None:
        """A denial when the request is not from a user of the installed workspace (pure). Without the identity
        auth.test gives at start, nobody's request can be trusted."""
        if self.identity is None:
            return Denial(
                "🚫 hitl doesn't know which Slack workspace it serves yet, so nothing was changed.", "unknown_workspace"
            )
        problem = origin_problem(self.identity, who.origin)
        if problem is None:
            return None
        return Denial(refusal_text(self.identity, problem), problem.value, details=_origin_details(who, problem))

    async def as_reviewer(self, who: Reviewer, case: Case, *, cached: bool = False) -> Denial | None:
        """None when `who` may decide `case` at its current tier. `cached`: from the membership already known,
        without asking Slack (inside a transaction; `warm()` first)."""
        queue = self.policy.queue(case.queue)
        principals = deciders(queue, case.tier) if queue else []
        auth = (
            self.directory.includes_known(who.user_id, principals)
            if cached
            else await self.directory.includes(who.user_id, principals)
        )
        if auth.allowed:
            return None
        label = escape_mrkdwn(self.tier_label(case))
        text = (
            UNVERIFIED
            if auth.unverified
            else f"You're not a reviewer for {label}, so you can't decide this case. The attempt was recorded."
        )
        return self._denied(auth, text, "not_a_reviewer", {"tier": case.tier, "unverified": auth.unverified})

    async def as_operator(self, who: Reviewer) -> Denial | None:
        operators = list(self.policy.ops.operators) if self.policy.ops else []
        auth = await self.directory.includes(who.user_id, operators)
        if auth.allowed:
            return None
        return self._denied(auth, UNVERIFIED_OPERATOR if auth.unverified else NOT_AN_OPERATOR, "not_an_operator", {})

    @staticmethod
    def _denied(auth: Authorization, text: str, reason: str, details: dict[str, Any]) -> Denial:
        return Denial(text, "membership_unverified" if auth.unverified else reason, details=details)

    async def warm(self) -> None:
        """Make every user group of the policy known (a Slack call only for a copy that is no longer fresh)."""
        for group in sorted(all_groups(self.policy)):
            await self.directory.group_members(group)

    async def refuse(
        self,
        who: Reviewer,
        denial: Denial,
        *,
        case_id: str | None,
        details: dict[str, Any],
        session: AsyncSession | None = None,
    ) -> Refusal:
        """Audit the denial (in `session`, or a transaction of its own) and say why nothing happened."""
        row = {**details, **denial.details, "reason": denial.reason}
        if session is None:
            await self.audit.record(denial.action, who.actor, case_id=case_id, details=row)
        else:
            await append_audit(
                session, action=denial.action, actor=who.actor, at=self.audit.clock.now(), case_id=case_id, details=row
            )
        return Refusal(denial.text)

    def tier_label(self, case: Case) -> str:
        queue = self.policy.queue(case.queue)
        name = queue.tier(case.tier).name if queue else ""
        return f"{case.queue} tier {case.tier}" + (f" ({name})" if name else "")
