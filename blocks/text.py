"""Text helpers: escaping untrusted text for mrkdwn and fitting it into Block Kit's limits."""

from __future__ import annotations

from datetime import datetime, timedelta

_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


def escape_mrkdwn(text: str) -> str:
    """Neutralise Slack's control sequences: no `<!channel>`, `<@U…>` or forged `<url|label>` survives."""
    return "".join(_ESCAPES.get(ch, ch) for ch in text)


def fit(text: str, limit: int, *, escape: bool = True, noun: str = "characters") -> str:
    """`text` (escaped if asked) cut to at most `limit` characters, with a visible marker when cut.

    The cut is made on the raw text, so an entity like `&amp;` is never split.
    """
    rendered = escape_mrkdwn(text) if escape else text
    if len(rendered) <= limit:
        return rendered
    budget = limit - 60
    kept, used = 0, 0
    for ch in text:
        size = len(_ESCAPES.get(ch, ch)) if escape else 1
        if used + size > budget:
            break
        used += size
        kept += 1
    head = escape_mrkdwn(text[:kept]) if escape else text[:kept]
    return f"{head}…\n_[cut here: {len(text) - kept:,} more {noun}]_"


def plain(text: str, limit: int) -> str:
    """Plain-text fields (headers, labels, button text) cut to `limit` with an ellipsis."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def slack_date(when: datetime, fmt: str = "{date_short_pretty} at {time}") -> str:
    """A date each viewer sees in their own time zone, with a UTC fallback for old clients."""
    fallback = when.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(when.timestamp())}^{fmt}|{fallback}>"


def human_delta(delta: timedelta) -> str:
    seconds = int(abs(delta.total_seconds()))
    days, rem = divmod(seconds, 86400)
    hours, rem = divmod(rem, 3600)
    minutes = rem // 60
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{max(minutes, 1)}m" if seconds >= 60 else f"{seconds}s"


def mention(principal: str) -> str:
    """A user (U…/W…) or user group (S…) mention; IDs come from the policy, never from untrusted input."""
    return f"<!subteam^{principal}>" if principal.startswith("S") else f"<@{principal}>"
