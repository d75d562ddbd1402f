"""Who may decide: the reviewers of the case's tier and every tier before it, user groups resolved and cached."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import aiohttp
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


# A user group's members are fetched again after FRESH_FOR (the scheduler refreshes every 5 minutes). When Slack
# can't be asked, the last copy keeps counting for STALE_GRACE more, then nobody is let in through that group
# until Slack answers again: a member removed from the group must not keep the right to decide for long.
FRESH_FOR = 300.0
STALE_GRACE = 900.0


class ReviewerDirectory:
    def __init__(
        self,
        client: AsyncWebClient,
        *,
        clock: Callable[[], float] = time.monotonic,
        fresh_for: float = FRESH_FOR,
        stale_grace: float = STALE_GRACE,
    ) -> None:
        self._client = client
        self._clock = clock
        self._fresh_for = fresh_for
        self._usable_for = fresh_for + stale_grace
        # group id -> (when Slack last answered, members)
        self._groups: dict[str, tuple[float, frozenset[str]]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    @property
    def longest_trust(self) -> float:
        """How old a copy of a group's members may be and still grant rights, in seconds."""
        return self._usable_for

    def _cached(self, group_id: str, within: float) -> frozenset[str] | None:
        cached = self._groups.get(group_id)
        return cached[1] if cached and self._clock() - cached[0] < within else None

    async def group_members(self, group_id: str) -> frozenset[str] | None:
        """Members of a user group, fresh within `fresh_for`; when Slack can't be asked, the last copy while it is
        younger than `fresh_for + stale_grace`; else None (membership can't be checked)."""
        fresh = self._cached(group_id, self._fresh_for)
        if fresh is not None:
            return fresh
        return await self._fetch(group_id, reuse_fresh=True)

    async def _fetch(self, group_id: str, *, reuse_fresh: bool) -> frozenset[str] | None:
        async with self._locks.setdefault(group_id, asyncio.Lock()):
            if reuse_fresh and (fresh := self._cached(group_id, self._fresh_for)) is not None:
                return fresh  # fetched by whoever held the lock before us
            try:
                response = await self._client.usergroups_users_list(usergroup=group_id)
            except (TimeoutError, SlackApiError, SlackClientError, aiohttp.ClientError, OSError) as exc:
                stale = self._cached(group_id, self._usable_for)
                age = self._clock() - self._groups[group_id][0] if group_id in self._groups else None
                if stale is None:
                    log.warning(
                        "could not resolve user group %s: %s; %s",
                        group_id,
                        slack_error_code(exc),
                        "never fetched" if age is None else "no copy young enough to trust",
                    )
                else:
                    log.warning(
                        "could not resolve user group %s: %s; using the copy from %.0f s ago",
                        group_id,
                        slack_error_code(exc),
                        age,
                    )
                return stale
            members = frozenset(response.get("users") or [])
            self._groups[group_id] = (self._clock(), members)
            return members

    async def refresh(self, groups: Iterable[str]) -> None:
        """Fetch these groups now; a failure keeps the last copy (it ages out by itself)."""
        for group in set(groups):
            await self._fetch(group, reuse_fresh=False)

    async def includes(self, user_id: str, principals: Iterable[str]) -> Authorization:
        """Whether the user is one of `principals` (user IDs and user groups), asking Slack for a group's members
        when the copy is no longer fresh."""
        principals = list(principals)
        if user_id in principals:
            return Authorization(True)
        for group in (p for p in principals if GROUP_ID.match(p)):
            members = await self.group_members(group)
            if members is not None and user_id in members:
                return Authorization(True)
        return self.includes_known(user_id, principals)

    def includes_known(self, user_id: str, principals: Iterable[str]) -> Authorization:
        """`includes` from the copies already fetched (young enough to trust), asking Slack nothing."""
        unverified = False
        for principal in principals:
            if principal == user_id:
                return Authorization(True)
            if GROUP_ID.match(principal):
                members = self._cached(principal, self._usable_for)
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
