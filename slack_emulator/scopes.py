"""The bot-token scopes each emulated Web API method needs, as Slack's method pages list them.

Granular bot scopes (Slack's old OpenAPI spec still says `chat:write:bot` / `files:write:user`; those became
`chat:write` and `files:write`). For methods whose scope depends on the kind of conversation (history, replies,
info), both the public-channel and the private-channel scope are listed: a bot's channels may be either.
The emulator answers `missing_scope` from this table; slack_emulator/tests/test_emulator_spec.py checks it against
Slack's spec (when that is at hand), and hitl's tests/test_manifest_scopes.py checks manifest.yml against it.
"""

from __future__ import annotations

METHOD_SCOPES: dict[str, tuple[str, ...]] = {
    "api.test": (),
    "auth.test": (),
    "chat.delete": ("chat:write",),
    "chat.getPermalink": (),
    "chat.postEphemeral": ("chat:write",),
    "chat.postMessage": ("chat:write",),
    "chat.update": ("chat:write",),
    "conversations.history": ("channels:history", "groups:history"),
    "conversations.info": ("channels:read", "groups:read"),
    "conversations.open": ("im:write",),
    "conversations.replies": ("channels:history", "groups:history"),
    "files.completeUploadExternal": ("files:write",),
    "files.getUploadURLExternal": ("files:write",),
    "usergroups.users.list": ("usergroups:read",),
    "users.info": ("users:read",),
    "views.open": (),
    "views.push": (),
    "views.update": (),
}

# Scopes that matter without a method of their own: posting where the bot was not invited, and slash commands.
EXTRA_SCOPES = ("chat:write.public", "commands")
DEFAULT_BOT_SCOPES = frozenset({scope for scopes in METHOD_SCOPES.values() for scope in scopes} | set(EXTRA_SCOPES))


def needed_scopes(method: str, *, private_channel: bool | None = None) -> tuple[str, ...]:
    """What a call needs: for a per-conversation-kind method, the scope of the channel's kind."""
    scopes = METHOD_SCOPES.get(method, ())
    if private_channel is None or not any(s.startswith("groups:") for s in scopes):
        return scopes
    prefix = "groups:" if private_channel else "channels:"
    return tuple(s for s in scopes if s.startswith(prefix))
