"""Card buttons and decision modals: ack, parse into a typed input, call the review service, answer."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from blocks.ids import ActionId, CallbackId, ModalMetadata
from blocks.modals import build_notice_modal
from bot.services.access import Refusal
from bot.services.decision_rules import DecisionInput
from bot.services.review import OpenModal
from handlers.slack import forms
from handlers.slack.answers import after_ack
from handlers.slack.context import services
from handlers.slack.payloads import BadPayload, click_location, clicked_case, modal_metadata, reviewer_of, state_values

log = logging.getLogger(__name__)

# Slack lets a trigger_id open a modal for 3 s after the click; leave views.open the last second of it.
DECISION_LOOKUP_BUDGET = 2.0
# Slack waits 3 s for the answer to a modal submission; answer in time even when the database does not.
SUBMISSION_BUDGET = 2.5

OPEN_FAILED = (
    "Slack couldn't open the form just now (it has to open within 3 seconds of a click). "
    "Nothing was changed: please click again."
)


async def on_decision_click(
    ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    """Approve / Edit / Reject: open the matching modal, or tell the clicker why not."""
    action = ActionId(body["actions"][0]["action_id"])
    await ack()
    async with after_ack(client, body):
        reviews = services(context).reviews
        who = reviewer_of(body)
        channel, message_ts = click_location(body)
        try:
            case_id = clicked_case(body).case_id
        except BadPayload:
            log.warning("ignored %s click with a foreign button value", action)
            return
        # Past the budget the modal could no longer open: after_ack tells the reviewer instead.
        async with asyncio.timeout(DECISION_LOOKUP_BUDGET):
            result = await reviews.open_form(action, case_id, who, channel, message_ts)
        if isinstance(result, Refusal):
            if channel:
                await client.chat_postEphemeral(channel=channel, user=who.user_id, text=result.text)
            return
        # The trigger_id dies 3 s after the click: open first, record the view after.
        if await _opened(client, body, result, channel, who.user_id):
            reviews.record_view(case_id, who, action)


async def _opened(
    client: AsyncWebClient, body: dict[str, Any], modal: OpenModal, channel: str | None, user: str
) -> bool:
    try:
        await client.views_open(trigger_id=body["trigger_id"], view=modal.view)
        return True
    except SlackApiError as exc:
        log.warning("views.open failed: %s", exc.response.get("error"))
        if channel:
            await client.chat_postEphemeral(channel=channel, user=user, text=OPEN_FAILED)
        return False


async def on_claim_click(
    ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    take = body["actions"][0]["action_id"] == ActionId.CLAIM.value
    await ack()
    async with after_ack(client, body):
        who = reviewer_of(body)
        channel, _ = click_location(body)
        try:
            case_id = clicked_case(body).case_id
        except BadPayload:
            return
        refusal = await services(context).reviews.claim(case_id, who, take=take)
        if refusal is not None and channel:
            await client.chat_postEphemeral(channel=channel, user=who.user_id, text=refusal.text)


def _read_form(callback: CallbackId, meta: ModalMetadata, values: dict[str, dict[str, Any]]) -> DecisionInput:
    if callback is CallbackId.APPROVE:
        return forms.read_approve(meta.case_id, values)
    if callback is CallbackId.EDIT:
        return forms.read_edit(meta, values)
    return forms.read_reject(meta.case_id, values)


async def on_decision_submission(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
    """A decision modal's Submit: errors inline, a refusal as a notice in the modal, else close it."""
    try:
        meta = modal_metadata(body)
    except BadPayload:
        log.warning("closed a modal submission whose metadata is not ours")
        await ack()
        return
    form = _read_form(CallbackId(body["view"]["callback_id"]), meta, state_values(body))
    # Past the budget the app's error handler answers with an inline error; Submit again is safe (one decision).
    async with asyncio.timeout(SUBMISSION_BUDGET):
        result = await services(context).reviews.submit(form, reviewer_of(body))
    if isinstance(result, dict):
        await ack(response_action="errors", errors=result)
    elif isinstance(result, Refusal):
        await ack(response_action="update", view=build_notice_modal("Nothing changed", result.text))
    else:
        await ack()


def register(app: AsyncApp) -> None:
    for action in (ActionId.APPROVE, ActionId.EDIT, ActionId.REJECT):
        app.action(action.value)(on_decision_click)
    app.action(ActionId.CLAIM.value)(on_claim_click)
    app.action(ActionId.UNCLAIM.value)(on_claim_click)
    for callback in (CallbackId.APPROVE, CallbackId.EDIT, CallbackId.REJECT):
        app.view(callback.value)(on_decision_submission)
