"""`/hitl`: each subcommand a small function, dispatched from a table; and the kill form's submission."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from blocks.ids import CallbackId, CommandMetadata, InputId
from blocks.ops import build_help, build_kill_modal, describe_switch
from blocks.text import escape_mrkdwn, fit
from bot.domain.audit import audit_text
from bot.domain.pauses import KillArgs
from bot.identity import Reviewer
from bot.services.killswitch import Paused
from handlers.slack import forms, slash
from handlers.slack.answers import after_ack
from handlers.slack.context import SlackServices, services
from handlers.slack.payloads import reviewer_of, state_values

log = logging.getLogger(__name__)

Blocks = list[dict[str, Any]]
# An inline modal error holds at most 150 characters; nothing from the request is echoed.
STRANGER_FIELD = (
    "Only members of the workspace this hitl is installed in can pause it. "
    "Nothing was changed; the attempt was recorded."
)
KILL_FORM_REFUSALS = {
    "membership_unverified": (
        "I couldn't check your user-group membership with Slack just now. Nothing was changed; try again in a minute."
    ),
    "not_an_operator": "Only the operators named in the policy can pause automation.",
}


@dataclass(frozen=True)
class Call:
    """One `/hitl` request: what a subcommand's function gets."""

    ack: AsyncAck
    command: dict[str, Any]
    client: AsyncWebClient
    svc: SlackServices
    who: Reviewer
    text: str

    async def answer(self, text: str, blocks: Blocks | None = None) -> None:
        await self.ack(response_type="ephemeral", text=fit(text, 3000, escape=False), blocks=blocks)

    async def operator(self, sub: str) -> bool:
        """True for an operator; else the refusal is answered (and audited) and False."""
        denial = await self.svc.access.as_operator(self.who)
        if denial is None:
            return True
        refusal = await self.svc.access.refuse(
            self.who, denial, case_id=None, details={"command": sub, "text": audit_text(self.text)}
        )
        await self.answer(f"🚫 `/hitl {sub}`: {refusal.text}")
        return False


def known_queues(svc: SlackServices) -> str:
    return ", ".join(f"`{q.name}`" for q in svc.policy.queues[:40])


def kill_answer(svc: SlackServices, result: Paused) -> str:
    if not result.new:
        return f"Already paused: {describe_switch(result.switch)}. Resume it first to change it."
    where = f" Announced in <#{svc.policy.ops.channel}>." if svc.policy.ops else ""
    return f"⏸️ Paused {describe_switch(result.switch)}.{where}"


async def _usage(call: Call, parsed: slash.Usage) -> None:
    await call.answer(parsed.text)


async def _help(call: Call, parsed: slash.Help) -> None:
    await call.answer(
        *build_help(f"⚠️ Unknown subcommand `{slash.shown(parsed.unknown)}`.\n\n" if parsed.unknown else "")
    )


async def _status(call: Call, _parsed: slash.Status) -> None:
    await call.answer(*await call.svc.ops.status())


async def _queue(call: Call, parsed: slash.QueueListing) -> None:
    if parsed.name and call.svc.policy.queue(parsed.name) is None:
        await call.answer(f"No queue `{slash.shown(parsed.name)}`. Queues: {known_queues(call.svc)}.")
        return
    await call.answer(*await call.svc.ops.queue(parsed.name))


async def _digest(call: Call, parsed: slash.Digest) -> None:
    if parsed.queue and call.svc.policy.queue(parsed.queue) is None:
        await call.answer(f"No queue `{slash.shown(parsed.queue)}`. Queues: {known_queues(call.svc)}.")
        return
    digests = call.svc.digests
    _, text, blocks = await digests.render_digest(digests.recent_window(parsed.since), parsed.queue)
    await call.answer(text, blocks)


async def _kill(call: Call, parsed: slash.Kill) -> None:
    if not await call.operator("kill"):
        return
    args = parsed.args
    if args.reason:
        await call.answer(
            kill_answer(call.svc, await call.svc.killswitches.kill(args.scope, args.mode, args.reason, call.who.actor))
        )
        return
    # No reason given: ask for scope, mode and a reason in a form (the trigger_id is ticking).
    await call.ack()
    meta = CommandMetadata(channel=call.command.get("channel_id"))
    async with after_ack(call.client, call.command):
        await call.client.views_open(
            trigger_id=call.command["trigger_id"],
            view={**build_kill_modal(str(args.scope)), "private_metadata": meta.dump()},
        )


async def _resume(call: Call, parsed: slash.Resume) -> None:
    if not await call.operator("resume"):
        return
    args = parsed.args
    lifted = await call.svc.killswitches.resume(args.scope, args.reason or "(no reason given)", call.who.actor)
    if lifted is None:
        active = ", ".join(f"`{escape_mrkdwn(str(s.scope))}`" for s in call.svc.board.switches[:20]) or "none"
        await call.answer(f"Nothing is paused for `{escape_mrkdwn(str(args.scope))}`. Active pauses: {active}.")
        return
    await call.answer(
        f"▶️ Resumed `{escape_mrkdwn(str(lifted.scope))}` "
        f"(was {lifted.mode.value} since its pause by <@{lifted.created_by}>)."
    )


Subcommand = Callable[[Call, Any], Awaitable[None]]
SUBCOMMANDS: dict[type, Subcommand] = {
    slash.Usage: _usage,
    slash.Help: _help,
    slash.Status: _status,
    slash.QueueListing: _queue,
    slash.Digest: _digest,
    slash.Kill: _kill,
    slash.Resume: _resume,
}


async def on_hitl_command(
    ack: AsyncAck, command: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    raw = command.get("text")
    text = raw if isinstance(raw, str) else ""
    call = Call(ack, command, client, services(context), reviewer_of(command), text)
    if (denial := call.svc.access.stranger(call.who)) is not None:
        refusal = await call.svc.access.refuse(
            call.who, denial, case_id=None, details={"command": slash.subcommand(text), "text": audit_text(text)}
        )
        await call.answer(refusal.text)
        return
    parsed = slash.parse_command(text.strip())
    await SUBCOMMANDS[type(parsed)](call, parsed)


async def on_kill_submission(
    ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    svc = services(context)
    who = reviewer_of(body)
    args = forms.parse_kill(state_values(body))
    details = {"command": "kill", "text": f"{args.scope} (modal)" if isinstance(args, KillArgs) else "(modal)"}
    if (denial := svc.access.stranger(who)) is not None:
        await svc.access.refuse(who, denial, case_id=None, details=details)
        await ack(response_action="errors", errors={InputId.SCOPE.value: STRANGER_FIELD})
        return
    if isinstance(args, dict):
        await ack(response_action="errors", errors=args)
        return
    if (denial := await svc.access.as_operator(who)) is not None:
        await svc.access.refuse(who, denial, case_id=None, details=details)
        await ack(
            response_action="errors",
            errors={InputId.SCOPE.value: KILL_FORM_REFUSALS.get(denial.reason, KILL_FORM_REFUSALS["not_an_operator"])},
        )
        return
    result = await svc.killswitches.kill(args.scope, args.mode, args.reason, who.actor)
    await ack()
    try:
        channel = CommandMetadata.model_validate_json(body["view"]["private_metadata"]).channel
    except (KeyError, TypeError, ValidationError):
        channel = None
    if channel:
        async with after_ack(client, body):
            await client.chat_postEphemeral(channel=channel, user=who.user_id, text=kill_answer(svc, result))


def register(app: AsyncApp) -> None:
    app.command("/hitl")(on_hitl_command)
    app.view(CallbackId.KILL.value)(on_kill_submission)
