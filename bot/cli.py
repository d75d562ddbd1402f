"""`hitl` on the command line: serve, check-policy, db upgrade, audit verify."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError

from blocks.digest import digest_as_text
from bot.config import ConfigError, Settings, load_settings
from bot.domain.audit import CLI, AuditAction
from bot.domain.outbox import OutboxKind
from bot.durations import format_duration, parse_duration
from bot.outbound import ALLOW_ALL, OutboundRules
from bot.policy import Policy, PolicyError, load_policy
from bot.services.export import ExportFormat, write_export
from store.audit import Anchor, append_audit, verify_chain
from store.db import create_engine, create_sessionmaker, is_sqlite
from store.migrate import current_revision, head_revision, known_revision, upgrade
from store.outbox import drop_item, list_items, requeue, retry_item

# The commands that run hitl (serve, dev, digest, audit verify --slack) import the running stack (Bolt, uvicorn,
# the services, and for `hitl dev` the Slack emulator) inside themselves, when they run: the other commands
# (check-policy, db, export, outbox, webhooks) start in half the time without it, and `hitl serve` never loads
# the emulator. Nothing imports this module, so no import here is deferred to dodge a cycle.


class CliError(Exception):
    """A one-line message for the operator; never a traceback."""


def _settings(**overrides: object) -> Settings:
    try:
        return load_settings(**overrides)
    except ConfigError as exc:
        raise CliError(str(exc)) from None


def _policy(path: str, outbound: OutboundRules) -> Policy:
    try:
        return load_policy(path, outbound)
    except PolicyError as exc:
        raise CliError(str(exc)) from None


def _upgrade(database_url: str) -> None:
    try:
        upgrade(database_url)
    except Exception as exc:  # noqa: BLE001 - report any driver failure as one line
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CliError(f"HITL_DATABASE_URL: cannot migrate the database: {reason}") from None
    logging.getLogger(__name__).info("database schema is up to date")


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from bot.compose import build_hitl
    from bot.server import create_asgi_app

    settings = _settings()
    try:
        settings.require_serving()
    except ConfigError as exc:
        raise CliError(str(exc)) from None
    policy = _policy(settings.policy_path, settings.outbound_rules)
    hooked = [q.name for q in policy.queues if q.webhook_url] + (
        ["ops"] if policy.ops and policy.ops.webhook_url else []
    )
    if hooked and not settings.webhook_secret:
        raise CliError(
            f"HITL_WEBHOOK_SECRET is required: the policy sets webhook_url ({', '.join(hooked)}), and webhooks are "
            f"signed"
        )
    identity = _check_slack(settings, policy)
    _upgrade(settings.database_url)
    app = create_asgi_app(build_hitl(settings, policy, identity=identity))
    port = args.port or settings.port
    host = args.host or settings.host
    logging.getLogger(__name__).info("hitl serving on %s:%d (%d queues)", host, port, len(policy.queues))
    # With SLACK_APP_TOKEN the app also takes Slack's requests over Socket Mode (opened in the server's lifespan).
    uvicorn.run(app, host=host, port=port, log_level=settings.log_level.lower(), proxy_headers=True)
    return 0


def _check_slack(settings: Settings, policy: Policy) -> Any:
    """auth.test and the policy's channels, before anything listens (bot/startup.py); one line when it can't go on."""
    from bot.startup import SlackCheckFailed, check_slack

    try:
        return asyncio.run(check_slack(settings, policy))
    except SlackCheckFailed as exc:
        raise CliError(str(exc)) from None


def cmd_dev(args: argparse.Namespace) -> int:
    # bot.dev is the adapter to slack_emulator, a dev-only dependency: imported here, when `hitl dev` runs, so that
    # no other command (`hitl serve` above all) loads the emulator.
    from bot.dev import SAMPLE_POLICY, require_loopback, run_dev

    source = args.policy or str(SAMPLE_POLICY)
    # Local setups post webhooks to local receivers (dev_settings allows it too).
    policy = _policy(source, ALLOW_ALL)
    try:
        require_loopback(args.host)
    except ValueError as exc:
        raise CliError(f"--host: {exc}") from None
    db_path = Path(args.db).resolve()
    token = os.environ.get("HITL_API_TOKEN", "").split(",")[0].strip() or "dev-token"
    try:
        asyncio.run(
            run_dev(policy, source, host=args.host, port=args.port, db_path=db_path, seed=args.seed, api_token=token)
        )
    except KeyboardInterrupt:
        pass
    except (RuntimeError, OSError) as exc:
        raise CliError(f"cannot start the local workspace: {exc}") from None
    return 0


def cmd_check_policy(args: argparse.Namespace) -> int:
    policy = _policy(args.file, _settings().outbound_rules)
    print(f"{args.file}: OK, {len(policy.queues)} queue(s), first match wins")
    for index, queue in enumerate(policy.queues, start=1):
        match = ", ".join(f"{k}={v}" for k, v in queue.match.model_dump(exclude_none=True).items()) or "(everything)"
        print(f"{index}. {queue.name}  when {match}")
        for number, tier in enumerate(queue.tiers, start=1):
            timing = queue.timing(number)
            print(
                f"     tier {number}: {tier.name}  channel {tier.channel}  sla {format_duration(timing.sla)}  "
                f"reviewers {', '.join(tier.reviewers)}"
            )
        if queue.approve_checklist:
            print(f"     approve checklist: {len(queue.approve_checklist)} item(s)")
    if not policy.has_catch_all:
        print("warning: no catch-all queue (match: {}); escalations that match nothing are refused with 422")
    if policy.ops:
        print(f"ops: channel {policy.ops.channel}, operators {', '.join(policy.ops.operators) or '(none)'}")
    return 0


def cmd_db_upgrade(_args: argparse.Namespace) -> int:
    settings = _settings()
    _upgrade(settings.database_url)
    print("database schema is up to date")
    return 0


def cmd_audit_verify(args: argparse.Namespace) -> int:
    try:
        anchors = [Anchor.parse(a) for a in args.anchor]
    except ValueError as exc:
        raise CliError(f"--anchor: {exc}") from None
    settings = _settings()
    if args.slack:
        anchors += _anchors_in_slack(settings)
        print(f"{len(anchors)} anchor(s) found in the digest channels")

    async def work(sessions: Any) -> Any:
        async with sessions() as session:
            return await verify_chain(session, anchors=anchors)

    report = _run_with_sessions(settings, work)
    if report.ok:
        print(
            f"audit chain intact: {report.checked} event(s) verified"
            + (f", {len(anchors)} anchor(s) match" if anchors else "")
        )
        return 0
    for brk in report.breaks:
        print(f"audit chain broken at event {brk.event_id} (case {brk.case_id or '-'}): {brk.problem}")
    return 1


def _anchors_in_slack(settings: Settings) -> list[Any]:
    """The audit heads the digests posted to Slack, where whoever can rewrite the database can't rewrite them."""
    from bot.compose import build_hitl
    from bot.services.digest import anchors_in_slack, digest_configs

    if settings.slack_bot_token is None:
        raise CliError("--slack: SLACK_BOT_TOKEN is required to read the digest channels")
    policy = _policy(settings.policy_path, settings.outbound_rules)

    if not digest_configs(policy):
        raise CliError("--slack: the policy posts no digest, so Slack holds no anchors (digest: {channel: C…})")

    async def run() -> list[Any]:
        hitl = build_hitl(settings, policy)
        try:
            return await anchors_in_slack(hitl.slack_out)
        finally:
            await hitl.close()

    return asyncio.run(run())


