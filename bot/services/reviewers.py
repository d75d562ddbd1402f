"""Who may decide: the reviewers of the case's tier and every tier before it, user groups resolved and cached."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass

from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from bot.policy import GROUP_ID, Policy, Queue
from bot.slack import slack_error_code

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Authorization:
    allowed: bool
    # True when a user group could not be resolved (Slack unreachable, nothing cached): say so, don't just refuse.
    unverified: bool = False


class ReviewerDirectory:
    def __init__(self, client: AsyncWebClient, ttl_seconds: float = 300.0) -> None:
        self._client = client
        self._ttl = ttl_seconds
        self._groups: dict[str, tuple[float, frozenset[str]]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def group_members(self, group_id: str) -> frozenset[str] | None:
        """Members of a user group, fresh within the TTL; a stale copy beats none when Slack is unreachable."""
        cached = self._groups.get(group_id)
        if cached and time.monotonic() - cached[0] < self._ttl:
            return cached[1]
        async with self._locks.setdefault(group_id, asyncio.Lock()):
            cached = self._groups.get(group_id)
            if cached and time.monotonic() - cached[0] < self._ttl:
                return cached[1]
            try:
                response = await self._client.usergroups_users_list(usergroup=group_id)
            except (SlackApiError, SlackClientError, OSError, asyncio.TimeoutError) as exc:
                log.warning("could not resolve user group %s: %s", group_id, slack_error_code(exc))
                return cached[1] if cached else None
            members = frozenset(response.get("users") or [])
            self._groups[group_id] = (time.monotonic(), members)
            return members

    async def refresh(self, groups: Iterable[str]) -> None:
        for group in set(groups):
            self._groups.pop(group, None)
            await self.group_members(group)

    async def includes(self, user_id: str, principals: Iterable[str]) -> Authorization:
        unverified = False
        for principal in principals:
            if principal == user_id:
                return Authorization(True)
            if GROUP_ID.match(principal):
                members = await self.group_members(principal)
                if members is None:
                    unverified = True
                elif user_id in members:
                    return Authorization(True)
        return Authorization(False, unverified)


def deciders(queue: Queue, tier: int) -> list[str]:
    """Reviewers of tiers 1..tier: a page adds the next tier's people, it does not take the case from the first."""
    principals: list[str] = []
    for number in range(1, min(tier, len(queue.tiers)) + 1):
        principals.extend(p for p in queue.tier(number).reviewers if p not in principals)
    return principals


def all_groups(policy: Policy) -> set[str]:
    groups = {p for q in policy.queues for t in q.tiers for p in t.reviewers if GROUP_ID.match(p)}
    if policy.ops:
        groups.update(p for p in policy.ops.operators if GROUP_ID.match(p))
    return groups
