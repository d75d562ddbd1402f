"""Card buttons and decision modals: ack, parse, call the review service, answer."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from blocks.ids import ActionId, CallbackId, ModalMetadata
from blocks.modals import build_notice_modal
from bot.runtime import Runtime
from bot.services.decisions import DecisionRequest, load_case
from bot.services.review import OpenModal, Refusal, checklist_for, claim, open_decision, record_view, submit_decision
from handlers import forms
from handlers.answers import after_ack
from handlers.payloads import BadPayload, click_location, clicked_case, modal_metadata, reviewer_of, state_values
from store.models import CaseStatus

log = logging.getLogger(__name__)

# Slack lets a trigger_id open a modal for 3 s after the click; leave views.open the last second of it.
DECISION_LOOKUP_BUDGET = 2.0
# Slack waits 3 s for the answer to a modal submission; answer in time even when the database does not.
SUBMISSION_BUDGET = 2.5

OPEN_FAILED = "Slack couldn't open the form just now (it has to open within 3 seconds of a click). Nothing was changed: please click again."


def register(app: AsyncApp, rt: Runtime) -> None:
    async def handle_decision_click(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        action = ActionId(body["actions"][0]["action_id"])
        await ack()
        async with after_ack(client, body):
            await _show_decision_form(action, body, client)

    async def _show_decision_form(action: ActionId, body: dict[str, Any], client: AsyncWebClient) -> None:
        reviewer = reviewer_of(body)
        channel, message_ts = click_location(body)
        try:
            case_ref = clicked_case(body)
        except BadPayload:
            log.warning("ignored %s click with a foreign button value", action)
            return
        # Past the budget the modal could no longer open: after_ack tells the reviewer instead.
        async with asyncio.timeout(DECISION_LOOKUP_BUDGET):
            result = await open_decision(rt, action, case_ref.case_id, reviewer, channel, message_ts)
        if isinstance(result, OpenModal):
            # The trigger_id dies 3 s after the click: open first, record the view after.
            try:
                await client.views_open(trigger_id=body["trigger_id"], view=result.view)
            except SlackApiError as exc:
                log.warning("views.open failed for %s: %s", case_ref.case_id, exc.response.get("error"))
                if channel:
                    await client.chat_postEphemeral(channel=channel, user=reviewer.user_id, text=OPEN_FAILED)
                return
            record_view(rt, case_ref.case_id, reviewer, action)
        elif channel:
            await client.chat_postEphemeral(channel=channel, user=reviewer.user_id, text=result.text)

    for action in (ActionId.APPROVE, ActionId.EDIT, ActionId.REJECT):
        app.action(action.value)(handle_decision_click)

    async def handle_claim_click(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        take = body["actions"][0]["action_id"] == ActionId.CLAIM.value
        await ack()
        async with after_ack(client, body):
            reviewer = reviewer_of(body)
            channel, _ = click_location(body)
            try:
                case_ref = clicked_case(body)
            except BadPayload:
                return
            refusal = await claim(rt, case_ref.case_id, reviewer, take=take)
            if refusal is not None and channel:
                await client.chat_postEphemeral(channel=channel, user=reviewer.user_id, text=refusal.text)

    app.action(ActionId.CLAIM.value)(handle_claim_click)
    app.action(ActionId.UNCLAIM.value)(handle_claim_click)

    async def _metadata_or_close(ack: AsyncAck, body: dict[str, Any]) -> ModalMetadata | None:
        try:
            return modal_metadata(body)
        except BadPayload:
            log.warning("closed a modal submission whose metadata is not ours")
            await ack()
            return None

    async def _finish(ack: AsyncAck, body: dict[str, Any], request: DecisionRequest) -> None:
        # Past the budget the app's error handler answers with an inline error; Submit again is safe (one decision).
        async with asyncio.timeout(SUBMISSION_BUDGET):
            result = await submit_decision(rt, request, reviewer_of(body))
        if isinstance(result, Refusal):
            await ack(response_action="update", view=build_notice_modal("Nothing changed", result.text))
        else:
            await ack()

    async def handle_approve_submission(ack: AsyncAck, body: dict[str, Any]) -> None:
        if (meta := await _metadata_or_close(ack, body)) is None:
            return
        case = await load_case(rt, meta.case_id)
        form = forms.parse_approve(state_values(body), checklist_for(rt, case.queue) if case else [])
        if isinstance(form, dict):
            await ack(response_action="errors", errors=form)
            return
        request = DecisionRequest(
            meta.case_id,
            CaseStatus.APPROVED,
            reviewer_of(body).actor,
            final_text=case.payload.get("model_draft") if case else None,
            final_action=case.payload.get("proposed_action") if case else None,
            note=form.note,
            checklist=form.checked,
        )
        await _finish(ack, body, request)

    async def handle_edit_submission(ack: AsyncAck, body: dict[str, Any]) -> None:
        if (meta := await _metadata_or_close(ack, body)) is None:
            return
        case = await load_case(rt, meta.case_id)
        proposed = (case.payload.get("proposed_action") if case else None) or None
        form = forms.parse_edit(state_values(body), meta, case.payload["model_draft"] if case else "", proposed["args"] if proposed else None)
        if isinstance(form, dict):
            await ack(response_action="errors", errors=form)
            return
        action = {**proposed, "args": form.action_args} if proposed else None
        unchanged = case is not None and form.final_text == case.payload.get("model_draft") and action == proposed
        # Submitting the draft untouched is an approval: the draft was accepted as written.
        outcome = CaseStatus.APPROVED if unchanged else CaseStatus.EDITED
        request = DecisionRequest(
            meta.case_id, outcome, reviewer_of(body).actor, final_text=form.final_text, final_action=action, note=form.note, details={"via": "edit", "unchanged": unchanged, "action_after": action}
        )
        await _finish(ack, body, request)

    async def handle_reject_submission(ack: AsyncAck, body: dict[str, Any]) -> None:
        if (meta := await _metadata_or_close(ack, body)) is None:
            return
        form = forms.parse_reject(state_values(body))
        if isinstance(form, dict):
            await ack(response_action="errors", errors=form)
            return
        request = DecisionRequest(meta.case_id, CaseStatus.REJECTED, reviewer_of(body).actor, reason=form.reason.value, note=form.note)
        await _finish(ack, body, request)

    app.view(CallbackId.APPROVE.value)(handle_approve_submission)
    app.view(CallbackId.EDIT.value)(handle_edit_submission)
    app.view(CallbackId.REJECT.value)(handle_reject_submission)
