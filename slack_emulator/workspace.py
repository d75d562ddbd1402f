"""In-memory model of one Slack workspace, as the emulator's Web API sees it.

Pure state and rules, no I/O: the HTTP layer (webapi.py) and the request
sender (client.py) both read and mutate this, and a future browser UI can
render it directly. Everything is plain dataclasses/dicts so tests can inspect
it without going through HTTP.
"""

from __future__ import annotations

import copy
import random
import re
import string
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from slack_emulator.scopes import DEFAULT_BOT_SCOPES

TEAM_ID = "T0HITL"
TEAM_DOMAIN = "hitl-emulator"
TEAM_NAME = "HITL Emulator"
BOT_USER_ID = "U0HITLBOT"
BOT_USER_NAME = "hitl"
BOT_ID = "B0HITL"
APP_ID = "A0HITL"

TRIGGER_TTL_SECONDS = 3.0  # Slack: a trigger_id expires 3 s after the interaction
MAX_VIEW_STACK = 3  # Slack: views.push fails beyond 3 stacked modals

_CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]+$")
_USER_ID = re.compile(r"^[UW][A-Z0-9]+$")
_ALNUM = string.ascii_letters + string.digits


class SlackError(Exception):
    """A Web API failure: `error` is Slack's error code, `errors` details."""

    def __init__(self, error: str, errors: list[str] | None = None) -> None:
        super().__init__(error if not errors else f"{error}: {'; '.join(errors)}")
        self.error = error
        self.errors = errors or []


@dataclass
class Message:
    ts: str
    channel: str
    text: str = ""
    blocks: list[dict[str, Any]] = field(default_factory=list)
    metadata: dict[str, Any] | None = None
    thread_ts: str | None = None
    user: str | None = BOT_USER_ID
    bot_id: str | None = BOT_ID
    edits: int = 0  # how many chat.update calls hit this message
    edited_ts: str | None = None
    replies: list[str] = field(default_factory=list)  # reply ts, oldest first

    @property
    def is_reply(self) -> bool:
        return self.thread_ts is not None and self.thread_ts != self.ts

    def to_api(self, *, include_metadata: bool = True) -> dict[str, Any]:
        """The message object as Slack's API returns it."""
        out: dict[str, Any] = {"type": "message", "text": self.text, "ts": self.ts}
        if self.user:
            out["user"] = self.user
        if self.bot_id:
            out.update(bot_id=self.bot_id, app_id=APP_ID)
        out["team"] = TEAM_ID
        if self.blocks:
            out["blocks"] = copy.deepcopy(self.blocks)
        if self.thread_ts:
            out["thread_ts"] = self.thread_ts
        if self.replies:
            out.update(reply_count=len(self.replies), latest_reply=self.replies[-1])
        if self.edited_ts:
            out["edited"] = {"user": self.user, "ts": self.edited_ts}
        if include_metadata and self.metadata is not None:
            out["metadata"] = copy.deepcopy(self.metadata)
        return out


@dataclass
class Ephemeral:
    channel: str
    user: str
    text: str
    blocks: list[dict[str, Any]]
    ts: str
    thread_ts: str | None = None

    def to_api(self) -> dict[str, Any]:
        # Shown as the bot's message would be, without its thread (the object Slack gives for an ephemeral has none).
        return Message(self.ts, self.channel, self.text, self.blocks).to_api()


@dataclass
class Channel:
    id: str
    name: str
    messages: list[Message] = field(default_factory=list)  # chronological, replies included
    dm_user: str | None = None  # set for the bot's DM channel with a user
    created: int = 0
    # Private channels have C… IDs too nowadays; None: private only for G… IDs and DMs.
    private: bool | None = None
    # Whether the bot was invited (Slack: `is_member` in conversations.info). Tests start with it in.
    bot_member: bool = True
    archived: bool = False

    @property
    def is_im(self) -> bool:
        return self.dm_user is not None

    @property
    def is_private(self) -> bool:
        if self.private is not None:
            return self.private
        return self.id.startswith("G") or self.is_im


@dataclass
class Trigger:
    id: str
    user_id: str
    issued_at: float
    view_id: str | None = None  # the view the interaction happened in, if any
    used: bool = False


