"""What ops see: /hitl help, status and queue answers, the kill modal, kill/resume announcements. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from blocks.budget import TEXT, Block, Scale, context, fit_message, line_sections, section
from blocks.ids import CallbackId, InputId
from blocks.text import escape_mrkdwn, fit, human_delta, link, plain, slack_date
from bot.domain.pauses import MAX_REASON, ActiveSwitch, Mode

# Rows are packed into sections and listed while the answer fits Slack's budget; the rest is counted.
LIST_CHARS = 4500

# ruff: disable[E501]  # each line of the help is one line in Slack
HELP = """*hitl* — humans in the loop of your LLM system. Subcommands:
• `/hitl status` — what is paused, open cases per queue and tier, oldest pending, breaches today
• `/hitl queue [name]` — pending cases of a queue with time left and links (all queues without a name)
• `/hitl kill [scope] [mode:off] [reason…]` — pause automation (operators only). Scope: `all` (default), `queue:<name>`, `tenant:<id>`, `model:<name>`, `skill:<name>`. Mode: `human-only` (default: every output goes to human review) or `off` (the feature is disabled). Without a reason, a form opens.
• `/hitl resume [scope] [reason…]` — lift a pause (operators only)
• `/hitl digest [queue] [--since 7d]` — the digest's figures, just for you (default: the last 24 hours)
• `/hitl help` — this help
Examples: `/hitl kill tenant:acme refunds look wrong since 14:00` · `/hitl kill model:gpt-support mode:off PII leak` · `/hitl resume tenant:acme fixed in v2.3` · `/hitl queue billing`"""
# ruff: enable[E501]


def _message(text: str) -> tuple[str, list[Block]]:
    text = fit(text, TEXT, escape=False)
    return text, [section(text)]


def build_help(prefix: str = "") -> tuple[str, list[Block]]:
    return _message(prefix + HELP)


def describe_switch(switch: ActiveSwitch) -> str:
    mode = "off (disabled)" if switch.mode is Mode.OFF else "human-only"
    return (
        f"`{fit(str(switch.scope), 200)}` · {mode} · by <@{switch.created_by}> "
        f"{slack_date(switch.created_at)} · _{fit(switch.reason, 300)}_"
    )


def build_kill_announcement(switch: ActiveSwitch) -> tuple[str, list[Block]]:
    what = "switched off" if switch.mode is Mode.OFF else "paused: every output goes to human review"
    return _message(
        f"⏸️ *Automation {what}* for `{fit(str(switch.scope), 200)}` by <@{switch.created_by}>.\n"
        f"*Reason:* {fit(switch.reason, 1500)}"
    )


def build_dead_letter_notice(
    item_id: int, kind: str, case_id: str | None, destination: str, error: str
) -> tuple[str, list[Block]]:
    where = (
        f"<#{destination}>"
        if destination[:1] in ("C", "G") and destination.isalnum()
        else f"`{escape_mrkdwn(plain(destination, 120))}`"
    )
    case = f" of case `{escape_mrkdwn(plain(case_id, 128))}`" if case_id else ""
    return _message(
        f"⚠️ *Outbox dead letter* #{item_id}: `{escape_mrkdwn(kind)}`{case} to {where} "
        f"can't be delivered: `{fit(error, 300)}`. "
        f"Everything queued behind it goes on. "
        f"Fix the cause, then `hitl outbox retry {item_id}` (or `hitl outbox drop {item_id}`); "
        "`hitl outbox list --dead` shows any others this hour."
    )


def build_resume_announcement(switch: ActiveSwitch, by: str, reason: str) -> tuple[str, list[Block]]:
    return _message(
        f"▶️ *Automation resumed* for `{fit(str(switch.scope), 200)}` by <@{by}> "
        f"(paused {slack_date(switch.created_at)} by <@{switch.created_by}>).\n*Reason:* {fit(reason, 1500)}"
    )


@dataclass(frozen=True)
class QueueLoad:
    queue: str
    tier: int
    tier_name: str
    pending: int


@dataclass(frozen=True)
class PendingCase:
    case_id: str
    queue: str
    tier: int
    deadline: datetime
    claimed_by: str | None
    link: str | None


def _time_left(deadline: datetime, now: datetime) -> str:
    left = deadline - now
    return f"{human_delta(left)} left" if left.total_seconds() > 0 else f"*overdue {human_delta(left)}*"


def _case_line(case: PendingCase, now: datetime) -> str:
    name = f"`{escape_mrkdwn(plain(case.case_id, 80))}`"
    claimed = f" · 🙋 <@{case.claimed_by}>" if case.claimed_by else ""
    return (
        f"• {link(case.link, name) or name} · {escape_mrkdwn(plain(case.queue, 80))} tier {case.tier} "
        f"· {_time_left(case.deadline, now)}{claimed}"
    )


def _status_blocks(
    switches: tuple[ActiveSwitch, ...],
    load: list[QueueLoad],
    oldest: PendingCase | None,
    breaches_today: int,
    now: datetime,
    scale: Scale,
) -> list[Block]:
    blocks: list[Block] = [{"type": "header", "text": {"type": "plain_text", "text": "hitl status"}}]
    if switches:
        blocks += line_sections(
            ["*Paused*"] + [f"⏸️ {describe_switch(s)}" for s in switches], scale(LIST_CHARS), "…and {n} more pauses"
        )
    else:
        blocks.append(section("▶️ *Automation is running*: no kill switch is active."))
    lines = [f"*Open cases: {sum(row.pending for row in load)}*"]
    lines += [
        f"• {escape_mrkdwn(plain(r.queue, 80))} · tier {r.tier} ({escape_mrkdwn(plain(r.tier_name, 60))}): {r.pending}"
        for r in load
    ]
    blocks += line_sections(lines, scale(LIST_CHARS), "…and {n} more queue tiers")
    facts = [f"SLA breaches today (UTC): *{breaches_today}*"]
    if oldest:
        facts.append("Oldest pending: " + _case_line(oldest, now).removeprefix("• "))
    blocks.append(context(*facts, untrusted=False))
    return blocks


def build_status(
    switches: tuple[ActiveSwitch, ...],
    load: list[QueueLoad],
    oldest: PendingCase | None,
    breaches_today: int,
    now: datetime,
) -> tuple[str, list[Block]]:
    total = sum(row.pending for row in load)
    text = f"hitl status: {len(switches)} pause(s), {total} open case(s), {breaches_today} breach(es) today"
    return text, fit_message(lambda scale: _status_blocks(switches, load, oldest, breaches_today, now, scale))


def build_queue_listing(
    queue: str | None, cases: list[PendingCase], total: int, now: datetime
) -> tuple[str, list[Block]]:
    title = f"Pending in {plain(queue, 80)}" if queue else "Pending in all queues"
    if not cases:
        return _message(f"*{escape_mrkdwn(title)}*: nothing pending. 🎉")
    lines = [f"*{escape_mrkdwn(title)}: {total}* (soonest deadline first)"] + [_case_line(c, now) for c in cases]
    blocks = fit_message(lambda scale: line_sections(lines, scale(LIST_CHARS * 2), hidden=total - len(cases)))
    return f"{title}: {total}", blocks


def build_kill_modal(default_scope: str = "all") -> dict[str, Any]:
    options = [
        {
            "text": {"type": "plain_text", "text": "Human-only: every output goes to review"},
            "value": Mode.HUMAN_ONLY.value,
        },
        {"text": {"type": "plain_text", "text": "Off: disable the feature"}, "value": Mode.OFF.value},
    ]
    return {
        "type": "modal",
        "callback_id": CallbackId.KILL.value,
        "title": {"type": "plain_text", "text": "Pause automation"},
        "submit": {"type": "plain_text", "text": "Pause"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {
                "type": "input",
                "block_id": InputId.SCOPE.value,
                "label": {"type": "plain_text", "text": "Scope"},
                "hint": {"type": "plain_text", "text": "all, queue:<name>, tenant:<id>, model:<name> or skill:<name>"},
                # A scope's value is up to 150 characters: 300 units if all emoji, plus the kind.
                "element": {
                    "type": "plain_text_input",
                    "action_id": InputId.VALUE.value,
                    "initial_value": plain(default_scope, 320),
                    "max_length": 320,
                },
            },
            {
                "type": "input",
                "block_id": InputId.MODE.value,
                "label": {"type": "plain_text", "text": "Mode"},
                "element": {
                    "type": "static_select",
                    "action_id": InputId.VALUE.value,
                    "options": options,
                    "initial_option": options[0],
                },
            },
            {
                "type": "input",
                "block_id": InputId.REASON.value,
                "label": {"type": "plain_text", "text": "Reason"},
                "hint": {"type": "plain_text", "text": "Announced in the ops channel and kept in the audit trail."},
                "element": {
                    "type": "plain_text_input",
                    "action_id": InputId.VALUE.value,
                    "multiline": True,
                    "max_length": MAX_REASON,
                },
            },
        ],
    }
