"""`/hitl`: help, status, queue, kill and resume, and the kill modal."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from pydantic import ValidationError
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from blocks.ids import CallbackId, CommandMetadata, InputId
from blocks.ops import build_help, build_kill_modal, describe_switch
from blocks.text import escape_mrkdwn, fit
from bot.killswitch import parse_kill_args
from bot.durations import parse_duration
from bot.runtime import Runtime
from bot.services.digest import recent_window, render_digest
from bot.services.killswitch import AlreadyPaused, kill, resume
from bot.services.ops import audit_refused_command, is_operator, queue_report, status_report
from handlers import forms
from handlers.answers import after_ack
from handlers.payloads import reviewer_of, state_values
from store.audit import Actor

log = logging.getLogger(__name__)


def _kill_answer(rt: Runtime, result: Any) -> str:
    if isinstance(result, AlreadyPaused):
        return f"Already paused: {describe_switch(result.switch)}. Resume it first to change it."
    where = f" Announced in <#{rt.policy.ops.channel}>." if rt.policy.ops else ""
    return f"⏸️ Paused {describe_switch(result.switch)}.{where}"


def register(app: AsyncApp, rt: Runtime) -> None:
    async def answer(ack: AsyncAck, text: str, blocks: list[dict[str, Any]] | None = None) -> None:
        await ack(response_type="ephemeral", text=fit(text, 3000, escape=False), blocks=blocks)

    async def operator_or_refuse(ack: AsyncAck, actor: Actor, sub: str, text: str) -> bool:
        auth = await is_operator(rt, actor.id or "")
        if auth.allowed:
            return True
        await audit_refused_command(rt, actor, sub, text)
        why = "I couldn't check your user groups with Slack just now; try again in a minute." if auth.unverified else "Only the operators named in the policy (`ops.operators`) can do that. The attempt was recorded."
        await answer(ack, f"🚫 `/hitl {sub}`: {why}")
        return False

    async def handle_hitl_command(ack: AsyncAck, command: dict[str, Any], client: AsyncWebClient) -> None:
        text = (command.get("text") or "").strip()
        sub, _, rest = text.partition(" ")
        sub = sub.lower() or "help"
        actor = reviewer_of(command).actor
        if sub == "help":
            await answer(ack, *build_help())
        elif sub == "status":
            await answer(ack, *await status_report(rt))
        elif sub == "queue":
            name = rest.strip() or None
            if name and rt.policy.queue(name) is None:
                known = ", ".join(f"`{q.name}`" for q in rt.policy.queues)
                await answer(ack, f"No queue `{escape_mrkdwn(name[:60])}`. Queues: {known}.")
                return
            await answer(ack, *await queue_report(rt, name))
        elif sub == "digest":
            words = rest.split()
            since = timedelta(hours=24)
            if "--since" in words:
                at = words.index("--since")
                try:
                    since = parse_duration(words[at + 1])
                except (IndexError, ValueError):
                    await answer(ack, "⚠️ `--since` takes a duration like `24h` or `7d`.\nUsage: `/hitl digest [queue] [--since 7d]`")
                    return
                del words[at : at + 2]
            name = words[0] if words else None
            if name and rt.policy.queue(name) is None:
                await answer(ack, f"No queue `{escape_mrkdwn(name[:60])}`. Queues: {', '.join(f'`{q.name}`' for q in rt.policy.queues)}.")
                return
            _, digest_text, blocks = await render_digest(rt, recent_window(rt, since), name)
            await answer(ack, digest_text, blocks)
        elif sub in ("kill", "resume"):
            if not await operator_or_refuse(ack, actor, sub, text):
                return
            try:
                args = parse_kill_args(rest)
            except ValueError as exc:
                await answer(ack, f"⚠️ {escape_mrkdwn(str(exc))}\nUsage: `/hitl {sub} [scope] {'[mode:off] ' if sub == 'kill' else ''}[reason…]`")
                return
            if sub == "kill" and not args.reason:
                # No reason given: ask for scope, mode and a reason in a form (the trigger_id is ticking).
                await ack()
                meta = CommandMetadata(channel=command.get("channel_id"))
                async with after_ack(client, command):
                    await client.views_open(trigger_id=command["trigger_id"], view={**build_kill_modal(str(args.scope)), "private_metadata": meta.dump()})
                return
            if sub == "kill":
                await answer(ack, _kill_answer(rt, await kill(rt, args.scope, args.mode, args.reason, actor)))
                return
            lifted = await resume(rt, args.scope, args.reason or "(no reason given)", actor)
            if lifted is None:
                active = ", ".join(f"`{escape_mrkdwn(str(s.scope))}`" for s in rt.killswitches.switches) or "none"
                await answer(ack, f"Nothing is paused for `{escape_mrkdwn(str(args.scope))}`. Active pauses: {active}.")
                return
            await answer(ack, f"▶️ Resumed `{escape_mrkdwn(str(lifted.scope))}` (was {lifted.mode.value} since its pause by <@{lifted.created_by}>).")
        else:
            await answer(ack, *build_help(f"⚠️ Unknown subcommand `{escape_mrkdwn(sub[:40])}`.\n\n"))

    async def handle_kill_submission(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        args = forms.parse_kill(state_values(body))
        if isinstance(args, dict):
            await ack(response_action="errors", errors=args)
            return
        actor = reviewer_of(body).actor
        if not (await is_operator(rt, actor.id or "")).allowed:
            await audit_refused_command(rt, actor, "kill", f"{args.scope} (modal)")
            await ack(response_action="errors", errors={InputId.SCOPE.value: "Only the operators named in the policy can pause automation."})
            return
        result = await kill(rt, args.scope, args.mode, args.reason, actor)
        await ack()
        try:
            channel = CommandMetadata.model_validate_json(body["view"]["private_metadata"]).channel
        except (KeyError, ValidationError):
            channel = None
        if channel:
            async with after_ack(client, body):
                await client.chat_postEphemeral(channel=channel, user=actor.id or "", text=_kill_answer(rt, result))

    app.command("/hitl")(handle_hitl_command)
    app.view(CallbackId.KILL.value)(handle_kill_submission)