@dataclass
class Hook:
    """A response_url the emulator handed out with an interaction."""

    id: str
    channel: str | None
    user_id: str
    message_ts: str | None = None
    is_ephemeral: bool = False
    thread_ts: str | None = None


class Workspace:
    """Channels, messages, views, users and usergroups of one fake workspace."""

    def __init__(
        self,
        *,
        strict_triggers: bool = True,
        auto_create_channels: bool = True,
        auto_create_users: bool = True,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        seed: int | None = None,
        team_id: str = TEAM_ID,
        enterprise_id: str | None = None,
    ) -> None:
        self.team_id = team_id
        self.team_name = TEAM_NAME
        self.team_domain = TEAM_DOMAIN
        # Set for a workspace of an Enterprise Grid organization (E…): auth.test and payloads then carry it.
        self.enterprise_id = enterprise_id
        # The installed app's bot scopes (auth.test's x-oauth-scopes header; methods answer missing_scope).
        self.bot_scopes: set[str] = set(DEFAULT_BOT_SCOPES)
        self.bot_user_id = BOT_USER_ID
        self.bot_id = BOT_ID
        self.app_id = APP_ID
        self.strict_triggers = strict_triggers
        self.auto_create_channels = auto_create_channels
        # Users named in config (reviewers, operators) exist in a real workspace;
        # auto-creation on lookup saves every test from registering them.
        self.auto_create_users = auto_create_users
        self.clock = clock  # monotonic: trigger expiry
        self.wall_clock = wall_clock  # epoch: ts values, view hashes
        self.rng = random.Random(seed)
        self.channels: dict[str, Channel] = {}
        self.ephemerals: list[Ephemeral] = []
        # Uploaded files: id -> {id, name, title, length, content (bytes once uploaded), shares}
        self.files: dict[str, dict[str, Any]] = {}
        self.views: dict[str, dict[str, Any]] = {}
        self.view_owner: dict[str, str] = {}  # view_id -> user_id
        self.view_stacks: dict[str, list[str]] = {}  # user_id -> open modals, bottom first
        self.view_errors: dict[str, dict[str, str]] = {}  # last response_action=errors
        self.opened_views: list[str] = []  # view ids in the order they were opened/pushed
        self.usergroups: dict[str, list[str]] = {}
        self.users: dict[str, dict[str, Any]] = {}
        self.triggers: dict[str, Trigger] = {}
        self.hooks: dict[str, Hook] = {}
        self._last_ts_micros = 0
        self.add_user(BOT_USER_ID, name=BOT_USER_NAME, real_name="HITL bot")

    # ---- ids and timestamps ------------------------------------------------

    def next_ts(self) -> str:
        # Slack's ts doubles as a message id, so it must never repeat even
        # when several messages land in the same microsecond.
        micros = max(int(self.wall_clock() * 1_000_000), self._last_ts_micros + 1)
        self._last_ts_micros = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _token(self, n: int, alphabet: str = _ALNUM) -> str:
        return "".join(self.rng.choice(alphabet) for _ in range(n))

    def new_id(self, prefix: str) -> str:
        return prefix + self._token(10, string.ascii_uppercase + string.digits)

    def new_view_hash(self) -> str:
        return f"{int(self.wall_clock())}.{self._token(8)}"

    # ---- users, usergroups -----------------------------------------------

    def add_user(
        self, user_id: str, name: str | None = None, real_name: str | None = None, tz: str = "UTC"
    ) -> dict[str, Any]:
        name = name or user_id.lower()
        user = {"id": user_id, "name": name, "real_name": real_name or name, "tz": tz}
        self.users[user_id] = user
        return user

    def ensure_user(self, user_id: str, name: str | None = None) -> dict[str, Any]:
        """Users appear when they act (a click, a command), like a real member would exist."""
        if user_id in self.users:
            if name:
                self.users[user_id]["name"] = name
            return self.users[user_id]
        return self.add_user(user_id, name=name)

    def lookup_user(self, user_id: str | None) -> dict[str, Any]:
        if user_id and user_id not in self.users and self.auto_create_users and _USER_ID.match(user_id):
            self.add_user(user_id)
        if not user_id or user_id not in self.users:
            raise SlackError("user_not_found")
        return self.users[user_id]

    def add_usergroup(self, usergroup_id: str, user_ids: list[str]) -> None:
        self.usergroups[usergroup_id] = list(user_ids)
        for uid in user_ids:
            self.ensure_user(uid)

    def usergroup_users(self, usergroup_id: str) -> list[str]:
        if usergroup_id not in self.usergroups:
            raise SlackError("no_such_subteam")
        return list(self.usergroups[usergroup_id])

    # ---- channels ------------------------------------------------------------

    def add_channel(
        self,
        channel_id: str,
        name: str | None = None,
        *,
        private: bool | None = None,
        member: bool = True,
        archived: bool = False,
    ) -> Channel:
        if channel_id not in self.channels:
            name = name or f"channel-{channel_id.lower()}"
            self.channels[channel_id] = Channel(
                channel_id, name, created=int(self.wall_clock()), private=private, bot_member=member, archived=archived
            )
        return self.channels[channel_id]

    def dm_channel(self, user_id: str) -> Channel:
        channel_id = "D" + user_id[1:]
        channel = self.add_channel(channel_id, name=user_id)
        channel.dm_user = user_id
        return channel

    def resolve_channel(self, ref: str | None, *, create: bool = True) -> Channel:
        """Accepts what chat.postMessage accepts: an id, a #name/name, or a user id (DM)."""
        if not ref:
            raise SlackError("channel_not_found")
        if ref in self.channels:
            return self.channels[ref]
        for channel in self.channels.values():
            if channel.name == ref.lstrip("#"):
                return channel
        if _USER_ID.match(ref) and (ref in self.users or self.auto_create_users):
            return self.dm_channel(self.lookup_user(ref)["id"])
        if create and self.auto_create_channels and _CHANNEL_ID.match(ref):
            return self.add_channel(ref)
        raise SlackError("channel_not_found")

    # ---- messages ----------------------------------------------------------

    def assign_block_ids(self, blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
        # Slack fills in a random block_id on every block that lacks one, and
        # interaction payloads quote it, so handlers must cope with that.
        out = copy.deepcopy(blocks)
        for block in out:
            if isinstance(block, dict) and not block.get("block_id"):
                block["block_id"] = self._token(4)
        return out

    def post_message(
        self,
        channel_ref: str,
        *,
        text: str = "",
        blocks: list[dict[str, Any]] | None = None,
        metadata: dict[str, Any] | None = None,
        thread_ts: str | None = None,
        user: str | None = BOT_USER_ID,
        bot_id: str | None = BOT_ID,
    ) -> Message:
        channel = self.resolve_channel(channel_ref)
        parent = self._thread_parent(channel, thread_ts) if thread_ts else None
        message = Message(
            ts=self.next_ts(),
            channel=channel.id,
            text=text,
            blocks=self.assign_block_ids(blocks or []),
            metadata=copy.deepcopy(metadata),
            user=user,
            bot_id=bot_id,
        )
        if parent is not None:
            parent.thread_ts = parent.ts
            message.thread_ts = parent.ts
            parent.replies.append(message.ts)
        channel.messages.append(message)
        return message

    def _thread_parent(self, channel: Channel, thread_ts: str) -> Message:
        parent = self.find_message(channel.id, thread_ts)
        if parent is None:
            # Slack posts the reply anyway but it is invisible; failing here
            # surfaces the bot bug instead of hiding it.
            raise SlackError("thread_not_found")
        # Replying to a reply threads onto the reply's parent, as Slack does.
        if parent.is_reply and parent.thread_ts:
            return self._thread_parent(channel, parent.thread_ts)
        return parent

    def find_message(self, channel_id: str, ts: str) -> Message | None:
        channel = self.channels.get(channel_id)
        if channel is None:
            return None
        return next((m for m in channel.messages if m.ts == ts), None)

    def get_message(self, channel_ref: str, ts: str | None) -> Message:
        channel = self.resolve_channel(channel_ref, create=False)
        message = self.find_message(channel.id, ts or "")
        if message is None:
            raise SlackError("message_not_found")
        return message

    def update_message(
        self,
        channel_ref: str,
        ts: str | None,
        *,
        text: str | None = None,
        blocks: list[dict[str, Any]] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Message:
        message = self.get_message(channel_ref, ts)
        if message.user != BOT_USER_ID:
            raise SlackError("cant_update_message")
        # Omitted fields keep their old value (Slack: omit blocks to retain them).
        if text is not None:
            message.text = text
        if blocks is not None:
            message.blocks = self.assign_block_ids(blocks)
        if metadata is not None:
            message.metadata = copy.deepcopy(metadata)
        message.edits += 1
        message.edited_ts = self.next_ts()
        return message

    def delete_message(self, channel_ref: str, ts: str | None) -> Message:
        message = self.get_message(channel_ref, ts)
        self.channels[message.channel].messages.remove(message)
        return message

    def history(self, channel_id: str) -> list[Message]:
        """Top-level messages, oldest first (thread replies live in thread())."""
        # Reading a never-posted-to channel must work (a bot scanning its channel
        # at startup), so auto-created channels spring into existence here too.
        channel = self.resolve_channel(channel_id)
        return [m for m in channel.messages if not m.is_reply]

    def thread(self, channel_id: str, ts: str) -> list[Message]:
        """Parent then replies, oldest first."""
        channel = self.resolve_channel(channel_id, create=False)
        parent = self.find_message(channel.id, ts)
        if parent is None:
            raise SlackError("thread_not_found")
        wanted = set(parent.replies)
        return [parent] + [m for m in channel.messages if m.ts in wanted]

    def post_ephemeral(
        self,
        channel_ref: str,
        user: str,
        *,
        text: str = "",
        blocks: list[dict[str, Any]] | None = None,
        thread_ts: str | None = None,
    ) -> Ephemeral:
        channel = self.resolve_channel(channel_ref)
        self.lookup_user(user)
        eph = Ephemeral(channel.id, user, text, self.assign_block_ids(blocks or []), self.next_ts(), thread_ts)
        self.ephemerals.append(eph)
        return eph

    def find_ephemeral(self, channel_id: str, ts: str) -> Ephemeral | None:
        return next((e for e in self.ephemerals if e.channel == channel_id and e.ts == ts), None)

    # ---- triggers ----------------------------------------------------------

    def issue_trigger_id(self, user_id: str, view_id: str | None = None) -> str:
        trigger_id = (
            f"{self.rng.randrange(10**12, 10**13)}.{self.rng.randrange(10**11, 10**12)}."
            f"{self._token(32, '0123456789abcdef')}"
        )
        self.triggers[trigger_id] = Trigger(trigger_id, user_id, self.clock(), view_id)
        return trigger_id

    def consume_trigger(self, trigger_id: str | None) -> Trigger:
        if not trigger_id:
            raise SlackError("invalid_arguments", ["missing required field: trigger_id"])
        trigger = self.triggers.get(trigger_id)
        if trigger is None:
            if self.strict_triggers:
                raise SlackError("invalid_trigger_id")
            return Trigger(trigger_id, "", self.clock())  # fixture trigger ids: no owner known
        if self.strict_triggers and (trigger.used or self.clock() - trigger.issued_at > TRIGGER_TTL_SECONDS):
            raise SlackError("expired_trigger_id")
        trigger.used = True
        return trigger

    # ---- views -------------------------------------------------------------

    def _new_view(self, view: dict[str, Any], *, previous: dict[str, Any] | None) -> dict[str, Any]:
        view_id = self.new_id("V")
        stored = {
            "id": view_id,
            "team_id": TEAM_ID,
            "type": view.get("type", "modal"),
            "blocks": self.assign_block_ids(view.get("blocks", [])),
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""),
            "state": {"values": {}},
            "hash": self.new_view_hash(),
            "title": copy.deepcopy(view.get("title")),
            "clear_on_close": bool(view.get("clear_on_close", False)),
            "notify_on_close": bool(view.get("notify_on_close", False)),
            "close": copy.deepcopy(view.get("close")),
            "submit": copy.deepcopy(view.get("submit")),
            "previous_view_id": previous["id"] if previous else None,
            "root_view_id": previous["root_view_id"] if previous else view_id,
            "app_id": APP_ID,
            "external_id": view.get("external_id", ""),
            "app_installed_team_id": TEAM_ID,
            "bot_id": BOT_ID,
        }
        if "submit_disabled" in view:
            stored["submit_disabled"] = bool(view["submit_disabled"])
        return stored

    def _check_external_id(self, external_id: str | None, own_id: str | None = None) -> None:
        if not external_id:
            return
        for vid, existing in self.views.items():
            if existing.get("external_id") == external_id and vid != own_id:
                raise SlackError("duplicate_external_id")

    def open_view(self, trigger: Trigger, view: dict[str, Any]) -> dict[str, Any]:
        self._check_external_id(view.get("external_id"))
        stored = self._new_view(view, previous=None)
        self._store_view(stored, trigger.user_id, stack=[stored["id"]])
        return copy.deepcopy(stored)

    def push_view(self, trigger: Trigger, view: dict[str, Any]) -> dict[str, Any]:
        self._check_external_id(view.get("external_id"))
        stack = self.view_stacks.get(trigger.user_id, [])
        if trigger.view_id and trigger.view_id in stack:
            stack = stack[: stack.index(trigger.view_id) + 1]
        if len(stack) >= MAX_VIEW_STACK:
            raise SlackError("push_limit_reached")
        # Lenient: with no modal open, a push behaves like an open.
        previous = self.views[stack[-1]] if stack else None
        stored = self._new_view(view, previous=previous)
        self._store_view(stored, trigger.user_id, stack=[*stack, stored["id"]])
        return copy.deepcopy(stored)

    def _store_view(self, stored: dict[str, Any], user_id: str, *, stack: list[str]) -> None:
        self.views[stored["id"]] = stored
        self.view_owner[stored["id"]] = user_id
        self.view_stacks[user_id] = stack
        self.opened_views.append(stored["id"])

    def find_view(self, view_id: str | None = None, external_id: str | None = None) -> dict[str, Any]:
        if view_id:
            if view_id in self.views:
                return self.views[view_id]
        elif external_id:
            for stored in self.views.values():
                if stored.get("external_id") == external_id:
                    return stored
        else:
            raise SlackError("invalid_arguments", ["view_id or external_id is required"])
        raise SlackError("not_found")

    def update_view(
        self,
        view: dict[str, Any],
        *,
        view_id: str | None = None,
        external_id: str | None = None,
        view_hash: str | None = None,
    ) -> dict[str, Any]:
        stored = self.find_view(view_id, external_id)
        if view_hash and view_hash != stored["hash"]:
            raise SlackError("hash_conflict")
        self._check_external_id(view.get("external_id"), own_id=stored["id"])
        fresh = self._new_view(view, previous=None)
        # Identity and stack position survive an update; content and hash do not.
        keep = ("id", "root_view_id", "previous_view_id", "state")
        fresh.update({k: stored[k] for k in keep})
        if not view.get("external_id"):
            fresh["external_id"] = stored.get("external_id", "")
        self.views[stored["id"]] = fresh
        self.view_errors.pop(stored["id"], None)
        return copy.deepcopy(fresh)

    def is_view_open(self, view_id: str) -> bool:
        return any(view_id in stack for stack in self.view_stacks.values())

    def close_view(self, view_id: str, *, clear_stack: bool = False) -> None:
        """Close one modal (and any pushed above it), or with clear_stack the whole stack."""
        user_id = self.view_owner.get(view_id, "")
        stack = self.view_stacks.get(user_id, [])
        if view_id not in stack:
            return
        self.view_stacks[user_id] = [] if clear_stack else stack[: stack.index(view_id)]

    def open_stack(self, user_id: str) -> list[str]:
        return list(self.view_stacks.get(user_id, []))

    # ---- response_url hooks --------------------------------------------------

    def add_hook(
        self,
        user_id: str,
        channel: str | None,
        *,
        message_ts: str | None = None,
        is_ephemeral: bool = False,
        thread_ts: str | None = None,
    ) -> Hook:
        hook = Hook(self._token(24), channel, user_id, message_ts, is_ephemeral, thread_ts)
        self.hooks[hook.id] = hook
        return hook
