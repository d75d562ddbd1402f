"""The digest post. Reads well without the chart: every number is in the text. Pure."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from blocks.budget import TEXT, Block, Scale, context, fit_message, section
from blocks.text import escape_mrkdwn, fit, fit_items, human_delta, label, link, number, plain, slack_date
from bot.domain.cases import reason_label

MAX_QUEUE_BLOCKS = 36  # one section per queue; the rest of the post needs at most ~10 blocks


def _pct(value: float | None) -> str:
    return "–" if value is None else number(value * 100, ".0f") + "%"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    return human_delta(timedelta(seconds=seconds)) if abs(seconds) < 1e12 else f"{number(seconds)}s"


def _trend(trend: dict[str, Any]) -> str:
    change = trend.get("change")
    if change is None:
        return "no 7-day baseline"
    arrow = "↑" if change > 0 else "↓" if change < 0 else "→"
    flag = " ⚠️" if trend.get("flagged") else ""
    return f"{arrow} {_pct(abs(change))} vs 7-day avg ({number(trend['prior_7d_average'], 'g')}/day){flag}"


def _queue_line(name: str, f: dict[str, Any]) -> str:
    return (
        f"*{escape_mrkdwn(plain(name, 40))}* · {f['received']} received "
        f"({_trend(f['escalation_trend'])}) · {f['decided']} decided: "
        f"{f['approved']} approved, {f['edited']} edited, {f['rejected']} rejected · {f['pending']} pending\n"
        f"Acceptance {_pct(f['draft_acceptance_rate'])} · "
        f"edit distance {('–' if f['mean_edit_distance'] is None else number(f['mean_edit_distance'], '.2f'))} · "
        f"time to decision median {_duration(f['median_time_to_decision_s'])}, "
        f"p90 {_duration(f['p90_time_to_decision_s'])} · "
        f"SLA breaches {f['sla_breaches']}, decided late {_pct(f['sla_miss_rate'])}"
    )


def _summary_lines(figures: dict[str, Any], scale: Scale) -> list[str]:
    lines = []
    if figures["top_reasons"]:
        lines.append(
            "*Top escalation reasons:* "
            + "; ".join(f"{fit(r['reason'], scale(120))} ({r['count']})" for r in figures["top_reasons"][:10])
        )
    if figures["top_rejection_categories"]:
        lines.append(
            "*Top rejection categories:* "
            + "; ".join(
                f"{fit(reason_label(r['category']), 60)} ({r['count']})"
                for r in figures["top_rejection_categories"][:10]
            )
        )
    if figures["reviewer_load"]:
        lines.append(
            "*Decisions by reviewer:* "
            + ", ".join(
                f"<@{r['slack_user_id']}> {r['decisions']}" for r in figures["reviewer_load"][: scale(40, floor=5)]
            )
        )
    return lines


def _oldest_line(figures: dict[str, Any], now: datetime) -> str:
    oldest = []
    for case in figures["oldest_pending"][:10]:
        name = f"`{escape_mrkdwn(plain(case['case_id'], 80))}`"
        waited = human_delta(now - datetime.fromisoformat(case["received_at"]))
        oldest.append(
            f"{link(case.get('link'), name) or name} "
            f"({escape_mrkdwn(plain(case['queue'], 80))} tier {case['tier']}, waiting {waited})"
        )
    return "*Oldest pending:* " + ", ".join(oldest)


def _digest_blocks(figures: dict[str, Any], header: Block, span: str, now: datetime, scale: Scale) -> list[Block]:
    totals = figures["totals"]
    blocks: list[Block] = [
        header,
        section(f"{span}\n*All queues* · " + _queue_line("total", totals).split(" · ", 1)[1]),
    ]
    active = [(n, f) for n, f in figures["queues"].items() if f["received"] or f["decided"] or f["pending"]]
    shown = scale(MAX_QUEUE_BLOCKS, floor=3)
    for name, f in active[:shown]:
        blocks.append(section(_queue_line(name, f)))
    if len(active) > shown:
        rest = [
            f"{escape_mrkdwn(plain(n, 40))} ({f['received']} in, {f['pending']} pending)" for n, f in active[shown:]
        ]
        blocks.append(section(f"…and {len(rest)} more queues: " + fit_items(rest, TEXT - 60, "+{n} more", sep=", ")))
    quiet = len(figures["queues"]) - len(active)
    if quiet:
        blocks.append(context(f"{quiet} queue(s) had no activity.", untrusted=False))
    lines = _summary_lines(figures, scale)
    if lines:
        blocks.append(section(fit_items(lines, TEXT)))
    if figures["oldest_pending"]:
        blocks.append(section(_oldest_line(figures, now)))
    if figures["killswitch"]:
        events = [
            f"{'⏸️ paused' if e['action'] == 'killed' else '▶️ resumed'} `{fit(str(e['scope']), 160)}` "
            f"by <@{e['by']}> {slack_date(datetime.fromisoformat(e['at']), '{time}')}"
            for e in figures["killswitch"][:10]
        ]
        blocks.append(section("*Kill switch:* " + "; ".join(events)))
    else:
        blocks.append(context("Kill switch: no activity.", untrusted=False))
    return [*blocks[:49], *_anchor(figures)]


def build_digest(figures: dict[str, Any], *, title: str, now: datetime) -> tuple[str, list[Block]]:
    window = figures["window"]
    start, end = datetime.fromisoformat(window["start"]), datetime.fromisoformat(window["end"])
    totals = figures["totals"]
    header = {"type": "header", "text": {"type": "plain_text", "text": label(title, 150)}}
    span = (
        f"{slack_date(start, '{date_short} {time}')} → {slack_date(end, '{date_short} {time}')} "
        f"({escape_mrkdwn(plain(window['timezone'], 60))})"
    )
    if totals["received"] == 0 and totals["decided"] == 0:
        text = f"No escalations in this period. {totals['pending']} case(s) still pending."
        return f"{title}: {text}", [header, section(f"{span}\n{text}"), *_anchor(figures)]
    text = (
        f"{title}: {totals['received']} received, {totals['decided']} decided, "
        f"{totals['pending']} pending, {totals['sla_breaches']} SLA breaches"
    )
    return text, fit_message(lambda scale: _digest_blocks(figures, header, span, now, scale))


def _anchor(figures: dict[str, Any]) -> list[Block]:
    """The audit trail's head, witnessed by Slack: `hitl audit verify --slack` checks the database against it."""
    anchor = figures.get("audit_anchor")
    if not anchor:
        return []
    return [context(f"Audit trail head: `{anchor}`", untrusted=False)]


def digest_as_text(blocks: list[Block]) -> str:
    """The post as terminal text (mrkdwn left as is; it reads fine)."""
    lines = []
    for block in blocks:
        if block["type"] in ("header", "section"):
            lines.append(block["text"]["text"])
        elif block["type"] == "context":
            lines.extend(e.get("text", "") for e in block["elements"])
    return "\n\n".join(lines)
