"""Messages of the SLA clock: reminders, re-pages, escalation notes, the unhandled alert. Pure builders.

Each is one section of bounded parts: ids from the policy and Slack, names cut to their policy limits, and at
most 1,000 characters of mentions (a tier may list many reviewers).
"""

from __future__ import annotations

from datetime import datetime

from blocks.budget import Block, section
from blocks.text import escape_mrkdwn, human_delta, link, mentions, plain, slack_date


def _message(text: str) -> tuple[str, list[Block]]:
    return text, [section(text)]


def build_reminder(deadline: datetime, now: datetime, reviewers: list[str]) -> tuple[str, list[Block]]:
    return _message(
        f"⏰ Due in {human_delta(deadline - now)} ({slack_date(deadline)}), no decision yet. {mentions(reviewers)}"
    )


def build_repage(
    case_id: str, deadline: datetime, now: datetime, repeat: int, of: int, reviewers: list[str]
) -> tuple[str, list[Block]]:
    return _message(
        f"🔁 Still no decision on `{escape_mrkdwn(plain(case_id, 128))}`: "
        f"overdue by {human_delta(now - deadline)}, and this is the last tier "
        f"(re-page {repeat} of {of}). {mentions(reviewers)}"
    )


def build_escalation_note(tier: int, tier_name: str, channel: str, permalink: str | None) -> tuple[str, list[Block]]:
    page = link(permalink, "the page")
    where = f"{page} in <#{channel}>" if page else f"<#{channel}>"
    return _message(
        f"🚨 SLA breached: escalated to tier {tier} ({escape_mrkdwn(plain(tier_name, 80))}), "
        f"see {where}. Reviewers of earlier tiers can still decide."
    )


def build_unhandled_alert(
    case_id: str, queue: str, tier: int, repeats: int, permalink: str | None, operators: list[str]
) -> tuple[str, list[Block]]:
    card = link(permalink, "the card") or "the card"
    return _message(
        f"🆘 *Unhandled review*: case `{escape_mrkdwn(plain(case_id, 128))}` "
        f"in *{escape_mrkdwn(plain(queue, 80))}* has had no decision through tier {tier} "
        f"and {repeats} re-page(s). Open {card} to decide or reassign. {mentions(operators)}"
    )
