"""Slack Web API methods implemented over a Workspace.

Each method takes the parsed request arguments (blocks/view/metadata already
decoded from JSON strings when they came form-encoded) and returns the
response body minus `ok`, or raises SlackError. Transport concerns (auth,
faults, rate limits, recording) live in webapi.py.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from slack_emulator.blockkit import Limits, check_message, check_metadata, check_view
from slack_emulator.workspace import (
    APP_ID,
    BOT_ID,
    BOT_USER_ID,
    BOT_USER_NAME,
    TEAM_DOMAIN,
    TEAM_ID,
    Channel,
    Message,
    SlackError,
    Workspace,
)

Args = dict[str, Any]
Method = Callable[[Args], dict[str, Any]]

PERMALINK_HOST = f"https://{TEAM_DOMAIN}.slack.com"


def flag(value: Any) -> bool:
    """Slack booleans: slack_sdk sends "1"/"0" in query strings, JSON sends true/false."""
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes")
    return bool(value)


def _required(args: Args, name: str, error: str = "invalid_arguments") -> Any:
    value = args.get(name)
    if value in (None, ""):
        raise SlackError(error, [f"missing required field: {name}"])
    return value


def _limit(args: Args, default: int = 100) -> int:
    try:
        return max(1, min(int(args.get("limit") or default), 999))
    except (TypeError, ValueError):
        raise SlackError("invalid_limit") from None


def encode_cursor(ts: str) -> str:
    # Same shape as Slack's cursors ("next_ts:…" base64) so nobody parses them.
    return base64.b64encode(f"next_ts:{ts}".encode()).decode()


def decode_cursor(cursor: str) -> str:
    try:
        decoded = base64.b64decode(cursor.encode(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise SlackError("invalid_cursor") from None
    if not decoded.startswith("next_ts:"):
        raise SlackError("invalid_cursor")
    return decoded.removeprefix("next_ts:")


def _ts_key(ts: str) -> tuple[int, int]:
    # ts strings compare correctly only as numbers; avoid float rounding.
    sec, _, frac = ts.partition(".")
    return int(sec or 0), int((frac or "0").ljust(6, "0")[:6])


def _in_window(message: Message, args: Args) -> bool:
    inclusive = flag(args.get("inclusive"))
    key = _ts_key(message.ts)
    if args.get("oldest"):
        lo = _ts_key(str(args["oldest"]))
        if key < lo or (key == lo and not inclusive):
            return False
    if args.get("latest"):
        hi = _ts_key(str(args["latest"]))
        if key > hi or (key == hi and not inclusive):
            return False
    return True


def _page(items: list[Message], args: Args) -> tuple[list[Message], str | None]:
    """Cut one page; the cursor names the ts of the first message of the next page."""
    if args.get("cursor"):
        start_ts = decode_cursor(str(args["cursor"]))
        start = next((i for i, m in enumerate(items) if m.ts == start_ts), None)
        if start is None:
            raise SlackError("invalid_cursor")
        items = items[start:]
    limit = _limit(args)
    if len(items) > limit:
        return items[:limit], encode_cursor(items[limit].ts)
    return items, None


def _channel_object(channel: Channel, team_id: str) -> dict[str, Any]:
    return {
        "id": channel.id,
        "name": channel.name,
        "is_channel": not channel.is_private,
        "is_group": channel.id.startswith("G"),
        "is_im": channel.is_im,
        "is_private": channel.is_private,
        "is_archived": channel.archived,
        "is_general": False,
        "is_member": channel.bot_member,
        "created": channel.created,
        "creator": BOT_USER_ID,
        "context_team_id": team_id,
        **({"user": channel.dm_user} if channel.dm_user else {}),
    }


def _tz_fields(tz_name: str) -> dict[str, Any]:
    try:
        zone = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    now = dt.datetime.now(zone)
    offset = now.utcoffset() or dt.timedelta()
    return {"tz": tz_name, "tz_label": now.tzname() or tz_name, "tz_offset": int(offset.total_seconds())}


def user_object(user: dict[str, Any]) -> dict[str, Any]:
    is_bot = user["id"] == BOT_USER_ID
    return {
        "id": user["id"],
        "team_id": TEAM_ID,
        "name": user["name"],
        "deleted": False,
        "real_name": user["real_name"],
        **_tz_fields(user.get("tz") or "UTC"),
        "profile": {
            "real_name": user["real_name"],
            "display_name": user["name"],
            "team": TEAM_ID,
            **({"bot_id": BOT_ID} if is_bot else {}),
        },
        "is_admin": False,
        "is_owner": False,
        "is_bot": is_bot,
        "is_app_user": False,
        "updated": 0,
    }


class WebApiMethods:
    def __init__(self, workspace: Workspace, limits: Limits) -> None:
        self.ws = workspace
        self.limits = limits

    def table(self) -> dict[str, Method]:
        return {
            "api.test": lambda args: {"args": {k: v for k, v in args.items() if isinstance(v, str)}},
            "auth.test": self.auth_test,
            "chat.postMessage": self.chat_post_message,
            "chat.update": self.chat_update,
            "chat.delete": self.chat_delete,
            "chat.postEphemeral": self.chat_post_ephemeral,
            "chat.getPermalink": self.chat_get_permalink,
            "conversations.history": self.conversations_history,
            "conversations.replies": self.conversations_replies,
            "conversations.info": self.conversations_info,
            "conversations.open": self.conversations_open,
            "views.open": self.views_open,
            "views.update": self.views_update,
            "views.push": self.views_push,
            "usergroups.users.list": self.usergroups_users_list,
            "users.info": self.users_info,
            "files.getUploadURLExternal": self.files_get_upload_url_external,
            "files.completeUploadExternal": self.files_complete_upload_external,
        }

    # ---- files (the files_upload_v2 flow: get a URL, POST the bytes to it, complete) ----

    upload_root: str = "https://files.slack.com"

    def files_get_upload_url_external(self, args: Args) -> dict[str, Any]:
        filename = _required(args, "filename")
        length = int(_required(args, "length"))
        file_id = "F" + "".join(self.ws.rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789") for _ in range(10))
        self.ws.files[file_id] = {
            "id": file_id,
            "name": filename,
            "title": filename,
            "length": length,
            "content": None,
            "shares": [],
        }
        return {"upload_url": f"{self.upload_root}/upload/{file_id}", "file_id": file_id}

    def files_complete_upload_external(self, args: Args) -> dict[str, Any]:
        files = args.get("files")
        if isinstance(files, str):
            try:
                files = json.loads(files)
            except ValueError:
                raise SlackError("invalid_arguments", ["files is not JSON"]) from None
        if not isinstance(files, list) or not files:
            raise SlackError("invalid_arguments", ["files is required"])
        completed = []
        for entry in files:
            stored = self.ws.files.get(str(entry.get("id"))) if isinstance(entry, dict) else None
            if stored is None or stored["content"] is None:
                raise SlackError("file_not_found")
            stored["title"] = entry.get("title") or stored["name"]
            completed.append(stored)
        channel = args.get("channel_id")
        if channel:
            titles = ", ".join(f["title"] for f in completed)
            message = self.ws.post_message(
                self.ws.resolve_channel(channel).id,
                text=args.get("initial_comment") or f"📎 {titles}",
                thread_ts=str(args["thread_ts"]) if args.get("thread_ts") else None,
            )
            for stored in completed:
                stored["shares"].append({"channel": message.channel, "ts": message.ts, "thread_ts": message.thread_ts})
        return {
            "files": [
                {"id": f["id"], "name": f["name"], "title": f["title"], "size": len(f["content"])} for f in completed
            ]
        }

    def auth_test(self, args: Args) -> dict[str, Any]:
        body: dict[str, Any] = {
            "url": f"{PERMALINK_HOST}/",
            "team": self.ws.team_name,
            "user": BOT_USER_NAME,
            "team_id": self.ws.team_id,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "app_id": APP_ID,
            "is_enterprise_install": False,
        }
        if self.ws.enterprise_id:
            body["enterprise_id"] = self.ws.enterprise_id
        return body

    # ---- chat.* ----------------------------------------------------------------

    def _check_content(self, args: Args) -> None:
        if not args.get("text") and not args.get("blocks") and not args.get("attachments"):
            raise SlackError("no_text")
        check_message(args.get("text"), args.get("blocks"), self.limits)

    def _check_can_post(self, channel: Channel) -> None:
        """Slack: a private channel the bot is not in does not exist for it; a public one needs an invitation or
        chat:write.public; nothing can be posted to an archived channel."""
        if channel.archived:
            raise SlackError("is_archived")
        if channel.bot_member or channel.is_im:
            return
        if channel.is_private:
            raise SlackError("channel_not_found")
        if "chat:write.public" not in self.ws.bot_scopes:
            raise SlackError("not_in_channel")

    def chat_post_message(self, args: Args) -> dict[str, Any]:
        channel = self.ws.resolve_channel(args.get("channel"))
        self._check_can_post(channel)
        self._check_content(args)
        message = self.ws.post_message(
            channel.id,
            text=args.get("text") or "",
            blocks=args.get("blocks"),
            metadata=check_metadata(args.get("metadata"), self.limits),
            thread_ts=str(args["thread_ts"]) if args.get("thread_ts") else None,
        )
        return {"channel": message.channel, "ts": message.ts, "message": message.to_api()}

    def chat_update(self, args: Args) -> dict[str, Any]:
        ts = _required(args, "ts", "message_not_found")
        self.ws.get_message(args.get("channel") or "", ts)  # 404s before content errors, like Slack
        self._check_content(args)
        message = self.ws.update_message(
            args.get("channel") or "",
            ts,
            text=args.get("text"),
            blocks=args.get("blocks"),
            metadata=check_metadata(args.get("metadata"), self.limits),
        )
        return {"channel": message.channel, "ts": message.ts, "text": message.text, "message": message.to_api()}

    def chat_delete(self, args: Args) -> dict[str, Any]:
        message = self.ws.delete_message(args.get("channel") or "", args.get("ts"))
        return {"channel": message.channel, "ts": message.ts}

    def chat_post_ephemeral(self, args: Args) -> dict[str, Any]:
        channel = self.ws.resolve_channel(args.get("channel"))
        user = _required(args, "user", "user_not_found")
        self._check_content(args)
        eph = self.ws.post_ephemeral(
            channel.id,
            user,
            text=args.get("text") or "",
            blocks=args.get("blocks"),
            thread_ts=args.get("thread_ts") or None,
        )
        return {"message_ts": eph.ts}

    def chat_get_permalink(self, args: Args) -> dict[str, Any]:
        message = self.ws.get_message(args.get("channel") or "", _required(args, "message_ts", "message_not_found"))
        link = f"{PERMALINK_HOST}/archives/{message.channel}/p{message.ts.replace('.', '')}"
        if message.is_reply:
            link += f"?thread_ts={message.thread_ts}&cid={message.channel}"
        return {"channel": message.channel, "permalink": link}

    # ---- conversations.* ---------------------------------------------------

    def _listing(self, messages: list[Message], args: Args) -> dict[str, Any]:
        with_metadata = flag(args.get("include_all_metadata"))
        page, next_cursor = _page([m for m in messages if _in_window(m, args)], args)
        out: dict[str, Any] = {
            "messages": [m.to_api(include_metadata=with_metadata) for m in page],
            "has_more": next_cursor is not None,
        }
        if next_cursor:
            out["response_metadata"] = {"next_cursor": next_cursor}
        return out

    def conversations_history(self, args: Args) -> dict[str, Any]:
        newest_first = list(reversed(self.ws.history(args.get("channel") or "")))
        out = self._listing(newest_first, args)
        return {**out, "pin_count": 0, "channel_actions_ts": None, "channel_actions_count": 0}

    def conversations_replies(self, args: Args) -> dict[str, Any]:
        ts = _required(args, "ts", "thread_not_found")
        return self._listing(self.ws.thread(args.get("channel") or "", ts), args)

    def conversations_info(self, args: Args) -> dict[str, Any]:
        channel = self.ws.resolve_channel(args.get("channel"))
        if channel.is_private and not channel.bot_member and not channel.is_im:
            raise SlackError("channel_not_found")  # private channels are invisible to a bot that is not in them
        return {"channel": _channel_object(channel, self.ws.team_id)}

    def conversations_open(self, args: Args) -> dict[str, Any]:
        users = [u for u in str(args.get("users") or "").split(",") if u]
        if len(users) != 1:
            raise SlackError("not_supported", ["the emulator opens DMs with exactly one user"])
        return {"channel": {"id": self.ws.dm_channel(self.ws.lookup_user(users[0])["id"]).id}}

    # ---- views.* -------------------------------------------------------------

    def views_open(self, args: Args) -> dict[str, Any]:
        view = _required(args, "view")
        check_view(view, self.limits)
        trigger = self.ws.consume_trigger(args.get("trigger_id"))
        return {"view": self.ws.open_view(trigger, view)}

    def views_push(self, args: Args) -> dict[str, Any]:
        view = _required(args, "view")
        check_view(view, self.limits)
        trigger = self.ws.consume_trigger(args.get("trigger_id"))
        return {"view": self.ws.push_view(trigger, view)}

    def views_update(self, args: Args) -> dict[str, Any]:
        view = _required(args, "view")
        self.ws.find_view(args.get("view_id"), args.get("external_id"))  # not_found first
        check_view(view, self.limits)
        stored = self.ws.update_view(
            view,
            view_id=args.get("view_id"),
            external_id=args.get("external_id"),
            view_hash=args.get("hash"),
        )
        return {"view": stored}

    # ---- people ----------------------------------------------------------------

    def usergroups_users_list(self, args: Args) -> dict[str, Any]:
        return {"users": self.ws.usergroup_users(_required(args, "usergroup", "no_such_subteam"))}

    def users_info(self, args: Args) -> dict[str, Any]:
        return {"user": user_object(self.ws.lookup_user(args.get("user")))}
