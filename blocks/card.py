"""The review card: a pure function of the stored case, re-rendered whole on every change."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.escalation import Escalation
from blocks.ids import ActionId, CaseRef, RejectReason
from blocks.text import escape_mrkdwn, fit, human_delta, mention, plain, slack_date

Block = dict[str, Any]

RISK_BADGE = {"low": "🟢 Low", "medium": "🟡 Medium", "high": "🟠 High", "critical": "🔴 Critical"}
OUTCOME_BADGE = {"approved": "✅ Approved", "edited": "✏️ Edited", "rejected": "⛔ Rejected"}

# Character budgets per part of the card. Their sum stays well under the ~13k characters Slack accepts
# for one message's blocks (msg_blocks_too_long), whatever the input.
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
class DecisionView:
    outcome: str
    decided_by: str
    decided_at: datetime
    final_text: str | None = None
    reason: str | None = None
    note: str | None = None
    checklist: list[str] = field(default_factory=list)
    final_action: dict[str, Any] | None = None


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
    decision: DecisionView | None = None
    pages: tuple[PageView, ...] = ()
    claimed_by: str | None = None
    claimed_at: datetime | None = None
    unhandled: bool = False
    paused_mode: str | None = None


def _text(text: str, *, untrusted: bool = False) -> dict[str, Any]:
    # verbatim stops Slack from auto-linking names and mentions inside text we did not write.
    obj: dict[str, Any] = {"type": "mrkdwn", "text": text}
    if untrusted:
        obj["verbatim"] = True
    return obj


def _section(text: str, *, untrusted: bool = False) -> Block:
    return {"type": "section", "text": _text(text, untrusted=untrusted)}


def _context(*texts: str) -> Block:
    return {"type": "context", "elements": [_text(t, untrusted=True) for t in texts[:10]]}


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


def _facts(view: CardView, now: datetime) -> Block:
    esc = view.escalation
    facts = [
        f"*Risk*\n{RISK_BADGE.get(esc.risk_level.value, esc.risk_level.value) if esc.risk_level else 'Not given'}",
        f"*Queue*\n{escape_mrkdwn(view.queue)} · tier {view.tier} of {view.tier_count}\n{escape_mrkdwn(plain(view.tier_name, 80))}",
    ]
    if esc.tenant_id:
        facts.append(f"*Tenant*\n{fit(esc.tenant_id, 200)}")
    if esc.model:
        version = f" {esc.model.version}" if esc.model.version else ""
        facts.append(f"*Model*\n{fit(esc.model.name + version, 200)}")
    if esc.confidence is not None:
        facts.append(f"*Confidence*\n{esc.confidence:.0%}")
    if view.decision is None:
        left = view.tier_deadline - now
        status = f"{human_delta(left)} left" if left.total_seconds() > 0 else f"overdue by {human_delta(left)}"
        facts.append(f"*Due*\n{slack_date(view.tier_deadline)}\n{status}")
    return {"type": "section", "fields": [{"type": "mrkdwn", "text": f, "verbatim": True} for f in facts]}


def _decision_blocks(view: CardView) -> list[Block]:
    decision = view.decision
    assert decision is not None
    badge = OUTCOME_BADGE.get(decision.outcome, decision.outcome)
    lines = [f"*{badge}* by <@{decision.decided_by}> · {slack_date(decision.decided_at)}"]
    if decision.reason:
        try:
            label = RejectReason(decision.reason).label
        except ValueError:
            label = decision.reason
        lines.append(f"*Reason:* {escape_mrkdwn(label)}")
    if decision.checklist:
        lines.append("*Checked:* " + "; ".join(escape_mrkdwn(item) for item in decision.checklist))
    blocks = [_section("\n".join(lines))]
    if decision.note:
        blocks.append(_section(f"*Note*\n{fit(decision.note, NOTE_CHARS)}", untrusted=True))
    if decision.outcome == "edited" and decision.final_text:
        blocks.append(_section(f"*Final answer (as edited)*\n{fit(decision.final_text, FINAL_CHARS)}", untrusted=True))
    proposed = view.escalation.proposed_action
    if decision.final_action and proposed and decision.final_action.get("args") != proposed.args:
        changed = [(k, v) for k, v in decision.final_action["args"].items() if proposed.args.get(k) != v]
        lines = [f"• *{fit(k, 100)}*: {fit(format_arg(proposed.args.get(k)), 120)} → {fit(format_arg(v), 120)}" for k, v in changed[:ACTION_FIELDS]]
        blocks.append(_section("*Action as approved (edited)*\n" + "\n".join(lines), untrusted=True))
    return blocks


def _evidence_blocks(esc: Escalation) -> list[Block]:
    if not esc.evidence:
        return []
    lines = ["*Evidence*"]
    for item in esc.evidence[:EVIDENCE_ITEMS]:
        score = f" · score {item.score:.2f}" if item.score is not None else ""
        name = fit(item.document_id, 120)
        title = f"<{item.url}|{name}>" if item.url and len(str(item.url)) <= 500 and "|" not in str(item.url) else f"`{name}`"
        quote = fit(" ".join(item.quote.split()), QUOTE_CHARS)
        lines.append(f"• {title}{score}" + (f"\n> {quote}" if quote else ""))
    blocks = [_section("\n".join(lines), untrusted=True)]
    if len(esc.evidence) > EVIDENCE_ITEMS:
        blocks.append(_context(f"+{len(esc.evidence) - EVIDENCE_ITEMS} more evidence items (in the API record)"))
    return blocks


def format_arg(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _action_blocks(esc: Escalation) -> list[Block]:
    action = esc.proposed_action
    if action is None:
        return []
    blocks: list[Block] = [_section(f"*Proposed action:* `{fit(action.action, 128)}`", untrusted=True)]
    items = list(action.args.items())
    if items:
        fields = [
            {"type": "mrkdwn", "verbatim": True, "text": f"*{fit(key, 100)}*\n{fit(format_arg(value), ACTION_VALUE_CHARS)}"}
            for key, value in items[:ACTION_FIELDS]
        ]
        blocks.append({"type": "section", "fields": fields})
        if len(items) > ACTION_FIELDS:
            blocks.append(_context(f"+{len(items) - ACTION_FIELDS} more arguments (shown in the Approve modal)"))
    return blocks


def _impact_line(esc: Escalation) -> str | None:
    impact = esc.impact
    if impact is None:
        return None
    parts = []
    if impact.dollars is not None:
        parts.append(f"${impact.dollars:,.2f}")
    if impact.users_affected is not None:
        parts.append(f"{impact.users_affected:,} users affected")
    if impact.compliance_risk:
        parts.append("compliance risk" if impact.compliance_risk is True else f"compliance: {fit(str(impact.compliance_risk), 100)}")
    return "*Impact:* " + " · ".join(parts) if parts else None


def _link(page: PageView, label: str) -> str:
    return f"<{page.permalink}|{label}>" if page.permalink else f"{label} in <#{page.channel}>"


def _paging_blocks(view: CardView, page_for: PageView | None, mentions: list[str]) -> list[Block]:
    blocks: list[Block] = []
    if page_for is not None and view.decision is None:
        who = " ".join(mention(p) for p in mentions[:20])
        blocks.append(_section(f"🚨 *Escalated to tier {page_for.tier} ({escape_mrkdwn(plain(page_for.tier_name, 80))})*: tier {page_for.tier - 1}'s SLA ran out with no decision. {who} please review."))
    later = [p for p in view.pages if page_for is None or p.tier > page_for.tier]
    if later:
        links = ", ".join(_link(p, f"tier {p.tier} ({escape_mrkdwn(plain(p.tier_name, 60))})") for p in later[-5:])
        blocks.append(_context(f"🚨 Escalated after SLA breach to {links}"))
    if view.unhandled and view.decision is None:
        blocks.append(_section("🆘 *Unhandled*: no decision after the last tier and every re-page. Ops have been alerted; the case can still be decided here."))
    if view.claimed_by and view.decision is None:
        since = f" since {slack_date(view.claimed_at)}" if view.claimed_at else ""
        blocks.append(_context(f"🙋 Claimed by <@{view.claimed_by}>{since}"))
    return blocks


def build_review_card(view: CardView, now: datetime, *, page_for: PageView | None = None, mentions: list[str] | None = None) -> tuple[str, list[Block]]:
    """The card for a case in its current state, and the notification text that goes with it.

    `page_for` renders the copy posted to a later tier's channel, with `mentions` of that tier's reviewers.
    """
    esc = view.escalation
    badge = OUTCOME_BADGE.get(view.decision.outcome) if view.decision else None
    title = f"{badge} · " if badge else "Review needed · "
    blocks: list[Block] = [
        {"type": "header", "text": {"type": "plain_text", "text": plain(f"{title}{view.queue}: {view.case_id}", 150), "emoji": True}}
    ]
    if view.paused_mode and view.decision is None:
        what = "switched off" if view.paused_mode == "off" else "paused (human-only)"
        blocks.append(_section(f"⏸️ *Automation was {what}* for this case's context when it arrived: this answer only ships if a human approves it."))
    blocks.extend(_paging_blocks(view, page_for, mentions or []))
    if view.decision:
        blocks.extend(_decision_blocks(view))
        blocks.append({"type": "divider"})
    blocks.append(_facts(view, now))
    blocks.append(_section(f"*Why escalated*\n{fit(esc.reason_for_escalation, REASON_CHARS)}", untrusted=True))
    if esc.user_question:
        blocks.append(_section(f"*User question*\n{fit(esc.user_question, QUESTION_CHARS)}", untrusted=True))
    edited = view.decision is not None and view.decision.outcome == "edited"
    draft_label = "*Model draft (original)*" if edited else "*Model draft*"
    blocks.append(_section(f"{draft_label}\n{fit(esc.model_draft, DRAFT_CHARS_WITH_FINAL if edited else DRAFT_CHARS)}", untrusted=True))
    blocks.extend(_evidence_blocks(esc))
    blocks.extend(_action_blocks(esc))
    impact = _impact_line(esc)
    if impact:
        blocks.append(_context(impact))
    if view.decision is None:
        blocks.append(
            {
                "type": "actions",
                "block_id": "decide",
                "elements": [
                    _button(ActionId.APPROVE, "Approve", view.case_id, "primary"),
                    _button(ActionId.EDIT, "Edit", view.case_id),
                    _button(ActionId.REJECT, "Reject", view.case_id, "danger"),
                    _button(ActionId.UNCLAIM, "Unclaim", view.case_id) if view.claimed_by else _button(ActionId.CLAIM, "Claim", view.case_id),
                ],
            }
        )
    blocks.append(_context(f"Case `{fit(view.case_id, 128)}` · received {slack_date(view.received_at)}"))
    status = badge or ("Escalated: review needed" if page_for else "Review needed")
    fallback = plain(f"{status} ({view.queue}, tier {page_for.tier if page_for else view.tier}): {esc.reason_for_escalation}", 300)
    return escape_mrkdwn(fallback), blocks


def build_minimal_card(view: CardView, now: datetime, *, api_path: str, page_for: PageView | None = None, mentions: list[str] | None = None) -> tuple[str, list[Block]]:
    """The card Slack can always take: what a reviewer needs to act, and where the rest is. Posted when Slack
    refused the full card (too large, or a limit hitl did not foresee)."""
    esc = view.escalation
    badge = OUTCOME_BADGE.get(view.decision.outcome) if view.decision else None
    risk = RISK_BADGE.get(esc.risk_level.value, esc.risk_level.value) if esc.risk_level else "Not given"
    lines = [f"*Risk* {risk} · *Queue* {escape_mrkdwn(plain(view.queue, 40))} · tier {view.tier} of {view.tier_count}"]
    if view.decision:
        lines.append(f"*{badge}* by <@{view.decision.decided_by}> · {slack_date(view.decision.decided_at)}")
    else:
        lines.append(f"*Due* {slack_date(view.tier_deadline)}")
    if page_for is not None and view.decision is None:
        lines.append(f"🚨 Escalated to tier {page_for.tier}. " + " ".join(mention(p) for p in (mentions or [])[:20]))
    lines.append(f"⚠️ Content too large for Slack: open the full case with `{escape_mrkdwn(api_path)}`")
    blocks: list[Block] = [
        {"type": "header", "text": {"type": "plain_text", "text": plain(f"{badge or 'Review needed'} · {view.case_id}", 150), "emoji": True}},
        _section("\n".join(lines)),
    ]
    if view.decision is None:
        blocks.append(
            {
                "type": "actions",
                "block_id": "decide",
                "elements": [
                    _button(ActionId.APPROVE, "Approve", view.case_id, "primary"),
                    _button(ActionId.EDIT, "Edit", view.case_id),
                    _button(ActionId.REJECT, "Reject", view.case_id, "danger"),
                    _button(ActionId.UNCLAIM, "Unclaim", view.case_id) if view.claimed_by else _button(ActionId.CLAIM, "Claim", view.case_id),
                ],
            }
        )
    return escape_mrkdwn(plain(f"{badge or 'Review needed'} ({view.queue}, tier {view.tier}): case {view.case_id}", 300)), blocks
