"""Who hitl is in Slack (learnt from auth.test at start), who is asking, and whether a request comes from that
workspace. Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from blocks.text import escape_mrkdwn
from bot.domain.audit import Actor, audit_text

# Slack's user IDs: U… (workspace) or W… (Enterprise Grid), upper-case letters and digits. Our columns hold 32.
USER_ID = re.compile(r"^[UW][A-Z0-9]{2,30}$")
TEAM_ID = re.compile(r"^T[A-Z0-9]{2,30}$")


@dataclass(frozen=True)
class SlackIdentity:
    """What auth.test said about the bot token: the workspace it is installed in, and the bot itself."""

    team_id: str
    bot_user_id: str
    team_name: str | None = None
    bot_id: str | None = None
    # Set when the workspace belongs to an Enterprise Grid organization (E…).
    enterprise_id: str | None = None
    # The token's scopes (auth.test's `x-oauth-scopes` header); None when Slack did not say.
    scopes: frozenset[str] | None = None


@dataclass(frozen=True)
class Origin:
    """Where a request says it comes from: the payload's `team.id` (slash command: `team_id`), the acting
    user's `user.team_id` (interactions only), and the organization (`enterprise.id` / `enterprise_id`)."""

    user_id: str
    team_id: str | None
    user_team_id: str | None = None
    enterprise_id: str | None = None


@dataclass(frozen=True)
class Reviewer:
    """Who clicked, submitted or typed a command, as the request says (checked against the installed workspace)."""

    user_id: str
    team_id: str | None
    name: str | None
    user_team_id: str | None = None
    enterprise_id: str | None = None

    @property
    def actor(self) -> Actor:
        # Cut to the audit columns: a refused request is recorded whatever it carried.
        team = audit_text(self.team_id, 32) if self.team_id else None
        return Actor.slack(audit_text(self.user_id, 64), team, audit_text(self.name, 256) if self.name else None)

    @property
    def origin(self) -> Origin:
        return Origin(self.user_id, self.team_id, self.user_team_id, self.enterprise_id)


class Refused(StrEnum):
    NOT_A_USER = "not_a_slack_user_id"
    NO_WORKSPACE = "no_workspace"
    OTHER_WORKSPACE = "other_workspace"
    OTHER_ORGANIZATION = "other_organization"


def origin_problem(installed: SlackIdentity, origin: Origin) -> Refused | None:
    """None when the request is from a user of the workspace hitl is installed in.

    The workspace is the payload's team (`team.id`, a slash command's `team_id`). The user's own `user.team_id`
    must be that workspace too, or, on Enterprise Grid, the organization's ID (Slack reports the E… ID there):
    a Slack Connect guest from another company clicking a card in a shared channel is refused. The payload's
    organization must be ours (none on both sides outside Enterprise Grid).
    """
    if not USER_ID.match(origin.user_id):
        return Refused.NOT_A_USER
    if not origin.team_id:
        return Refused.NO_WORKSPACE
    if origin.enterprise_id != installed.enterprise_id:
        return Refused.OTHER_ORGANIZATION
    if origin.team_id != installed.team_id:
        return Refused.OTHER_WORKSPACE
    if origin.user_team_id is not None and origin.user_team_id not in (installed.team_id, installed.enterprise_id):
        return Refused.OTHER_WORKSPACE
    return None


def refusal_text(installed: SlackIdentity, problem: Refused) -> str:
    """What the person is told (Slack mrkdwn; nothing from the request is echoed)."""
    if problem is Refused.NOT_A_USER:
        return (
            "🚫 This request doesn't carry a Slack user ID, so hitl can't tell who is asking. "
            "Nothing was changed, and the attempt was recorded."
        )
    where = escape_mrkdwn(installed.team_name or installed.team_id)
    return (
        f"🚫 This hitl belongs to the Slack workspace *{where}*, and only its members can act on it. "
        "You're signed in from another workspace or organization, so nothing was changed. The attempt was recorded."
    )
