"""`/hitl …` text into a typed command, every argument inside its range; or the usage line to answer with."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from blocks.text import escape_mrkdwn
from bot.domain.pauses import KillArgs, parse_kill_args
from bot.durations import format_duration, parse_duration

# Slack sends a command's text as typed (a few thousand characters at most); past this it is not a command.
MAX_TEXT = 4000
SINCE_DEFAULT = timedelta(hours=24)
SINCE_MIN = timedelta(minutes=1)
SINCE_MAX = timedelta(days=90)
# Queue names in the policy: 1–40 of A-Z a-z 0-9 _ . - (bot/policy.py).
QUEUE_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")

USAGE = {
    "queue": "`/hitl queue [name]`",
    "digest": "`/hitl digest [queue] [--since 7d]` (from 1m to 90d)",
    "kill": "`/hitl kill [scope] [mode:off] [reason…]` (a reason of at most 1,000 characters)",
    "resume": "`/hitl resume [scope] [reason…]` (a reason of at most 1,000 characters)",
}


@dataclass(frozen=True)
class Help:
    unknown: str | None = None  # the subcommand that was not understood, shown escaped and cut


@dataclass(frozen=True)
class Status:
    pass


@dataclass(frozen=True)
class QueueListing:
    name: str | None


@dataclass(frozen=True)
class Digest:
    queue: str | None
    since: timedelta


@dataclass(frozen=True)
class Kill:
    args: KillArgs


@dataclass(frozen=True)
class Resume:
    args: KillArgs


@dataclass(frozen=True)
class Usage:
    """Why the text was not understood (Slack mrkdwn, anything echoed escaped), and the subcommand's usage."""

    problem: str
    sub: str | None = None

    @property
    def text(self) -> str:
        usage = f"\nUsage: {USAGE[self.sub]}" if self.sub in USAGE else ""
        return f"⚠️ {self.problem}{usage}"


Command = Help | Status | QueueListing | Digest | Kill | Resume


def shown(text: str, limit: int = 40) -> str:
    """A piece of what was typed, safe to echo inside backticks."""
    cut = text if len(text) <= limit else text[: limit - 1] + "…"
    return escape_mrkdwn(_CONTROL.sub("?", cut)).replace("`", "'")


def subcommand(text: str) -> str:
    """The first word, lower-cased (for audit rows and answers), whatever else the text holds."""
    words = text.split(maxsplit=1)
    return words[0].lower()[:40] if words else "help"


def parse_command(text: str) -> Command | Usage:
    if len(text) > MAX_TEXT:
        return Usage(f"That command is {len(text):,} characters long; hitl takes at most {MAX_TEXT:,}.")
    words = text.split(maxsplit=1)
    sub = words[0].lower() if words else "help"
    rest = words[1] if len(words) > 1 else ""
    if sub == "help":
        return Help()
    if sub == "status":
        return Status()
    if sub == "queue":
        return _queue(rest)
    if sub == "digest":
        return _digest(rest)
    if sub in ("kill", "resume"):
        try:
            args = parse_kill_args(rest)
        except ValueError as exc:
            return Usage(_sentence(escape_mrkdwn(str(exc))), sub)
        return Kill(args) if sub == "kill" else Resume(args)
    return Help(unknown=sub)


def _queue(rest: str) -> QueueListing | Usage:
    words = rest.split()
    if len(words) > 1:
        return Usage("`/hitl queue` takes one queue name.", "queue")
    if words and not QUEUE_NAME.match(words[0]):
        return Usage(f"`{shown(words[0])}` is not a queue name (1–40 letters, digits, `_`, `.` or `-`).", "queue")
    return QueueListing(words[0] if words else None)


def _digest(rest: str) -> Digest | Usage:
    words = rest.split()
    since: timedelta | None = None
    queue: str | None = None
    while words:
        word = words.pop(0)
        if word.lower() == "--since" or word.lower().startswith("--since="):
            if since is not None:
                return Usage("`--since` is given twice.", "digest")
            value = word.split("=", 1)[1] if "=" in word else (words.pop(0) if words else "")
            parsed = _since(value)
            if isinstance(parsed, Usage):
                return parsed
            since = parsed
        elif word.startswith("-"):
            return Usage(f"`{shown(word)}` is not an option of `/hitl digest`.", "digest")
        elif queue is None:
            if not QUEUE_NAME.match(word):
                return Usage(f"`{shown(word)}` is not a queue name (1–40 letters, digits, `_`, `.` or `-`).", "digest")
            queue = word
        else:
            return Usage(f"`/hitl digest` takes one queue name; `{shown(word)}` is one too many.", "digest")
    return Digest(queue, since or SINCE_DEFAULT)


def _since(value: str) -> timedelta | Usage:
    if not value:
        return Usage("`--since` takes a duration like `24h` or `7d`.", "digest")
    try:
        since = parse_duration(value)
    except ValueError:
        return Usage(f"`--since` takes a duration like `24h` or `7d`, not `{shown(value)}`.", "digest")
    if not SINCE_MIN <= since <= SINCE_MAX:
        return Usage(
            f"`--since` must be from {format_duration(SINCE_MIN)} to {format_duration(SINCE_MAX)}, "
            f"not {format_duration(since)}.",
            "digest",
        )
    return since


def _sentence(text: str) -> str:
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."
