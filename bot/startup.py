"""What `hitl serve` checks with Slack before it listens: the token (auth.test), the workspace, the channels.

A wrong, revoked or foreign token stops start-up with one line naming the setting. Slack unreachable: retried
with back-off for HITL_SLACK_STARTUP_WAIT, then start-up stops with one line (an orchestrator restarting the
process says more than a server that listens without knowing which workspace it serves). A policy channel the
bot can't post to is a warning per channel: the rest of the policy still works.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from bot.clock import Clock
from bot.compose import Hitl, build_hitl
from bot.config import Settings
from bot.durations import format_duration
from bot.identity import SlackIdentity
from bot.outbound_http import Resolver, system_resolver
from bot.policy import Policy
from bot.slack import create_slack_client, slack_error_code

log = logging.getLogger(__name__)

# auth.test errors that mean the token itself is no good: asking again won't help.
BAD_TOKEN = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "not_allowed_token_type",
        "no_permission",
        "invalid_token",
        "team_access_not_granted",
        "ekm_access_denied",
    }
)
RETRY_DELAYS = (1.0, 2.0, 4.0, 8.0, 15.0)


class SlackCheckFailed(Exception):
    """Start-up can't go on; the message is one line that names the setting to fix."""


def token_scopes(headers: Mapping[str, Any] | None) -> frozenset[str] | None:
    """The token's scopes from a Web API answer's `x-oauth-scopes` header ("chat:write,commands,…")."""
    for key, value in (headers or {}).items():
        if key.lower() == "x-oauth-scopes":
            raw = value[0] if isinstance(value, list) and value else value
            return frozenset(s.strip() for s in str(raw).split(",") if s.strip())
    return None


def _transient(exc: BaseException) -> bool:
    if isinstance(exc, SlackApiError):
        status = getattr(exc.response, "status_code", 200) or 200
        return (
            status >= 500
            or status == 429
            or slack_error_code(exc)
            in ("ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout")
        )
    return isinstance(exc, (SlackClientError, aiohttp.ClientError, OSError, asyncio.TimeoutError))


async def verify_token(
    settings: Settings,
    *,
    client: AsyncWebClient | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> SlackIdentity:
    """auth.test: which workspace and bot the token belongs to, and its scopes; SlackCheckFailed when unusable."""
    client = client or create_slack_client(settings, retries=0)
    waited_until = clock() + settings.slack_startup_wait.total_seconds()
    attempt = 0
    while True:
        try:
            response = await client.auth_test()
            break
        except Exception as exc:  # noqa: BLE001 - sorted below into "stop now", "try again" and "give up"
            code = slack_error_code(exc)
            if isinstance(exc, SlackApiError) and code in BAD_TOKEN:
                raise SlackCheckFailed(
                    f"SLACK_BOT_TOKEN: Slack refused the bot token ({code}); "
                    "install the app again or copy its current Bot User OAuth Token"
                ) from None
            if not _transient(exc):
                raise SlackCheckFailed(
                    f"SLACK_BOT_TOKEN: auth.test failed ({code}) at {settings.slack_api_url}; "
                    "is SLACK_API_URL Slack's Web API?"
                ) from None
            delay = RETRY_DELAYS[min(attempt, len(RETRY_DELAYS) - 1)]
            if clock() + delay > waited_until:
                waited = format_duration(settings.slack_startup_wait)
                raise SlackCheckFailed(
                    f"SLACK_API_URL: could not reach Slack at {settings.slack_api_url} for {waited} ({code}); "
                    "check the network, or set HITL_SLACK_STARTUP_WAIT to wait longer"
                ) from None
            log.warning("could not reach Slack for auth.test (%s); trying again in %.0f s", code, delay)
            attempt += 1
            await sleep(delay)
    identity = SlackIdentity(
        team_id=str(response.get("team_id") or ""),
        bot_user_id=str(response.get("user_id") or ""),
        team_name=response.get("team"),
        bot_id=response.get("bot_id"),
        enterprise_id=response.get("enterprise_id") or None,
        scopes=token_scopes(response.headers),
    )
    if not identity.team_id:
        raise SlackCheckFailed(
            "SLACK_BOT_TOKEN: auth.test named no workspace (team_id); hitl needs a bot token installed in one workspace"
        )
    expected = settings.slack_team_id
    if expected and identity.team_id != expected:
        raise SlackCheckFailed(
            f"SLACK_TEAM_ID: the bot token belongs to workspace {identity.team_id} "
            f"({identity.team_name or 'unnamed'}), "
            f"not {expected}; use that workspace's token or fix SLACK_TEAM_ID"
        )
    return identity


def policy_channels(policy: Policy) -> list[str]:
    """Every channel the policy has hitl post to: tiers, ops, digests; each once, in policy order."""
    channels = [tier.channel for queue in policy.queues for tier in queue.tiers]
    channels += [policy.ops.channel] if policy.ops else []
    channels += [policy.digest.channel] if policy.digest else []
    channels += [queue.digest.channel for queue in policy.queues if queue.digest]
    return list(dict.fromkeys(channels))


async def channel_problem(client: AsyncWebClient, identity: SlackIdentity, channel: str) -> str | None:
    """Why the bot can't post in `channel`, or None when it can."""
    try:
        info = (await client.conversations_info(channel=channel))["channel"]
    except SlackApiError as exc:
        code = slack_error_code(exc)
        if code == "channel_not_found":
            return (
                f"channel {channel} was not found, or it is private and the bot is not in it: "
                "invite it with /invite @hitl"
            )
        if code == "missing_scope":
            return (
                f"channel {channel}: could not check it, the token lacks channels:read / groups:read (see manifest.yml)"
            )
        return f"channel {channel}: could not check it ({code})"
    except (TimeoutError, SlackClientError, aiohttp.ClientError, OSError) as exc:
        return f"channel {channel}: could not check it ({slack_error_code(exc)})"
    name = f"#{info.get('name')} ({channel})" if info.get("name") else channel
    if info.get("is_archived"):
        return f"channel {name} is archived: nothing can be posted there"
    if info.get("is_member"):
        return None
    if info.get("is_private"):
        return f"channel {name} is private and the bot is not in it: invite it with /invite @hitl"
    if identity.scopes is not None and "chat:write.public" in identity.scopes:
        return None
    return (
        f"channel {name}: the bot is not in it and the token lacks chat:write.public; "
        "invite it with /invite @hitl or add the scope (see manifest.yml)"
    )


async def check_channels(client: AsyncWebClient, identity: SlackIdentity, channels: Iterable[str]) -> list[str]:
    problems = [await channel_problem(client, identity, channel) for channel in channels]
    return [p for p in problems if p]


async def check_slack(settings: Settings, policy: Policy) -> SlackIdentity:
    """The whole start-up check: the token must be good (else SlackCheckFailed); channel problems are logged."""
    client = create_slack_client(settings, retries=0)
    identity = await verify_token(settings, client=client)
    log.info(
        "Slack: workspace %s (%s), bot user %s", identity.team_id, identity.team_name or "unnamed", identity.bot_user_id
    )
    for problem in await check_channels(client, identity, policy_channels(policy)):
        log.warning("hitl can't post there: %s", problem)
    return identity


async def start_hitl(
    settings: Settings, policy: Policy, clock: Clock | None = None, *, resolver: Resolver = system_resolver
) -> Hitl:
    """The start-up checks, then hitl built with the identity they learnt (`hitl serve` does the same in two
    steps, the checks in their own event loop before uvicorn starts its)."""
    identity = await check_slack(settings, policy)
    return build_hitl(settings, policy, clock, identity=identity, resolver=resolver)