def _run_with_sessions(settings: Settings, work: Callable[..., Any]) -> Any:
    """Run `work` against hitl's database, which must exist and have hitl's schema (this never creates either)."""
    where = _database_place(settings.database_url)

    async def run() -> Any:
        engine = create_engine(settings.database_url)
        try:
            try:
                await _require_schema(engine, where)
            except (OperationalError, DBAPIError, OSError) as exc:
                reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
                raise CliError(
                    f"HITL_DATABASE_URL: cannot open the database at {where}: "
                    f"{reason[0] if reason else type(exc).__name__}"
                ) from None
            return await work(create_sessionmaker(engine))
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _database_place(url: str) -> str:
    """Where the database is, for messages (no password); a SQLite file that does not exist stops here, before
    the driver would create it."""
    parsed = make_url(url)
    if not is_sqlite(url):
        return parsed.render_as_string(hide_password=True)
    path = parsed.database or ""
    if path and path != ":memory:" and not path.startswith("file:") and not Path(path).exists():
        raise CliError(
            f"HITL_DATABASE_URL: there is no database at {Path(path).resolve()}; run `hitl db upgrade` to create "
            f"one, or point HITL_DATABASE_URL at hitl's database"
        )
    return str(Path(path).resolve()) if path and path != ":memory:" else url


