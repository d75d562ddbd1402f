"""`/hitl`: help, status, queue, kill and resume, and the kill modal."""

from __future__ import annotations

import logging
from typing import Any

from pydantic import ValidationError
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from blocks.ids import CallbackId, CommandMetadata, InputId
from blocks.ops import build_help, build_kill_modal, describe_switch
from blocks.text import escape_mrkdwn, fit
from bot.killswitch import KillArgs
from bot.runtime import Runtime
from bot.services.digest import recent_window, render_digest
from bot.services.killswitch import AlreadyPaused, kill, resume
from bot.services.ops import audit_refused_command, clean_text, is_operator, queue_report, status_report
from bot.services.review import Reviewer, refuse_stranger
from handlers import forms, slash
from handlers.answers import after_ack
from handlers.payloads import reviewer_of, state_values

log = logging.getLogger(__name__)


def _kill_answer(rt: Runtime, result: Any) -> str:
    if isinstance(result, AlreadyPaused):
        return f"Already paused: {describe_switch(result.switch)}. Resume it first to change it."
    where = f" Announced in <#{rt.policy.ops.channel}>." if rt.policy.ops else ""
    return f"⏸️ Paused {describe_switch(result.switch)}.{where}"


def register(app: AsyncApp, rt: Runtime) -> None:
    async def answer(ack: AsyncAck, text: str, blocks: list[dict[str, Any]] | None = None) -> None:
        await ack(response_type="ephemeral", text=fit(text, 3000, escape=False), blocks=blocks)

    async def operator_or_refuse(ack: AsyncAck, requester: Reviewer, sub: str, text: str) -> bool:
        auth = await is_operator(rt, requester.user_id)
        if auth.allowed:
            return True
        await audit_refused_command(rt, requester.actor, sub, text, "membership_unverified" if auth.unverified else "not_an_operator")
        why = UNVERIFIED_OPERATOR if auth.unverified else "Only the operators named in the policy (`ops.operators`) can do that. The attempt was recorded."
        await answer(ack, f"🚫 `/hitl {sub}`: {why}")
        return False

    async def handle_hitl_command(ack: AsyncAck, command: dict[str, Any], client: AsyncWebClient) -> None:
        text = command.get("text") if isinstance(command.get("text"), str) else ""
        requester = reviewer_of(command)
        if (refusal := await refuse_stranger(rt, requester, None, {"command": slash.subcommand(text), "text": clean_text(text)})) is not None:
            await answer(ack, refusal.text)
            return
        parsed = slash.parse_command(text.strip())
        if isinstance(parsed, slash.Usage):
            await answer(ack, parsed.text)
        elif isinstance(parsed, slash.Help):
            await answer(ack, *build_help(f"⚠️ Unknown subcommand `{slash.shown(parsed.unknown)}`.\n\n" if parsed.unknown else ""))
        elif isinstance(parsed, slash.Status):
            await answer(ack, *await status_report(rt))
        elif isinstance(parsed, slash.QueueListing):
            if parsed.name and rt.policy.queue(parsed.name) is None:
                await answer(ack, f"No queue `{slash.shown(parsed.name)}`. Queues: {known_queues(rt)}.")
                return
            await answer(ack, *await queue_report(rt, parsed.name))
        elif isinstance(parsed, slash.Digest):
            if parsed.queue and rt.policy.queue(parsed.queue) is None:
                await answer(ack, f"No queue `{slash.shown(parsed.queue)}`. Queues: {known_queues(rt)}.")
                return
            _, digest_text, blocks = await render_digest(rt, recent_window(rt, parsed.since), parsed.queue)
            await answer(ack, digest_text, blocks)
        elif isinstance(parsed, slash.Kill):
            if not await operator_or_refuse(ack, requester, "kill", text):
                return
            if parsed.args.reason:
                await answer(ack, _kill_answer(rt, await kill(rt, parsed.args.scope, parsed.args.mode, parsed.args.reason, requester.actor)))
                return
            # No reason given: ask for scope, mode and a reason in a form (the trigger_id is ticking).
            await ack()
            meta = CommandMetadata(channel=command.get("channel_id"))
            async with after_ack(client, command):
                await client.views_open(trigger_id=command["trigger_id"], view={**build_kill_modal(str(parsed.args.scope)), "private_metadata": meta.dump()})
        else:  # slash.Resume
            if not await operator_or_refuse(ack, requester, "resume", text):
                return
            args = parsed.args
            lifted = await resume(rt, args.scope, args.reason or "(no reason given)", requester.actor)
            if lifted is None:
                active = ", ".join(f"`{escape_mrkdwn(str(s.scope))}`" for s in rt.killswitches.switches[:20]) or "none"
                await answer(ack, f"Nothing is paused for `{escape_mrkdwn(str(args.scope))}`. Active pauses: {active}.")
                return
            await answer(ack, f"▶️ Resumed `{escape_mrkdwn(str(lifted.scope))}` (was {lifted.mode.value} since its pause by <@{lifted.created_by}>).")

    async def handle_kill_submission(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        requester = reviewer_of(body)
        args = forms.parse_kill(state_values(body))
        attempted = f"{args.scope} (modal)" if isinstance(args, KillArgs) else "(modal)"
        if await refuse_stranger(rt, requester, None, {"command": "kill", "text": attempted}) is not None:
            await ack(response_action="errors", errors={InputId.SCOPE.value: STRANGER_FIELD})
            return
        if isinstance(args, dict):
            await ack(response_action="errors", errors=args)
            return
        auth = await is_operator(rt, requester.user_id)
        if not auth.allowed:
            await audit_refused_command(rt, requester.actor, "kill", attempted, "membership_unverified" if auth.unverified else "not_an_operator")
            why = "I couldn't check your user-group membership with Slack just now. Nothing was changed; try again in a minute." if auth.unverified else "Only the operators named in the policy can pause automation."
            await ack(response_action="errors", errors={InputId.SCOPE.value: why})
            return
        actor = requester.actor
        result = await kill(rt, args.scope, args.mode, args.reason, actor)
        await ack()
        try:
            channel = CommandMetadata.model_validate_json(body["view"]["private_metadata"]).channel
        except (KeyError, TypeError, ValidationError):
            channel = None
        if channel:
            async with after_ack(client, body):
                await client.chat_postEphemeral(channel=channel, user=actor.id or "", text=_kill_answer(rt, result))

    app.command("/hitl")(handle_hitl_command)
    app.view(CallbackId.KILL.value)(handle_kill_submission)


UNVERIFIED_OPERATOR = "I couldn't check your user-group membership with Slack just now, so I can't tell whether you're an operator. Nothing was changed, and the attempt was recorded; try again in a minute."
# An inline modal error holds at most 150 characters; nothing from the request is echoed.
STRANGER_FIELD = "Only members of the workspace this hitl is installed in can pause it. Nothing was changed; the attempt was recorded."


def known_queues(rt: Runtime) -> str:
    return ", ".join(f"`{q.name}`" for q in rt.policy.queues[:40])
