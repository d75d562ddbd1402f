"""What a person hears when hitl could not do what they asked: overload, and failures after the ack."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from handlers.slack.payloads import click_location, reviewer_of
from store.db import DATABASE_BUSY

log = logging.getLogger(__name__)

# A listener that could not get the database in time (SQLite's writer busy, a full pool, a restart) or ran out
# of the seconds Slack allows (TimeoutError from a budget). Nothing was changed: the person may simply retry.
OVERLOADED = (*DATABASE_BUSY, TimeoutError)
OVERLOADED_TEXT = (
    "hitl is overloaded or its database is briefly unavailable, so nothing was changed. "
    "Please try again in a few seconds."
)
# A submission may have been cut off while committing; the conditional update makes a second one harmless.
OVERLOADED_SUBMISSION = (
    "hitl is overloaded or its database is briefly unavailable, so this may not have been recorded. "
    "Please submit again in a few seconds: it is only ever recorded once."
)


async def tell_overloaded(client: AsyncWebClient, body: dict[str, Any]) -> None:
    """After the ack there is no HTTP answer left: an ephemeral is how the person learns nothing happened."""
    channel = click_location(body)[0] or body.get("channel_id")
    user = reviewer_of(body).user_id
    if not (channel and user):
        return
    try:
        await client.chat_postEphemeral(channel=channel, user=user, text=OVERLOADED_TEXT)
    except (SlackApiError, SlackClientError, OSError) as exc:
        log.warning("could not tell %s that hitl was overloaded: %s", user, exc)


@contextlib.asynccontextmanager
async def after_ack(client: AsyncWebClient, body: dict[str, Any]) -> AsyncIterator[None]:
    """The work a listener does after its ack. Nothing may escape from here: bolt-python (1.30) resets the ack
    of a listener that raises before Bolt's 10 ms poll has seen it, and Slack then gets a 404 and shows the
    person an error. An overload is told to the person; anything else is logged."""
    try:
        yield
    except OVERLOADED as exc:
        log.warning("database unavailable or too slow after the ack: %s", type(exc).__name__)
        await tell_overloaded(client, body)
    except Exception:
        log.exception("listener failed after its ack")
