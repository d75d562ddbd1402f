#!/usr/bin/env python
"""Benchmark: breach-to-page delay of the SLA sweep, server memory as open cases grow, and the sweep's plan.

    python -m bench.sla_sweep [--db sqlite|postgres|both] [--open 100000] [--breaching 1000] [--sweep 5s]

Per database it runs two scenarios against the real `hitl serve` (a subprocess) and the loopback Slack
emulator (in this process):

* small: `--small-open` open cases (default 1,000), `--breaching / 10` of them breaching;
* large: `--open` open cases (default 100,000), `--breaching` of them breaching (default 1,000).

Each scenario: a fresh database (SQLite file in a temp dir, or a PostgreSQL database created for the run and
dropped after), migrated with `store.migrate.upgrade`; the non-breaching open cases bulk-inserted (tier 1 due in
10 days); the server started and waited for on `/healthz`; then the breaching cases inserted with their cards
pre-posted in the emulator and `tier_deadline = due_at` spread evenly over `--window` seconds starting `--lead`
seconds after the server answered. The bench waits until every breaching case's page (chat.postMessage to
tier 2's channel C0BILLESC with metadata `hitl_case` / `{case_id, tier: 2}`) reached the emulator, or a timeout.

The server runs with `HITL_SLACK_CHANNEL_RATE=--channel-rate` (default 1000/s): every page goes to one channel,
and at Slack's real 1 message/s per channel 1,000 pages take 1,000 s whatever the sweep does. What is measured
here is the sweep (claim, page queued, posted); pacing under Slack's limit is `bench/posting_rate.py`'s.

delay = time the emulator received the page (wall clock) - the case's tier_deadline. The emulator's call log
stamps `Call.at` with `time.monotonic()`; it is converted to wall time with one offset taken at start.

Results: `bench/results/sla_sweep.json` and a markdown summary on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import re
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import func, insert, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.dialects.postgresql import asyncpg as postgresql_asyncpg
from sqlalchemy.engine import make_url

from bench.common import (
    DEFAULT_PG,
    ISSUE_POLICY_YAML,
    ROOT,
    USER_GROUPS,
    escalation,
    free_port,
    fresh_database,
    hitl_server,
    log,
    machine,
    pg_dsn,
    read_status,
    summary_s,
    utcnow,
    write_results,
)
from bot.domain.escalation import Escalation
from bot.durations import format_duration, parse_duration
from slack_emulator import Emulator, serve_emulator
from store import cases as case_store
from store.db import create_engine
from store.models import AuditEvent, Case, OutboxItem, SlackMessage

CARD_CHANNEL = "C0BILLING"
PAGE_CHANNEL = "C0BILLESC"
QUEUE = "billing"
INDEX = "ix_cases_due_at"
BATCH = 5000
# Wall = monotonic + offset; the emulator stamps calls with time.monotonic().
MONO_TO_WALL = time.time() - time.monotonic()
# |converted Call.at - the message ts the emulator gave the page| (both wall clock), seconds.
CLOCK_CHECK: list[float] = []


# ---- cases ----------------------------------------------------------------------------------------------------


_PAYLOAD_TEMPLATE = Escalation(**escalation("template")).model_dump(mode="json", exclude_none=True)


def case_row(case_id: str, *, deadline: datetime, message_ts: str | None, now: datetime) -> dict[str, Any]:
    payload = dict(_PAYLOAD_TEMPLATE, case_id=case_id)
    started = deadline - timedelta(hours=4)  # tier 1's SLA in the issue policy
    return {
        "case_id": case_id,
        "payload": payload,
        "payload_hash": hashlib.sha256(case_id.encode()).hexdigest(),
        "tenant_id": payload["tenant_id"],
        "skill": payload["skill"],
        "risk_level": payload["risk_level"],
        "model_name": payload["model"]["name"],
        "queue": QUEUE,
        "tier": 1,
        "status": "pending",
        "version": 1,
        "channel": CARD_CHANNEL,
        "message_ts": message_ts,
        "sla_deadline": deadline,
        "tier_deadline": deadline,
        "due_at": deadline,
        "reminded_tier": 0,
        "repeats": 0,
        "tier_started_at": started,
        "remind_due_at": None,
        "created_at": min(started, now),
        "updated_at": now,
    }


async def insert_background_cases(url: str, count: int) -> float:
    """Open cases that are not due for 10 days. Returns seconds taken."""
    if count <= 0:
        return 0.0
    began = time.perf_counter()
    now = utcnow()
    later = now + timedelta(days=10)
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:  # one transaction (SQLite: one fsync)
            for start in range(0, count, BATCH):
                rows = [
                    case_row(f"bg-{i:07d}", deadline=later, message_ts=None, now=now)
                    for i in range(start, min(count, start + BATCH))
                ]
                await conn.execute(insert(Case), rows)
    finally:
        await engine.dispose()
    return time.perf_counter() - began


async def insert_breaching_cases(
    url: str, emulator: Emulator, count: int, first: datetime, window: float, prefix: str = "breach"
) -> tuple[dict[str, datetime], float]:
    """Cards pre-posted in the emulator, cases + their card rows inserted. Returns ({case_id: deadline}, seconds)."""
    began = time.perf_counter()
    now = utcnow()
    deadlines: dict[str, datetime] = {}
    rows: list[dict[str, Any]] = []
    messages: list[dict[str, Any]] = []
    for i in range(count):
        case_id = f"{prefix}-{i:05d}"
        deadline = first + timedelta(seconds=window * i / max(count, 1))  # --window 0: all at once
        card = emulator.workspace.post_message(
            CARD_CHANNEL,
            text=f"Review {case_id}",
            blocks=[],
            metadata={"event_type": "hitl_case", "event_payload": {"case_id": case_id}},
        )
        deadlines[case_id] = deadline
        rows.append(case_row(case_id, deadline=deadline, message_ts=card.ts, now=now))
        messages.append(
            {"case_id": case_id, "kind": "card", "tier": 1, "channel": CARD_CHANNEL, "ts": card.ts, "created_at": now}
        )
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            for start in range(0, count, BATCH):
                await conn.execute(insert(Case), rows[start : start + BATCH])
                await conn.execute(insert(SlackMessage), messages[start : start + BATCH])
    finally:
        await engine.dispose()
    return deadlines, time.perf_counter() - began


# ---- the sweep's query plan -----------------------------------------------------------------------------------


class _CaptureSession:
    """Stands in for an AsyncSession so the claim statement is built by store.cases.claim_due_cases itself."""

    statement: Any = None

    async def execute(self, statement: Any) -> Any:
        self.statement = statement

        class _Empty:
            def scalars(self) -> list[Any]:
                return []

        return _Empty()


async def claim_statement(now: datetime, limit: int) -> Any:
    from bot.services.sla_sweep import SWEEP_BATCH

    capture = _CaptureSession()
    await case_store.claim_due_cases(capture, now=now, limit=limit or SWEEP_BATCH)  # type: ignore[arg-type]
    return capture.statement


async def explain(backend: str, url: str, now: datetime) -> dict[str, Any]:
    from bot.services.sla_sweep import SWEEP_BATCH

    statement = await claim_statement(now, SWEEP_BATCH)
    if backend == "sqlite":
        return await asyncio.to_thread(_explain_sqlite, url, statement)
    return await _explain_postgres(url, statement)


def _bound_values(bound: Any) -> list[Any]:
    """The positional parameters of a compiled statement, datetimes as naive UTC (as UTCDateTime binds them)."""
    values = [bound.params[name] for name in bound.positiontup or []]
    return [v.astimezone(UTC).replace(tzinfo=None) if isinstance(v, datetime) else v for v in values]


def _explain_sqlite(url: str, statement: Any) -> dict[str, Any]:
    path = make_url(url).database
    literal = str(statement.compile(dialect=sqlite_dialect.dialect(), compile_kwargs={"literal_binds": True}))
    bound = statement.compile(dialect=sqlite_dialect.dialect(), compile_kwargs={"render_postcompile": True})
    # Bind values the way aiosqlite receives them: UTCDateTime -> naive UTC -> SQLite's DATETIME text.
    params = [v.strftime("%Y-%m-%d %H:%M:%S.%f") if isinstance(v, datetime) else v for v in _bound_values(bound)]
    conn = sqlite3.connect(path)
    try:
        plan_literal = ["|".join(str(c) for c in row[1:]) for row in conn.execute("EXPLAIN QUERY PLAN " + literal)]
        plan_bound = [
            "|".join(str(c) for c in row[1:]) for row in conn.execute("EXPLAIN QUERY PLAN " + str(bound), params)
        ]
        timings = []
        for _ in range(5):
            t = time.perf_counter()
            conn.execute(str(bound), params).fetchall()
            timings.append((time.perf_counter() - t) * 1000)
    finally:
        conn.close()
    text_plan = "\n".join(plan_literal)
    return {
        "sql": literal,
        "plan": plan_literal,
        "plan_bound_parameters": plan_bound,
        "uses_index": INDEX in text_plan and INDEX in "\n".join(plan_bound),
        "query_ms_median": round(statistics.median(timings), 3),
        "note": "SQLite ignores FOR UPDATE SKIP LOCKED (the dialect drops it); no ANALYZE, as in production",
    }


async def _explain_postgres(url: str, statement: Any) -> dict[str, Any]:
    literal = str(statement.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
    # What the server really sends: asyncpg's dialect, `$n` parameters, run as a prepared statement.
    bound = statement.compile(dialect=postgresql_asyncpg.dialect(), compile_kwargs={"render_postcompile": True})
    values = ["'" + str(v).replace("'", "''") + "'" if not isinstance(v, int) else str(v) for v in _bound_values(bound)]
    conn = await asyncpg.connect(pg_dsn(url))
    try:
        await conn.execute("ANALYZE cases")
        plan = [r[0] for r in await conn.fetch("EXPLAIN " + literal)]
        # After five executions of a prepared statement PostgreSQL may switch to a generic plan (no parameter
        # values known); show that plan too.
        async with conn.transaction():
            await conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
            await conn.execute(f"PREPARE bench_claim AS {bound}")
            generic = [r[0] for r in await conn.fetch(f"EXPLAIN EXECUTE bench_claim({', '.join(values)})")]
            await conn.execute("DEALLOCATE bench_claim")
        timings = []
        for _ in range(5):
            transaction = conn.transaction()
            await transaction.start()
            try:
                began = time.perf_counter()
                await conn.fetch(literal)
                timings.append((time.perf_counter() - began) * 1000)
            finally:
                await transaction.rollback()  # releases the FOR UPDATE row locks
    finally:
        await conn.close()
    return {
        "sql": literal,
        "plan": plan,
        "plan_generic": generic,
        "uses_index": INDEX in "\n".join(plan),
        "generic_uses_index": INDEX in "\n".join(generic),
        "query_ms_median": round(statistics.median(timings), 3),
        "note": (
            "after ANALYZE cases; plan_generic = EXPLAIN EXECUTE of the server's $n form "
            "under plan_cache_mode=force_generic_plan"
        ),
    }


# ---- the server -----------------------------------------------------------------------------------------------


@dataclass
class RssSampler:
    pid: int
    samples: list[tuple[float, int]] = field(default_factory=list)  # (wall time, kB)
    hwm_kb: int = 0
    _task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        for _ in range(3600):  # bounded: at most an hour of samples
            status = read_status(self.pid)
            if not status:
                return
            self.samples.append((time.time(), status.get("VmRSS", 0)))
            self.hwm_kb = max(self.hwm_kb, status.get("VmHWM", 0))
            await asyncio.sleep(1.0)

    async def stop(self) -> None:
        status = read_status(self.pid)
        if status:
            self.hwm_kb = max(self.hwm_kb, status.get("VmHWM", 0))
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def between(self, start: float, end: float) -> list[int]:
        return [kb for t, kb in self.samples if start <= t <= end]


# ---- one scenario ---------------------------------------------------------------------------------------------


def page_calls(emulator: Emulator, start: int) -> tuple[list[tuple[str, int, float]], int]:
    """Successful chat.postMessage calls to the tier-2 channel with a hitl_case marker since index `start`.
    Returns ([(case_id, tier, wall time)], next index)."""
    calls = emulator.calls
    end = len(calls)
    found = []
    for call in calls[start:end]:
        if call.method != "chat.postMessage" or not call.ok:
            continue
        args = call.args
        if args.get("channel") != PAGE_CHANNEL or args.get("thread_ts"):
            continue
        metadata = args.get("metadata") or {}
        if not isinstance(metadata, dict) or metadata.get("event_type") != "hitl_case":
            continue
        payload = metadata.get("event_payload") or {}
        wall = call.at + MONO_TO_WALL
        CLOCK_CHECK.append(abs(wall - float(call.response.get("ts") or wall)))
        found.append((str(payload.get("case_id")), int(payload.get("tier") or 0), wall))
    return found, end


_SWEEP_LINE = re.compile(r"SLA sweep: (\d+) case\(s\) moved in ([0-9.]+) s")


def sweep_passes(text_log: str) -> dict[str, Any]:
    """Durations of the sweep passes that moved cases (the server logs those at INFO: "SLA sweep: N case(s) moved
    in X s"), and how often APScheduler skipped or missed a run (its warnings)."""
    durations = [float(m.group(2)) for m in _SWEEP_LINE.finditer(text_log)]
    return {
        "runs_that_moved_cases": len(durations),
        "duration_seconds": summary_s(durations),
        "skipped_still_running": sum(
            1 for line in text_log.splitlines() if "sweep_sla" in line and "maximum number of running instances" in line
        ),
        "missed": sum(1 for line in text_log.splitlines() if "sweep_sla" in line and "was missed by" in line),
    }


async def db_facts(backend: str, url: str) -> dict[str, Any]:
    """After the run: how the sweep and the outbox saw it (audit `at` of sla_breached = the sweep's `now`)."""
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            breached = (
                await conn.execute(
                    select(AuditEvent.case_id, AuditEvent.at, AuditEvent.details).where(
                        AuditEvent.action == "sla_breached"
                    )
                )
            ).all()
            paged = (
                await conn.execute(select(AuditEvent.case_id, AuditEvent.at).where(AuditEvent.action == "paged"))
            ).all()
            outbox = (
                await conn.execute(
                    select(
                        OutboxItem.kind,
                        OutboxItem.delivered_at.is_not(None),
                        OutboxItem.dead_at.is_not(None),
                        func.count(),
                        func.max(OutboxItem.attempts),
                    ).group_by(OutboxItem.kind, OutboxItem.delivered_at.is_not(None), OutboxItem.dead_at.is_not(None))
                )
            ).all()
            tiers = (await conn.execute(select(Case.tier, func.count()).group_by(Case.tier))).all()
            open_count = (
                await conn.execute(select(func.count()).select_from(Case).where(Case.status == "pending"))
            ).scalar_one()
    finally:
        await engine.dispose()
    return {
        "breached": [(r[0], r[1], r[2]) for r in breached],
        "paged": [(r[0], r[1]) for r in paged],
        "outbox": [
            {"kind": k, "delivered": bool(d), "dead": bool(x), "count": int(c), "max_attempts": int(a or 0)}
            for k, d, x, c, a in outbox
        ],
        "cases_by_tier": {int(t): int(c) for t, c in tiers},
        "open_cases": int(open_count),
    }


async def run_scenario(
    backend: str, label: str, n_open: int, n_breach: int, args: argparse.Namespace, workdir: Path
) -> dict[str, Any]:
    sweep = parse_duration(args.sweep).total_seconds()
    n_background = max(0, n_open - n_breach)
    result: dict[str, Any] = {
        "database": backend,
        "scenario": label,
        "open_cases": n_open,
        "breaching": n_breach,
        "sweep_seconds": sweep,
    }
    log(
        f"{backend}/{label}: {n_open:,} open cases, {n_breach:,} breaching over {args.window:.0f}s, sweep every "
        f"{args.sweep}"
    )
    async with fresh_database(backend, workdir, args.pg_url) as url:
        seconds = await insert_background_cases(url, n_background)
        result["insert_background_seconds"] = round(seconds, 2)
        log(f"  inserted {n_background:,} background cases in {seconds:.1f}s")

        emulator = Emulator(strict_triggers=True)
        for group, members in USER_GROUPS.items():
            emulator.workspace.add_usergroup(group, members)
        async with serve_emulator(emulator, port=free_port()) as api_url:
            # log level info: sweep_passes() reads the sweep's INFO lines from the server's log.
            # --replicas N: N `hitl serve` processes on the one database (PostgreSQL), splitting sweeps and deliveries.
            servers = [
                hitl_server(
                    workdir,
                    url,
                    api_url,
                    ISSUE_POLICY_YAML + f"scheduler: {{sweep_every: {args.sweep}}}\n",
                    log_level="info",
                    name=f"server-{backend}-{label}-{n}",
                    HITL_SLACK_CHANNEL_RATE=str(args.channel_rate),
                )
                for n in range(args.replicas if backend == "postgres" else 1)
            ]
            server = servers[0]
            server_log = server.log_path
            proc = server.spawn()
            for extra in servers[1:]:
                extra.spawn()
            sampler = RssSampler(proc.pid)
            sampler.start()
            pages: dict[str, list[float]] = {}
            stray: list[tuple[str, int]] = []
            cursor = 0

            def collect() -> None:
                nonlocal cursor
                found, cursor = page_calls(emulator, cursor)
                for case_id, tier, at in found:
                    if case_id in deadlines and tier == 2:
                        pages.setdefault(case_id, []).append(at)
                    else:
                        stray.append((case_id, tier))

            try:
                spawned = time.time()
                for each in servers:
                    await each.wait_ready(args.start_timeout)
                healthy = time.time()
                result["startup_seconds"] = round(healthy - spawned, 2)
                first = datetime.fromtimestamp(healthy + args.lead, UTC)
                deadlines, seconds = await insert_breaching_cases(url, emulator, n_breach, first, args.window)
                result["insert_breaching_seconds"] = round(seconds, 2)
                last_deadline = max(deadlines.values()).timestamp() if deadlines else healthy
                log(
                    f"  server healthy after {healthy - spawned:.1f}s; {n_breach:,} breaching cases due "
                    f"{args.lead:.0f}..{args.lead + args.window:.0f}s from now"
                )

                give_up = last_deadline + args.timeout
                done_at: float | None = None
                for _ in range(int((give_up - time.time()) / 0.2) + 2):  # bounded by the timeout
                    if proc.poll() is not None:
                        raise RuntimeError(
                            f"hitl serve exited with {proc.returncode} during the run (log: {server_log})"
                        )
                    collect()
                    if len(pages) >= n_breach and done_at is None:
                        done_at = time.time()
                    if done_at is not None and time.time() >= done_at + args.settle:
                        break
                    if time.time() > give_up:
                        break
                    await asyncio.sleep(0.2)
                ended = time.time()
                collect()  # late duplicates within the settle period are already counted above
            finally:
                await sampler.stop()
                for each in servers:
                    await each.stop()

        delays = [min(ats) - deadlines[c].timestamp() for c, ats in pages.items()]
        duplicates = sum(len(ats) - 1 for ats in pages.values())
        missing = sorted(set(deadlines) - set(pages))
        result["delay_seconds"] = summary_s(delays)
        result["paged"] = len(pages)
        result["missing"] = len(missing)
        result["missing_sample"] = missing[:10]
        result["duplicate_pages"] = duplicates
        result["stray_pages"] = len(stray)
        p99 = result["delay_seconds"].get("p99")
        result["p99_over_sweep"] = round(p99 / sweep, 3) if p99 is not None else None
        result["target_p99_under_2x_sweep"] = bool(p99 is not None and p99 < 2 * sweep and not missing)
        result["completed_in_seconds_after_last_deadline"] = (
            round((done_at or ended) - last_deadline, 2) if done_at else None
        )
        # Pages all go to one channel: their rate is what that channel's pacing lets through (--window 0 makes
        # every case breach at once, the backlog case).
        firsts = sorted(min(ats) for ats in pages.values())
        span = firsts[-1] - firsts[0] if len(firsts) > 1 else 0.0
        result["page_rate_per_second"] = round((len(firsts) - 1) / span, 2) if span > 0 else None
        result["page_rate_vs_channel_rate"] = (
            round(result["page_rate_per_second"] / args.channel_rate, 3) if span > 0 else None
        )

        # RSS: idle = between healthy+5s and the first deadline (server sweeping every interval over N open
        # cases, nothing due); after = once every page was seen; peak = VmHWM.
        first_ts = first.timestamp()
        idle = sampler.between(healthy + 5, first_ts)
        active = sampler.between(first_ts, done_at or ended)
        after = sampler.between(done_at or ended, ended + 1)
        result["rss_kb"] = {
            "idle_median": int(statistics.median(idle)) if idle else None,
            "active_max": max(active) if active else None,
            "after_median": int(statistics.median(after)) if after else None,
            "peak_hwm": sampler.hwm_kb,
            "samples": len(sampler.samples),
        }
        result["rss_series"] = [(round(t - healthy, 1), kb) for t, kb in sampler.samples]

        calls = Counter(c.method for c in emulator.calls)
        result["emulator"] = {
            "calls": dict(calls),
            "rejected": len(emulator.rejected),
            "http_429": emulator.served_429,
            "http_5xx": emulator.served_5xx,
            "errors": dict(Counter(c.error for c in emulator.calls if not c.ok)),
        }
        text_log = "".join(each.log_path.read_text(errors="replace") for each in servers)
        result["replicas"] = len(servers)
        result["sweep_passes"] = sweep_passes(text_log)
        result["clock_check_max_ms"] = round(max(CLOCK_CHECK) * 1000, 3) if CLOCK_CHECK else None
        CLOCK_CHECK.clear()
        result["server_log"] = {
            "warnings": text_log.count(" WARNING "),
            "errors": text_log.count(" ERROR "),
            "tracebacks": text_log.count("Traceback"),
            "warning_lines": [line for line in text_log.splitlines() if " WARNING " in line or " ERROR " in line][:10],
            "tail": text_log.splitlines()[-15:] if (missing or "Traceback" in text_log) else [],
        }

        facts = await db_facts(backend, url)
        detect, deliver = [], []
        page_first = {c: min(ats) for c, ats in pages.items()}
        for case_id, at, _details in facts["breached"]:
            if case_id in deadlines:
                detect.append(at.timestamp() - deadlines[case_id].timestamp())
                if case_id in page_first:
                    deliver.append(page_first[case_id] - at.timestamp())
        result["breakdown_seconds"] = {
            "deadline_to_sweep": summary_s(detect),  # the sweep pass's `now` (audit sla_breached.at) - deadline
            "sweep_to_page": summary_s(deliver),  # page received by the emulator - that sweep's `now`
        }
        sweeps = sorted({at for _c, at, _d in facts["breached"]})
        result["sweep_passes_that_breached"] = len(sweeps)
        result["outbox"] = facts["outbox"]
        result["cases_by_tier"] = facts["cases_by_tier"]
        result["open_cases_after"] = facts["open_cases"]

        if label == "large" or args.explain_all:
            result["explain"] = await explain(backend, url, utcnow())
        log(
            "  paged {}/{}: p50 {} s, p99 {} s (p99/sweep {}), duplicates {}, RSS idle {} MB peak {} MB".format(
                len(pages),
                n_breach,
                result["delay_seconds"].get("p50"),
                p99,
                result["p99_over_sweep"],
                duplicates,
                _mb(result["rss_kb"]["idle_median"]),
                _mb(result["rss_kb"]["peak_hwm"]),
            )
        )
    return result


def _mb(kb: int | None) -> str:
    return "-" if not kb else f"{kb / 1024:.1f}"


# ---- report ---------------------------------------------------------------------------------------------------


def markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    sweep = report["args"]["sweep"]
    lines = [
        f"SLA sweep benchmark (`python -m bench.sla_sweep --db {report['args']['db']}`), {m['nproc']} CPU, "
        f"{m['ram_gb']} GB RAM, "
        f"Python {m['python']}, {m['date'][:10]}; sweep every {sweep}, breaches spread over "
        f"{report['args']['window']:.0f} s.",
        "",
        "| database | open cases | breaching | paged | p50 delay | p95 | p99 | max | p99 / sweep | p99 "
        "deadline→sweep | p99 sweep→page | duplicates | RSS idle | RSS peak |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in report["runs"]:
        d = r["delay_seconds"]
        lines.append(
            f"| {r['database']} | {r['open_cases']:,} | {r['breaching']:,} | {r['paged']:,} | {_s(d.get('p50'))} | "
            f"{_s(d.get('p95'))} | {_s(d.get('p99'))} | {_s(d.get('max'))} | "
            f"{r['p99_over_sweep']} | {_s(r['breakdown_seconds']['deadline_to_sweep'].get('p99'))} | "
            f"{_s(r['breakdown_seconds']['sweep_to_page'].get('p99'))} | "
            f"{r['duplicate_pages']} | {_mb(r['rss_kb']['idle_median'])} MB | {_mb(r['rss_kb']['peak_hwm'])} MB |"
        )
    lines.append("")
    lines.append(
        "delay = page received by the loopback Slack emulator - the case's tier deadline; deadline→sweep = the sweep "
        "pass's `now` "
        "(audit `sla_breached.at`) - deadline; sweep→page = page received - that `now`. RSS idle = median VmRSS of "
        "`hitl serve` "
        "while it sweeps over the open cases before any is due; peak = VmHWM."
    )
    lines.append("")
    for db, memory in report["memory"].items():
        lines.append(
            f"- {db}: RSS from {memory['small_open']:,} to {memory['large_open']:,} open cases: idle "
            f"×{memory['idle_ratio']}, peak ×{memory['peak_ratio']}."
        )
    for db, plan in report["plans"].items():
        verdict = "uses" if plan["uses_index"] else "does NOT use"
        extra = ""
        if "generic_uses_index" in plan:
            extra = f" (generic plan: {'uses' if plan['generic_uses_index'] else 'does NOT use'} it)"
        key = next(
            (s.strip(" ->") for s in plan["plan"] if INDEX in s or "Scan" in s or "SCAN" in s),
            plan["plan"][0] if plan["plan"] else "",
        )
        lines.append(
            f"- {db}: the sweep's claim query {verdict} `{INDEX}`{extra}: `{key}` ({plan['query_ms_median']} ms)"
        )
    for r in report["runs"]:
        if r.get("page_rate_per_second"):
            lines.append(
                f"- {r['database']} {r['scenario']}: pages reached the one tier-2 channel at "
                f"{r['page_rate_per_second']}/s, "
                f"{r['page_rate_vs_channel_rate']:.0%} of the configured channel rate "
                f"({report['args']['channel_rate']:g}/s)."
            )
    for r in report["runs"]:
        if not r["target_p99_under_2x_sweep"]:
            lines.append(
                f"- target missed: {r['database']} {r['open_cases']:,} open: p99 {r['delay_seconds'].get('p99')} s ≥ "
                f"2 × {sweep} or pages missing ({r['missing']})"
            )
    return "\n".join(lines)


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


async def main_async(args: argparse.Namespace) -> int:
    backends = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    small_breach = args.small_breaching if args.small_breaching is not None else max(1, args.breaching // 10)
    report: dict[str, Any] = {"machine": machine(), "args": vars(args), "runs": [], "memory": {}, "plans": {}}
    began = time.time()
    with tempfile.TemporaryDirectory(prefix="hitl-bench-") as tmp:
        workdir = Path(tmp)
        for backend in backends:
            runs = {}
            for label, n_open, n_breach in (
                ("small", args.small_open, small_breach),
                ("large", args.open, args.breaching),
            ):
                if args.only and label != args.only:
                    continue
                run = await run_scenario(backend, label, n_open, n_breach, args, workdir)
                report["runs"].append(run)
                runs[label] = run
            if "small" in runs and "large" in runs:
                s, big = runs["small"]["rss_kb"], runs["large"]["rss_kb"]
                report["memory"][backend] = {
                    "small_open": runs["small"]["open_cases"],
                    "large_open": runs["large"]["open_cases"],
                    "small_idle_kb": s["idle_median"],
                    "large_idle_kb": big["idle_median"],
                    "small_peak_kb": s["peak_hwm"],
                    "large_peak_kb": big["peak_hwm"],
                    "idle_ratio": round(big["idle_median"] / s["idle_median"], 3)
                    if s["idle_median"] and big["idle_median"]
                    else None,
                    "peak_ratio": round(big["peak_hwm"] / s["peak_hwm"], 3) if s["peak_hwm"] else None,
                }
            for run in runs.values():
                if "explain" in run:
                    report["plans"][backend] = run["explain"]
    report["total_seconds"] = round(time.time() - began, 1)
    out = write_results(args.output, report)

    print()
    for db, plan in report["plans"].items():
        print(f"== EXPLAIN of the sweep's claim query on {db} ({plan['note']}):")
        print(plan["sql"])
        print("-- plan:")
        for line in plan["plan"]:
            print("   " + line)
        if plan.get("plan_bound_parameters"):
            print("-- plan with bound parameters (as the server sends it):")
            for line in plan["plan_bound_parameters"]:
                print("   " + line)
        if plan.get("plan_generic"):
            print("-- generic plan (prepared statement):")
            for line in plan["plan_generic"]:
                print("   " + line)
        print(
            f"-- mentions {INDEX}: {'YES' if plan['uses_index'] else 'NO'}; query takes {plan['query_ms_median']} ms "
            f"(median of 5)"
        )
        print()
    print(markdown(report))
    print(f"\nresults: {out.relative_to(ROOT)} ({report['total_seconds']} s)")
    ok = all(r["missing"] == 0 and r["duplicate_pages"] == 0 for r in report["runs"])
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--open", type=int, default=100_000, help="open cases in the large scenario")
    parser.add_argument("--breaching", type=int, default=1_000, help="of which breach in the window (large scenario)")
    parser.add_argument("--small-open", type=int, default=1_000, help="open cases in the small scenario (RSS baseline)")
    parser.add_argument(
        "--small-breaching", type=int, default=None, help="breaching in the small scenario (default: --breaching / 10)"
    )
    parser.add_argument("--sweep", default="5s", help="scheduler.sweep_every of the policy")
    parser.add_argument("--window", type=float, default=60.0, help="seconds over which the deadlines are spread")
    parser.add_argument(
        "--lead", type=float, default=20.0, help="seconds from the server answering to the first deadline"
    )
    parser.add_argument("--timeout", type=float, default=300.0, help="give up this long after the last deadline")
    parser.add_argument(
        "--settle", type=float, default=5.0, help="keep watching for duplicate pages this long after the last page"
    )
    parser.add_argument("--start-timeout", type=float, default=120.0, help="seconds to wait for /healthz")
    parser.add_argument("--pg-url", default=DEFAULT_PG, help="PostgreSQL server to create the run's database on")
    parser.add_argument("--only", choices=["small", "large"], default=None, help="run one scenario only")
    parser.add_argument("--explain-all", action="store_true", help="EXPLAIN after the small scenario too")
    parser.add_argument(
        "--channel-rate", type=float, default=1000.0, help="HITL_SLACK_CHANNEL_RATE of the server (posts/s per channel)"
    )
    parser.add_argument(
        "--replicas", type=int, default=1, help="hitl serve processes on the one PostgreSQL database (SQLite: always 1)"
    )
    parser.add_argument("--output", default="sla_sweep.json", help="file name under bench/results/")
    args = parser.parse_args()
    parse_duration(args.sweep)  # fail fast on a bad duration
    args.sweep = format_duration(parse_duration(args.sweep))
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
