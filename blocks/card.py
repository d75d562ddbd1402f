"""The review card: a pure function of the stored case, re-rendered whole on every change."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from blocks.budget import TEXT, Block, Scale, context, fit_message, section
from blocks.ids import ActionId, CaseRef
from blocks.text import escape_mrkdwn, fit, fit_items, human_delta, link, mentions, number, plain, slack_date
from bot.domain.cases import Decision, reason_label
from bot.domain.escalation import Escalation

RISK_BADGE = {"low": "🟢 Low", "medium": "🟡 Medium", "high": "🟠 High", "critical": "🔴 Critical"}
OUTCOME_BADGE = {"approved": "✅ Approved", "edited": "✏️ Edited", "rejected": "⛔ Rejected"}

# Character allowances per part of the card at full size; `fit_message` shrinks them together when a case
# is so large that the whole card would not fit Slack's budget for one message (blocks/budget.py).
REASON_CHARS = 1000
QUESTION_CHARS = 1500
DRAFT_CHARS = 2900
DRAFT_CHARS_WITH_FINAL = 1400
FINAL_CHARS = 2600
NOTE_CHARS = 600
EVIDENCE_ITEMS = 5
QUOTE_CHARS = 280
ACTION_FIELDS = 9
ACTION_VALUE_CHARS = 150


@dataclass(frozen=True)
class PageView:
    """A page of the case to a later tier: where it went."""

    tier: int
    tier_name: str
    channel: str
    permalink: str | None = None


@dataclass(frozen=True)
class CardView:
    case_id: str
    escalation: Escalation
    queue: str
    tier: int
    tier_count: int
    tier_name: str
    tier_deadline: datetime
    received_at: datetime
    decision: Decision | None = None
    pages: tuple[PageView, ...] = ()
    claimed_by: str | None = None
    claimed_at: datetime | None = None
    unhandled: bool = False
    paused_mode: str | None = None


def _button(action: ActionId, label: str, case_id: str, style: str | None = None) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "action_id": action.value,
        "text": {"type": "plain_text", "text": label, "emoji": True},
        "value": CaseRef(case_id=case_id).dump(),
    }
    if style:
        button["style"] = style
    return button


def _decide_buttons(view: CardView) -> Block:
    elements = [
        _button(ActionId.APPROVE, "Approve", view.case_id, "primary"),
        _button(ActionId.EDIT, "Edit", view.case_id),
        _button(ActionId.REJECT, "Reject", view.case_id, "danger"),
        _button(ActionId.UNCLAIM, "Unclaim", view.case_id)
        if view.claimed_by
        else _button(ActionId.CLAIM, "Claim", view.case_id),
    ]
    return {"type": "actions", "block_id": "decide", "elements": elements}


def _risk(esc: Escalation) -> str:
    return RISK_BADGE.get(esc.risk_level.value, esc.risk_level.value) if esc.risk_level else "Not given"


def _queue_fact(view: CardView) -> str:
    return (
        f"*Queue*\n{escape_mrkdwn(plain(view.queue, 80))} · tier {view.tier} of {view.tier_count}\n"
        f"{escape_mrkdwn(plain(view.tier_name, 80))}"
    )


def _due_fact(view: CardView, now: datetime) -> str:
    left = view.tier_deadline - now
    status = f"{human_delta(left)} left" if left.total_seconds() > 0 else f"overdue by {human_delta(left)}"
    return f"*Due*\n{slack_date(view.tier_deadline)}\n{status}"


def _facts(view: CardView, now: datetime) -> Block:
    esc = view.escalation
    facts = [f"*Risk*\n{_risk(esc)}", _queue_fact(view)]
    if esc.tenant_id:
        facts.append(f"*Tenant*\n{fit(esc.tenant_id, 200)}")
    if esc.model:
        version = f" {esc.model.version}" if esc.model.version else ""
        facts.append(f"*Model*\n{fit(esc.model.name + version, 200)}")
    if esc.confidence is not None:
        facts.append(f"*Confidence*\n{esc.confidence:.0%}")
    if view.decision is None:
        facts.append(_due_fact(view, now))
    return {"type": "section", "fields": [{"type": "mrkdwn", "text": f, "verbatim": True} for f in facts]}


def _decision_line(decision: Decision) -> str:
    badge = OUTCOME_BADGE.get(decision.outcome, escape_mrkdwn(plain(decision.outcome, 40)))
    return f"*{badge}* by <@{decision.decided_by.slack_user_id}> · {slack_date(decision.decided_at)}"


def _decision_blocks(view: CardView, scale: Scale) -> list[Block]:
    decision = view.decision
    assert decision is not None
    lines = [_decision_line(decision)]
    if decision.reason:
        lines.append(f"*Reason:* {fit(reason_label(decision.reason), 200)}")
    if decision.checklist:
        lines.append("*Checked:* " + fit("; ".join(decision.checklist), scale(1500)))
    blocks = [section("\n".join(lines))]
    if decision.note:
        blocks.append(section(f"*Note*\n{fit(decision.note, scale(NOTE_CHARS))}", untrusted=True))
    if decision.outcome == "edited" and decision.final_text:
        blocks.append(
            section(f"*Final answer (as edited)*\n{fit(decision.final_text, scale(FINAL_CHARS))}", untrusted=True)
        )
    proposed = view.escalation.proposed_action
    if decision.final_action and proposed and decision.final_action.get("args") != proposed.args:
        final_args = decision.final_action.get("args") or {}
        changed = [(k, v) for k, v in final_args.items() if proposed.args.get(k) != v]
        lines = [
            f"• *{fit(k, scale(60))}*: {fit(format_arg(proposed.args.get(k)), scale(120))} "
            f"→ {fit(format_arg(v), scale(120))}"
            for k, v in changed
        ]
        body = fit_items(lines, TEXT - 40, "+{n} more changed arguments (in the API record)")
        blocks.append(section("*Action as approved (edited)*\n" + body, untrusted=True))
    return blocks


def _evidence_blocks(esc: Escalation, scale: Scale) -> list[Block]:
    if not esc.evidence:
        return []
    items = []
    for item in esc.evidence[:EVIDENCE_ITEMS]:
        score = f" · score {number(item.score, '.2f')}" if item.score is not None else ""
        name = fit(item.document_id, scale(120))
        title = link(str(item.url) if item.url else None, name, scale(500)) or f"`{name}`"
        quote = fit(" ".join(item.quote.split()), scale(QUOTE_CHARS))
        items.append(f"• {title}{score}" + (f"\n> {quote}" if quote else ""))
    shown = fit_items(items, TEXT - 20, "+{n} more evidence items (in the API record)")
    blocks = [section("*Evidence*\n" + shown, untrusted=True)]
    if len(esc.evidence) > EVIDENCE_ITEMS:
        blocks.append(context(f"+{len(esc.evidence) - EVIDENCE_ITEMS} more evidence items (in the API record)"))
    return blocks


def format_arg(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _action_blocks(esc: Escalation, scale: Scale) -> list[Block]:
    action = esc.proposed_action
    if action is None:
        return []
    blocks: list[Block] = [section(f"*Proposed action:* `{fit(action.action, 128)}`", untrusted=True)]
    items = list(action.args.items())
    if items:
        fields = [
            {
                "type": "mrkdwn",
                "verbatim": True,
                "text": f"*{fit(key, scale(100))}*\n{fit(format_arg(value), scale(ACTION_VALUE_CHARS))}",
            }
            for key, value in items[:ACTION_FIELDS]
        ]
        blocks.append({"type": "section", "fields": fields})
        if len(items) > ACTION_FIELDS:
            blocks.append(context(f"+{len(items) - ACTION_FIELDS} more arguments (shown in the Approve modal)"))
    return blocks


def _impact_line(esc: Escalation) -> str | None:
    impact = esc.impact
    if impact is None:
        return None
    parts = []
    if impact.dollars is not None:
        parts.append(f"${number(impact.dollars, ',.2f')}")
    if impact.users_affected is not None:
        parts.append(f"{number(impact.users_affected)} users affected")
    if impact.compliance_risk:
        parts.append(
            "compliance risk"
            if impact.compliance_risk is True
            else f"compliance: {fit(str(impact.compliance_risk), 100)}"
        )
    return "*Impact:* " + " · ".join(parts) if parts else None


def _page_link(page: PageView, label: str) -> str:
    return link(page.permalink, label) or f"{label} in <#{page.channel}>"


def _page_banner(page_for: PageView, who: list[str], scale: Scale) -> Block:
    return section(
        f"🚨 *Escalated to tier {page_for.tier} ({escape_mrkdwn(plain(page_for.tier_name, 80))})*: "
        f"tier {page_for.tier - 1}'s SLA ran out with no decision. "
        f"{mentions(who, scale(1000))} please review."
    )


def _paging_blocks(view: CardView, page_for: PageView | None, who: list[str], scale: Scale) -> list[Block]:
    blocks: list[Block] = []
    if page_for is not None and view.decision is None:
        blocks.append(_page_banner(page_for, who, scale))
    later = [p for p in view.pages if page_for is None or p.tier > page_for.tier]
    if later:
        links = ", ".join(_page_link(p, f"tier {p.tier} ({escape_mrkdwn(plain(p.tier_name, 60))})") for p in later[-5:])
        blocks.append(context(f"🚨 Escalated after SLA breach to {links}"))
    if view.unhandled and view.decision is None:
        blocks.append(
            section(
                "🆘 *Unhandled*: no decision after the last tier and every re-page. "
                "Ops have been alerted; the case can still be decided here."
            )
        )
    if view.claimed_by and view.decision is None:
        since = f" since {slack_date(view.claimed_at)}" if view.claimed_at else ""
        blocks.append(context(f"🙋 Claimed by <@{view.claimed_by}>{since}"))
    return blocks


def _header(view: CardView) -> Block:
    badge = OUTCOME_BADGE.get(view.decision.outcome) if view.decision else None
    title = f"{badge} · " if badge else "Review needed · "
    return {
        "type": "header",
        "text": {"type": "plain_text", "text": plain(f"{title}{view.queue}: {view.case_id}", 150), "emoji": True},
    }


def _fallback(view: CardView, page_for: PageView | None) -> str:
    badge = OUTCOME_BADGE.get(view.decision.outcome) if view.decision else None
    status = badge or ("Escalated: review needed" if page_for else "Review needed")
    tier = page_for.tier if page_for else view.tier
    return escape_mrkdwn(plain(f"{status} ({view.queue}, tier {tier}): {view.escalation.reason_for_escalation}", 300))


def _card_blocks(view: CardView, now: datetime, page_for: PageView | None, who: list[str], scale: Scale) -> list[Block]:
    esc = view.escalation
    blocks: list[Block] = [_header(view)]
    if view.paused_mode and view.decision is None:
        what = "switched off" if view.paused_mode == "off" else "paused (human-only)"
        blocks.append(
            section(
                f"⏸️ *Automation was {what}* for this case's context when it arrived: "
                "this answer only ships if a human approves it."
            )
        )
    blocks.extend(_paging_blocks(view, page_for, who, scale))
    if view.decision:
        blocks.extend(_decision_blocks(view, scale))
        blocks.append({"type": "divider"})
    blocks.append(_facts(view, now))
    blocks.append(section(f"*Why escalated*\n{fit(esc.reason_for_escalation, scale(REASON_CHARS))}", untrusted=True))
    if esc.user_question:
        blocks.append(section(f"*User question*\n{fit(esc.user_question, scale(QUESTION_CHARS))}", untrusted=True))
    edited = view.decision is not None and view.decision.outcome == "edited"
    draft_label = "*Model draft (original)*" if edited else "*Model draft*"
    blocks.append(
        section(
            f"{draft_label}\n{fit(esc.model_draft, scale(DRAFT_CHARS_WITH_FINAL if edited else DRAFT_CHARS))}",
            untrusted=True,
        )
    )
    blocks.extend(_evidence_blocks(esc, scale))
    blocks.extend(_action_blocks(esc, scale))
    impact = _impact_line(esc)
    if impact:
        blocks.append(context(impact))
    if view.decision is None:
        blocks.append(_decide_buttons(view))
    blocks.append(context(f"Case `{fit(view.case_id, 128)}` · received {slack_date(view.received_at)}"))
    return blocks


def build_review_card(
    view: CardView, now: datetime, *, page_for: PageView | None = None, mentions: list[str] | None = None
) -> tuple[str, list[Block]]:
    """The card for a case in its current state, and the notification text that goes with it.

    `page_for` renders the copy posted to a later tier's channel, with `mentions` of that tier's reviewers.
    Long parts shrink together until the whole message fits Slack's budget (blocks/budget.py).
    """
    who = mentions or []
    return _fallback(view, page_for), fit_message(lambda scale: _card_blocks(view, now, page_for, who, scale))


TOO_LARGE = "Content too large for Slack: open the full case"


def build_minimal_card(
    view: CardView, now: datetime, *, api_path: str, page_for: PageView | None = None, mentions: list[str] | None = None
) -> tuple[str, list[Block]]:
    """A card that fits whatever the case holds, for when Slack refuses the full one: the header, risk, queue,
    tier, deadline (or the decision), the buttons while pending, and where to read the rest (`api_path`).

    Every part is bounded: the case id (128), queue and tier names (policy: 40 and 80), at most 1,000
    characters of mentions. About 2,000 characters in all, far inside every Slack limit.
    """
    blocks: list[Block] = [_header(view)]
    if page_for is not None and view.decision is None:
        blocks.append(_page_banner(page_for, mentions or [], Scale()))
    facts = [f"*Risk*\n{_risk(view.escalation)}", _queue_fact(view)]
    if view.decision is None:
        facts.append(_due_fact(view, now))
    blocks.append({"type": "section", "fields": [{"type": "mrkdwn", "text": f, "verbatim": True} for f in facts]})
    if view.decision is not None:
        blocks.append(section(_decision_line(view.decision)))
    blocks.append(section(f"⚠️ {TOO_LARGE}: `{escape_mrkdwn(plain(api_path, 400))}`", untrusted=True))
    if view.decision is None:
        blocks.append(_decide_buttons(view))
    return _fallback(view, page_for), blocks
