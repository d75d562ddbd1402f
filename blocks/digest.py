"""The digest post. Reads well without the chart: every number is in the text. Pure."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from blocks.ids import RejectReason
from blocks.text import escape_mrkdwn, fit, human_delta, plain, slack_date

Block = dict[str, Any]
MAX_QUEUE_BLOCKS = 36  # one section per queue; the rest of the post needs at most ~10 blocks


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def _duration(seconds: float | None) -> str:
    return "–" if seconds is None else human_delta(timedelta(seconds=seconds))


def _trend(trend: dict[str, Any]) -> str:
    change = trend.get("change")
    if change is None:
        return "no 7-day baseline"
    arrow = "↑" if change > 0 else "↓" if change < 0 else "→"
    flag = " ⚠️" if trend.get("flagged") else ""
    return f"{arrow} {abs(change):.0%} vs 7-day avg ({trend['prior_7d_average']:g}/day){flag}"


def _queue_line(name: str, f: dict[str, Any]) -> str:
    return (
        f"*{escape_mrkdwn(plain(name, 40))}* · {f['received']} received ({_trend(f['escalation_trend'])}) · {f['decided']} decided: "
        f"{f['approved']} approved, {f['edited']} edited, {f['rejected']} rejected · {f['pending']} pending\n"
        f"Acceptance {_pct(f['draft_acceptance_rate'])} · edit distance {('–' if f['mean_edit_distance'] is None else format(f['mean_edit_distance'], '.2f'))} · "
        f"time to decision median {_duration(f['median_time_to_decision_s'])}, p90 {_duration(f['p90_time_to_decision_s'])} · "
        f"SLA breaches {f['sla_breaches']}, decided late {_pct(f['sla_miss_rate'])}"
    )


def _section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": fit(text, 3000, escape=False)}}


def _category(value: str) -> str:
    try:
        return RejectReason(value).label
    except ValueError:
        return value


def build_digest(figures: dict[str, Any], *, title: str, now: datetime) -> tuple[str, list[Block]]:
    window = figures["window"]
    start, end = datetime.fromisoformat(window["start"]), datetime.fromisoformat(window["end"])
    totals = figures["totals"]
    header = {"type": "header", "text": {"type": "plain_text", "text": plain(title, 150)}}
    span = f"{slack_date(start, '{date_short} {time}')} → {slack_date(end, '{date_short} {time}')} ({escape_mrkdwn(window['timezone'])})"
    if totals["received"] == 0 and totals["decided"] == 0:
        text = f"No escalations in this period. {totals['pending']} case(s) still pending."
        return f"{title}: {text}", [header, _section(f"{span}\n{text}"), *_anchor(figures)]
    blocks: list[Block] = [header, _section(f"{span}\n*All queues* · " + _queue_line("total", totals).split(" · ", 1)[1])]
    active = [(n, f) for n, f in figures["queues"].items() if f["received"] or f["decided"] or f["pending"]]
    for name, f in active[:MAX_QUEUE_BLOCKS]:
        blocks.append(_section(_queue_line(name, f)))
    if len(active) > MAX_QUEUE_BLOCKS:
        rest = active[MAX_QUEUE_BLOCKS:]
        blocks.append(_section(f"…and {len(rest)} more queues: " + ", ".join(f"{escape_mrkdwn(n)} ({f['received']} in, {f['pending']} pending)" for n, f in rest)))
    quiet = len(figures["queues"]) - len(active)
    if quiet:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"{quiet} queue(s) had no activity."}]})
    lines = []
    if figures["top_reasons"]:
        lines.append("*Top escalation reasons:* " + "; ".join(f"{fit(r['reason'], 120)} ({r['count']})" for r in figures["top_reasons"]))
    if figures["top_rejection_categories"]:
        lines.append("*Top rejection categories:* " + "; ".join(f"{escape_mrkdwn(_category(r['category']))} ({r['count']})" for r in figures["top_rejection_categories"]))
    if figures["reviewer_load"]:
        lines.append("*Decisions by reviewer:* " + ", ".join(f"<@{r['slack_user_id']}> {r['decisions']}" for r in figures["reviewer_load"][:40]))
    if lines:
        blocks.append(_section("\n".join(lines)))
    if figures["oldest_pending"]:
        oldest = []
        for case in figures["oldest_pending"]:
            name = f"`{escape_mrkdwn(plain(case['case_id'], 80))}`"
            linked = f"<{case['link']}|{name}>" if case.get("link") else name
            waited = human_delta(now - datetime.fromisoformat(case["received_at"]))
            oldest.append(f"{linked} ({escape_mrkdwn(case['queue'])} tier {case['tier']}, waiting {waited})")
        blocks.append(_section("*Oldest pending:* " + ", ".join(oldest)))
    if figures["killswitch"]:
        events = [f"{'⏸️ paused' if e['action'] == 'killed' else '▶️ resumed'} `{escape_mrkdwn(str(e['scope']))}` by <@{e['by']}> {slack_date(datetime.fromisoformat(e['at']), '{time}')}" for e in figures["killswitch"][:10]]
        blocks.append(_section("*Kill switch:* " + "; ".join(events)))
    else:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": "Kill switch: no activity."}]})
    text = f"{title}: {totals['received']} received, {totals['decided']} decided, {totals['pending']} pending, {totals['sla_breaches']} SLA breaches"
    return text, [*blocks[:49], *_anchor(figures)]


def _anchor(figures: dict[str, Any]) -> list[Block]:
    """The audit trail's head, witnessed by Slack: `hitl audit verify --slack` checks the database against it."""
    anchor = figures.get("audit_anchor")
    if not anchor:
        return []
    return [{"type": "context", "elements": [{"type": "mrkdwn", "text": f"Audit trail head: `{anchor}`"}]}]


def digest_as_text(blocks: list[Block]) -> str:
    """The post as terminal text (mrkdwn left as is; it reads fine)."""
    lines = []
    for block in blocks:
        if block["type"] in ("header", "section"):
            lines.append(block["text"]["text"])
        elif block["type"] == "context":
            lines.extend(e.get("text", "") for e in block["elements"])
    return "\n\n".join(lines)