async def _require_schema(engine: Any, where: str) -> None:
    current = await current_revision(engine)
    if current is None:
        raise CliError(
            f"HITL_DATABASE_URL: the database at {where} has no hitl schema; run `hitl db upgrade` or point "
            f"HITL_DATABASE_URL at hitl's database"
        )
    head = head_revision()
    if current != head:
        if known_revision(current):
            raise CliError(
                f"HITL_DATABASE_URL: the database at {where} has schema {current}, this hitl needs {head}; run `hitl "
                f"db upgrade`"
            )
        raise CliError(
            f"HITL_DATABASE_URL: the database at {where} has schema {current}, newer than this hitl knows ({head}); "
            f"upgrade hitl"
        )


def cmd_export(args: argparse.Namespace) -> int:
    settings = _settings()
    try:
        since = datetime.now(UTC) - parse_duration(args.since)
    except ValueError as exc:
        raise CliError(f"--since: {exc}") from None
    outcomes = [o.strip() for o in (args.outcome or "").split(",") if o.strip()]
    bad = [o for o in outcomes if o not in ("approved", "edited", "rejected")]
    if bad:
        raise CliError(f"--outcome: {', '.join(bad)} is not one of approved, edited, rejected")

    async def work(sessions: Any) -> int:
        async with sessions() as session:
            return await write_export(
                session,
                sys.stdout,
                ExportFormat(args.format),
                since=since,
                queue=args.queue,
                outcomes=outcomes,
                mark_rejected=args.rejected == "mark",
            )

    try:
        written = _run_with_sessions(settings, work)
        sys.stdout.flush()
    except BrokenPipeError:
        # `hitl export | head`: the reader has what it wanted. Quietly, and without a second error when Python
        # flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    print(f"hitl: exported {written} record(s)", file=sys.stderr)
    return 0


def cmd_digest(args: argparse.Namespace) -> int:
    from bot.compose import build_hitl

    settings = _settings()
    policy = _policy(settings.policy_path, settings.outbound_rules)
    try:
        since = parse_duration(args.since)
    except ValueError as exc:
        raise CliError(f"--since: {exc}") from None
    if args.queue and policy.queue(args.queue) is None:
        raise CliError(f"--queue: no queue {args.queue!r} in {settings.policy_path}")
    queue = policy.queue(args.queue) if args.queue else None
    # A queue's own digest settings, if it has them, else the policy's.
    channel = (queue.digest if queue else None) or policy.digest
    if args.post and channel is None:
        raise CliError("--post: the policy has no digest channel (digest: {channel: C…})")

    async def run() -> int:
        hitl = build_hitl(settings, policy)
        digests = hitl.digests
        try:
            window = digests.recent_window(since)
            figures, _, blocks = await digests.render_digest(window, args.queue)
            print(json.dumps(figures, indent=2, ensure_ascii=False) if args.json else digest_as_text(blocks))
            if args.post:
                assert channel is not None
                await digests.post_digest(
                    window, channel.channel, queue=args.queue, key=f"manual:{hitl.clock.now().isoformat()}", claim=False
                )
                await hitl.outbox.drain()
                print(f"posted to {channel.channel}", file=sys.stderr)
        finally:
            await hitl.close()
        return 0

    return asyncio.run(run())


