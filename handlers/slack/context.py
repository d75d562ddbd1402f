"""What Slack listeners may use. Listeners are module-level functions (testable alone); the services reach them
through Bolt's context, where one middleware puts them for every request."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext

from bot.policy import Policy
from bot.services.access import Access
from bot.services.digest import Digests
from bot.services.killswitch import KillSwitchBoard, KillSwitches
from bot.services.ops import OpsReports
from bot.services.review import Reviews

_KEY = "hitl"


@dataclass(frozen=True)
class SlackServices:
    policy: Policy
    access: Access
    reviews: Reviews
    killswitches: KillSwitches
    board: KillSwitchBoard
    ops: OpsReports
    digests: Digests


def services(context: AsyncBoltContext | dict[str, Any]) -> SlackServices:
    found = context[_KEY]
    assert isinstance(found, SlackServices)
    return found


def provide(app: AsyncApp, given: SlackServices) -> None:
    async def put_services(context: AsyncBoltContext, next: Callable[[], Awaitable[None]]) -> None:  # noqa: A002 - Bolt injects it by this name
        context[_KEY] = given
        await next()

    app.middleware(put_services)
