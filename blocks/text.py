"""Text helpers: escaping untrusted text for mrkdwn and fitting it into Block Kit's limits.

Every length here is `text_len`: UTF-16 code units, the strictest reading of Slack's "characters" (an emoji
counts 2; see slack_emulator/blockkit.py).
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterable
from datetime import datetime, timedelta

_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_INVISIBLE = ("Cc", "Cf", "Zs", "Zl", "Zp")


def text_len(text: str) -> int:
    """Length as Slack counts it: UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def _units(ch: str) -> int:
    return 2 if ord(ch) > 0xFFFF else 1


def escape_mrkdwn(text: str) -> str:
    """Neutralise Slack's control sequences: no `<!channel>`, `<@U…>` or forged `<url|label>` survives."""
    return "".join(_ESCAPES.get(ch, ch) for ch in text)


def fit(text: str, limit: int, *, escape: bool = True, noun: str = "characters") -> str:
    """`text` (escaped if asked) cut to at most `limit` units, with a visible marker when cut.

    The cut is made on the raw text, so an entity like `&amp;` is never split.
    """
    rendered = escape_mrkdwn(text) if escape else text
    if text_len(rendered) <= limit:
        return rendered
    # The marker names how much was cut; sized here for the most it could say.
    room = limit - text_len(f"…\n_[cut here: {len(text):,} more {noun}]_")
    if room < 0:
        return "…"
    kept, used = 0, 0
    for ch in text:
        size = text_len(_ESCAPES.get(ch, ch)) if escape else _units(ch)
        if used + size > room:
            break
        used += size
        kept += 1
    head = escape_mrkdwn(text[:kept]) if escape else text[:kept]
    return f"{head}…\n_[cut here: {len(text) - kept:,} more {noun}]_"


def plain(text: str, limit: int) -> str:
    """Plain-text fields (headers, labels, button text) on one line, cut to `limit` with an ellipsis."""
    text = " ".join(text.split())
    if text_len(text) <= limit:
        return text
    kept, used = 0, 0
    for ch in text:
        if used + _units(ch) > limit - 1:
            break
        used += _units(ch)
        kept += 1
    return text[:kept] + "…"


def visible(text: str) -> bool:
    """Whether Slack would show something: not only whitespace, zero-width or control characters."""
    return any(unicodedata.category(ch) not in _INVISIBLE for ch in text)


def label(text: str, limit: int) -> str:
    """`plain`, but never blank: a name made only of invisible characters is shown JSON-escaped (`"\\u200b"`)."""
    shown = plain(text, limit)
    return shown if visible(shown) else plain(json.dumps(text), limit)


def fit_items(items: Iterable[str], limit: int, more: str = "+{n} more", sep: str = "\n") -> str:
    """Whole items joined by `sep`, as many as fit in `limit` units with the `more` note (`{n}` = how many
    were left out). Items are already fitted mrkdwn, so nothing is cut inside a link or an entity."""
    items = list(items)
    shown: list[str] = []
    used = 0
    for index, item in enumerate(items):
        rest = len(items) - index - 1
        tail = text_len(more.format(n=rest + 1)) + text_len(sep)
        if used + text_len(item) + (tail if rest else 0) > limit:
            return sep.join([*shown, more.format(n=len(items) - index)])
        shown.append(item)
        used += text_len(item) + text_len(sep)
    return sep.join(shown)


def number(value: float, spec: str = ",") -> str:
    """A number for people: `format(value, spec)`, compact (`1.00e+308`) once it has more than 15 digits."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**15:
        digits = str(abs(value))
        return f"{'-' if value < 0 else ''}{digits[0]}.{digits[1:3]}e+{len(digits) - 1}"
    if isinstance(value, float) and abs(value) >= 1e15:
        return f"{value:.2e}"
    return format(value, spec)


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
        return f"{days:,}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{max(minutes, 1)}m" if seconds >= 60 else f"{seconds}s"


def link(url: str | None, label: str, limit: int = 500) -> str | None:
    """`<url|label>`, or None for a URL longer than `limit` or one Slack's link syntax can't carry."""
    if url and text_len(url) <= limit and not any(ch in url for ch in "|<> "):
        return f"<{url}|{label}>"
    return None


def mention(principal: str) -> str:
    """A user (U…/W…) or user group (S…) mention; IDs come from the policy, never from untrusted input."""
    return f"<!subteam^{principal}>" if principal.startswith("S") else f"<@{principal}>"


def mentions(principals: list[str], limit: int = 1000) -> str:
    """Mentions of as many principals as fit in `limit` units, then "+N more" (a tier may list many)."""
    return fit_items([mention(p) for p in principals], limit, "+{n} more", sep=" ")