def cmd_webhooks_retry(args: argparse.Namespace) -> int:
    settings = _settings()

    async def work(sessions: Any) -> int:
        now = datetime.now(UTC)
        async with sessions.begin() as session:
            items = await requeue(session, case_id=args.case_id, kind=OutboxKind.WEBHOOK, now=now)
            for item in items:
                await append_audit(
                    session,
                    action=AuditAction.WEBHOOK_RESENT,
                    actor=CLI,
                    at=now,
                    case_id=args.case_id,
                    details={"event_id": item.payload.get("event_id")},
                )
        for item in items:
            print(
                f"queued again: {item.payload.get('event_id')} ({item.payload.get('body', {}).get('type')}) -> "
                f"{item.payload.get('url')}"
            )
        return len(items)

    if not _run_with_sessions(settings, work):
        raise CliError(
            f"case {args.case_id!r} has no webhook (unknown case, or neither callback_url nor the queue's "
            f"webhook_url was set)"
        )
    print("a running `hitl serve` delivers them within a second")
    return 0


def _outbox_line(item: Any) -> str:
    if item.delivered_at:
        state = "delivered"
    elif item.dead_at:
        state = item.dead_reason or "dead"
    else:
        state = "pending" + (" (out of line)" if item.line_released_at else "")
    when = (item.dead_at or item.next_attempt_at).isoformat(timespec="seconds")
    error = (item.last_error or "").replace("\n", " ")[:120]
    return (
        f"{item.id:>8}  {item.kind:<16} {state:<22} {item.attempts:>3}  {when}  {item.case_id or '-'}  "
        f"{item.ordering_key or '-'}  {error}"
    )


def cmd_outbox_list(args: argparse.Namespace) -> int:
    async def work(sessions: Any) -> list[Any]:
        async with sessions() as session:
            return await list_items(session, dead=args.dead, limit=args.limit)

    items = _run_with_sessions(_settings(), work)
    print(
        f"{'id':>8}  {'kind':<16} {'state':<22} {'try':>3}  {'next attempt / dead at':<25}  case  ordering key  last "
        f"error"
    )
    for item in items:
        print(_outbox_line(item))
    print(
        f"{len(items)} item(s)" + (f" (the newest {args.limit})" if len(items) == args.limit else ""), file=sys.stderr
    )
    return 0


def _operator_change(args: argparse.Namespace, change: Callable[..., Any], action: AuditAction, refusal: str) -> int:
    """Apply an operator's change to one outbox item, audited, or say in one line why nothing changed."""

    async def work(sessions: Any) -> Any:
        now = datetime.now(UTC)
        async with sessions.begin() as session:
            item = await change(session, args.id, now)
            if item is not None:
                details = {"item": item.id, "kind": item.kind, "dedupe_key": item.dedupe_key}
                await append_audit(session, action=action, actor=CLI, at=now, case_id=item.case_id, details=details)
            return item

    item = _run_with_sessions(_settings(), work)
    if item is None:
        raise CliError(refusal.format(id=args.id))
    print(_outbox_line(item))
    return 0


def cmd_outbox_retry(args: argparse.Namespace) -> int:
    code = _operator_change(
        args, retry_item, AuditAction.OUTBOX_RETRIED, "outbox item {id}: no such item, or it was already delivered"
    )
    print("a running `hitl serve` sends it within a second (in its place in its ordering line)")
    return code


def cmd_outbox_drop(args: argparse.Namespace) -> int:
    return _operator_change(
        args,
        partial(drop_item, why="dropped by an operator"),
        AuditAction.OUTBOX_DROPPED,
        "outbox item {id}: no such item, or it is not waiting (delivered, dead or dropped already)",
    )


def _count(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is not between {low:,} and {high:,}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hitl", description="Humans in the loop of LLM systems, in Slack.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the HTTP server and the scheduler")
    serve.add_argument("--port", type=int, default=None, help="default: $PORT or 3000")
    serve.add_argument("--host", default=None, help="default: $HITL_HOST or 0.0.0.0")
    serve.set_defaults(func=cmd_serve)

    dev = sub.add_parser(
        "dev", help="try the whole workflow locally: the bot plus an emulated Slack workspace in your browser"
    )
    dev.add_argument("--port", type=int, default=3000, help="the workspace page and emulated Web API (default 3000)")
    dev.add_argument("--host", default="127.0.0.1", help="loopback only")
    dev.add_argument("--seed", action="store_true", help="post a few realistic escalations at start")
    dev.add_argument("--policy", default=None, help="default: the bundled sample policy")
    dev.add_argument("--db", default="hitl-dev.db", help="SQLite file (default ./hitl-dev.db)")
    dev.set_defaults(func=cmd_dev)

    check = sub.add_parser("check-policy", help="validate a policy file and print its routing table")
    check.add_argument("file")
    check.set_defaults(func=cmd_check_policy)

    db = sub.add_parser("db", help="database schema")
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    db_sub.add_parser("upgrade", help="create or migrate the schema to the latest version").set_defaults(
        func=cmd_db_upgrade
    )

    audit = sub.add_parser("audit", help="the tamper-evident audit trail")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    verify = audit_sub.add_parser("verify", help="check the hash chain and say where it breaks")
    verify.add_argument(
        "--anchor",
        action="append",
        default=[],
        metavar="ID:SHA256",
        help="an earlier head of the chain kept elsewhere (the digest shows one); repeatable",
    )
    verify.add_argument(
        "--slack", action="store_true", help="also check against every anchor the daily digests posted to Slack"
    )
    verify.set_defaults(func=cmd_audit_verify)
    export = sub.add_parser("export", help="decided cases as a dataset on standard output (streamed)")
    export.add_argument("--since", default="30d", help="decided within this long (default 30d)")
    export.add_argument("--queue", default=None)
    export.add_argument("--outcome", default=None, help="comma-separated: approved,edited,rejected (default all)")
    export.add_argument("--format", choices=["jsonl", "csv", "openai-chat"], default="jsonl")
    export.add_argument(
        "--rejected",
        choices=["skip", "mark"],
        default="skip",
        help="openai-chat: leave rejected drafts out, or keep them with weight 0",
    )
    export.set_defaults(func=cmd_export)

    digest = sub.add_parser("digest", help="the digest's figures for a recent window, in the terminal (or posted)")
    digest.add_argument("--since", default="24h")
    digest.add_argument("--queue", default=None)
    digest.add_argument("--json", action="store_true", help="the figures as JSON")
    digest.add_argument("--post", action="store_true", help="also post it to the policy's digest channel")
    digest.set_defaults(func=cmd_digest)

    webhooks = sub.add_parser("webhooks", help="outbound decision webhooks")
    webhooks_sub = webhooks.add_subparsers(dest="webhooks_command", required=True, metavar="ACTION")
    retry = webhooks_sub.add_parser("retry", help="send a case's webhook events again (same event_id)")
    retry.add_argument("case_id")
    retry.set_defaults(func=cmd_webhooks_retry)

    box = sub.add_parser("outbox", help="outbound work waiting for Slack or a webhook receiver, and dead letters")
    box_sub = box.add_subparsers(dest="outbox_command", required=True, metavar="ACTION")
    listing = box_sub.add_parser("list", help="items still to deliver (oldest first), or dead letters with --dead")
    listing.add_argument(
        "--dead", action="store_true", help="items that will never be delivered by themselves (newest first)"
    )
    listing.add_argument(
        "--limit",
        type=_count(1, 10_000),
        default=100,
        metavar="N",
        help="at most N items (default 100, at most 10,000)",
    )
    listing.set_defaults(func=cmd_outbox_list)
    redrive = box_sub.add_parser("retry", help="deliver a dead, dropped or failing item again, now")
    redrive.add_argument("id", type=int)
    redrive.set_defaults(func=cmd_outbox_retry)
    drop = box_sub.add_parser("drop", help="give a waiting item up: never delivered, no longer in anyone's way")
    drop.add_argument("id", type=int)
    drop.set_defaults(func=cmd_outbox_drop)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Alembic announces every plugin at INFO; the one line worth seeing is ours ("schema is up to date").
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # slack-sdk logs every in-call retry at INFO ("A retry handler found…"); the outbox logs what failed, once.
    logging.getLogger("slack_sdk").setLevel(logging.WARNING)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except CliError as exc:
        print(f"hitl: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
