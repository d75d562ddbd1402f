#!/usr/bin/env python
"""Benchmark: escalations per second accepted by `POST /v1/escalations`, against plain SQLAlchemy inserts.

    python -m bench.ingest_throughput [--db sqlite|postgres|both] [--escalations 3000] [--rounds 2] [--clients 16]

Per database: a fresh database, the loopback Slack emulator in its own process (no post limit), `hitl serve`
(uvicorn, one worker) as a subprocess with its default settings (so the outbox worker posts the cards at
`HITL_SLACK_CHANNEL_RATE`, default 1 per second per channel, while the benchmark runs: that is production), and
this process as the load generator: `--clients` concurrent httpx clients, each POSTing its next escalation as soon
as the previous one is answered (closed loop), bodies as in tests/support.py, spread over the three queues
(billing, legal, general). Accepted = 201: validated, routed, idempotency-checked, stored with its `received`
audit row and its card queued in the outbox, one transaction.

Baseline, same run, same database server and driver (aiosqlite / asyncpg, engine from store.db.create_engine,
so WAL + BEGIN IMMEDIATE on SQLite and the same pool on PostgreSQL): the rows hitl stored for the round's
escalations (`cases`, their `received` audit event, their `post_card` outbox item) are read back and inserted
into a second fresh database with plain SQLAlchemy Core `INSERT`s, one transaction per escalation (3 inserts),
`--clients` concurrent tasks. The rounds alternate hitl and the baseline, so drift on a shared machine hits both.

Target (the issue): hitl at least 30 % of the raw insert rate on both databases.
Results: `bench/results/ingest_throughput.json` and a markdown table on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select

from bench.common import (
    DEFAULT_PG,
    ISSUE_POLICY_YAML,
    ROOT,
    CpuMeter,
    EmulatorProcess,
    api_client,
    escalation_for_channel,
    fresh_database,
    hitl_server,
    log,
    machine,
    machine_line,
    md_table,
    post_escalations,
    summary_ms,
    write_results,
)
from store.db import create_engine
from store.models import AuditEvent, Case, OutboxItem

CHANNELS = ["C0BILLING", "C0LEGAL", "C0GENERAL"]


def bodies(prefix: str, count: int) -> list[dict[str, Any]]:
    return [escalation_for_channel(f"{prefix}-{i:06d}", CHANNELS[i % 3]) for i in range(count)]


async def stored_rows(
    url: str, case_ids: list[str]
) -> list[tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]]:
    """(case row, its audit rows, its outbox rows) as hitl stored them, without the autoincrement ids."""
    wanted = set(case_ids)
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            cases = {
                r["case_id"]: dict(r)
                for r in (await conn.execute(select(Case.__table__))).mappings()
                if r["case_id"] in wanted
            }
            audit: dict[str, list[dict[str, Any]]] = {}
            for r in (
                await conn.execute(select(AuditEvent.__table__).where(AuditEvent.action == "received"))
            ).mappings():
                if r["case_id"] in wanted:
                    audit.setdefault(r["case_id"], []).append(dict(r))
            outbox: dict[str, list[dict[str, Any]]] = {}
            for r in (
                await conn.execute(select(OutboxItem.__table__).where(OutboxItem.kind == "post_card"))
            ).mappings():
                if r["case_id"] in wanted:
                    row = dict(r)
                    # As enqueued: not yet claimed or delivered.
                    row.update(attempts=0, claimed_until=None, claim_token=None, delivered_at=None, last_error=None)
                    outbox.setdefault(r["case_id"], []).append(row)
    finally:
        await engine.dispose()
    out = []
    for case_id in case_ids:
        case = {k: v for k, v in cases[case_id].items() if k != "id"}
        out.append(
            (
                case,
                [{k: v for k, v in a.items() if k != "id"} for a in audit.get(case_id, [])],
                [{k: v for k, v in o.items() if k != "id"} for o in outbox.get(case_id, [])],
            )
        )
    return out


async def raw_inserts(
    url: str, rows: list[tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]], clients: int, cpu: CpuMeter
) -> dict[str, Any]:
    """One transaction per escalation (case + audit + outbox rows), `clients` concurrent tasks."""
    engine = create_engine(url, busy_timeout=2.0)  # hitl's default HITL_SQLITE_BUSY_TIMEOUT
    latencies: list[float] = []
    errors: dict[str, int] = {}
    try:
        async with engine.begin() as conn:  # open the pool before timing
            await conn.execute(select(1))
        pending = iter(rows)

        async def worker() -> None:
            for case, audit, outbox in pending:
                began = time.perf_counter()
                try:
                    async with engine.begin() as conn:
                        await conn.execute(insert(Case), [case])
                        if audit:
                            await conn.execute(insert(AuditEvent), audit)
                        if outbox:
                            await conn.execute(insert(OutboxItem), outbox)
                except Exception as exc:  # noqa: BLE001 - counted, reported
                    errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                latencies.append(time.perf_counter() - began)

        cpu.begin()
        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        elapsed = time.perf_counter() - began
        cpu_share = cpu.end()
    finally:
        await engine.dispose()
    done = len(rows) - sum(errors.values())
    return {
        "rows": len(rows),
        "inserted": done,
        "errors": errors,
        "elapsed": round(elapsed, 3),
        "per_second": round(done / elapsed, 1),
        "latency_ms": summary_ms(latencies),
        "cpu_cores": cpu_share,
    }


async def run_database(backend: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    result: dict[str, Any] = {"database": backend, "rounds": []}
    emulator = EmulatorProcess(workdir)
    hitl = None
    try:
        await emulator.start()
        async with (
            fresh_database(backend, workdir, args.pg_url) as hitl_url,
            fresh_database(backend, workdir, args.pg_url) as raw_url,
        ):
            hitl = hitl_server(
                workdir, hitl_url, emulator.api_url, ISSUE_POLICY_YAML, log_level=args.log_level, name=f"hitl-{backend}"
            )
            await hitl.start()
            log(f"{backend}: hitl serve pid {hitl.pid} up in {hitl.started_after:.1f}s")
            async with api_client(hitl.url, connections=args.clients) as api:
                warm = await post_escalations(api, bodies("warm", args.warmup), args.clients)
                if warm["statuses"] != {"201": args.warmup}:
                    raise RuntimeError(f"warm-up: {warm['statuses']}")
                # The baseline database gets the same warm-up rows, so both tables start the same size.
                await raw_inserts(
                    raw_url,
                    await stored_rows(hitl_url, [b["case_id"] for b in bodies("warm", args.warmup)]),
                    args.clients,
                    CpuMeter({}),
                )
                for n in range(args.rounds):
                    batch = bodies(f"r{n}", args.escalations)
                    cpu = CpuMeter({"server": hitl.pid, "emulator": emulator.proc.pid, "load_generator": os.getpid()})  # type: ignore[union-attr]
                    cpu.begin()
                    posted = await post_escalations(api, batch, args.clients)
                    cpu_share = cpu.end()
                    if not hitl.alive():
                        raise RuntimeError(f"hitl died:\n{hitl.log_tail()}")
                    accepted = posted["statuses"].get("201", 0)
                    if accepted != len(batch):
                        log(f"{backend} round {n + 1}: not all accepted: {posted['statuses']}")
                    lat = posted["latencies"]
                    # Throughput in five equal time slices of the round (does it hold up as the outbox backlog grows?).
                    width = posted["elapsed"] / 5
                    slices = (
                        [
                            round(sum(1 for t in posted["accepted_at"] if k * width <= t < (k + 1) * width) / width, 1)
                            for k in range(5)
                        ]
                        if width
                        else []
                    )
                    hitl_round = {
                        "escalations": len(batch),
                        "statuses": posted["statuses"],
                        "accepted": accepted,
                        "elapsed": round(posted["elapsed"], 3),
                        "per_second": round(accepted / posted["elapsed"], 1),
                        "latency_ms": summary_ms(lat),
                        "cpu_cores": cpu_share,
                        "per_second_by_fifth": slices,
                    }
                    rows = await stored_rows(hitl_url, posted["accepted"])
                    raw = await raw_inserts(raw_url, rows, args.clients, CpuMeter({"load_generator": os.getpid()}))
                    ratio = round(hitl_round["per_second"] / raw["per_second"], 3) if raw["per_second"] else None
                    result["rounds"].append({"hitl": hitl_round, "raw": raw, "ratio": ratio})
                    log(
                        f"{backend} round {n + 1}: hitl {hitl_round['per_second']}/s (p50 "
                        f"{hitl_round['latency_ms'].get('p50')} ms, p99 {hitl_round['latency_ms'].get('p99')} ms, "
                        f"{posted['statuses']}), raw inserts {raw['per_second']}/s -> {ratio}"
                    )
            stats = await emulator.stats()
            result["cards_posted_meanwhile"] = stats["by_method"].get("chat.postMessage", 0)
            result["hitl_log_errors"] = [
                line
                for line in (workdir / f"hitl-{backend}.log").read_text(errors="replace").splitlines()
                if "ERROR" in line or "Traceback" in line
            ][:20]
    finally:
        if hitl is not None:
            await hitl.stop()
        await emulator.stop()
    ratios = [r["ratio"] for r in result["rounds"] if r["ratio"] is not None]
    result["hitl_per_second_median"] = round(statistics.median([r["hitl"]["per_second"] for r in result["rounds"]]), 1)
    result["raw_per_second_median"] = round(statistics.median([r["raw"]["per_second"] for r in result["rounds"]]), 1)
    result["ratio_median"] = round(statistics.median(ratios), 3) if ratios else None
    result["target_met"] = bool(ratios) and statistics.median(ratios) >= 0.30
    return result


def markdown(report: dict[str, Any]) -> str:
    a = report["args"]
    rows = []
    for db in report["databases"]:
        for n, r in enumerate(db["rounds"], 1):
            h, raw = r["hitl"], r["raw"]
            rows.append(
                [
                    db["database"],
                    n,
                    f"{h['accepted']:,}",
                    h["per_second"],
                    h["latency_ms"].get("p50"),
                    h["latency_ms"].get("p99"),
                    raw["per_second"],
                    raw["latency_ms"].get("p50"),
                    f"{r['ratio'] * 100:.0f} %" if r["ratio"] is not None else None,
                    " ".join(f"{k}:{v}" for k, v in sorted(h["statuses"].items()) if k != "201") or "0",
                    f"{h['cpu_cores'].get('server')} / {h['cpu_cores'].get('load_generator')} / "
                    f"{h['cpu_cores'].get('others')}",
                ]
            )
    head = (
        f"Ingest throughput (`python -m bench.ingest_throughput --db {a['db']}`), {machine_line(report['machine'])}; "
        f"{a['clients']} concurrent clients (closed loop, httpx), {a['escalations']:,} escalations per round over 3 "
        f"queues, after {a['warmup']} warm-up."
    )
    table = md_table(
        [
            "database",
            "round",
            "accepted",
            "hitl /s",
            "hitl p50 ms",
            "hitl p99 ms",
            "raw inserts /s",
            "raw p50 ms",
            "hitl / raw",
            "non-201",
            "CPU hitl / generator / others",
        ],
        rows,
    )
    verdict = [
        f"- {db['database']}: median hitl {db['hitl_per_second_median']:.1f}/s vs raw "
        f"{db['raw_per_second_median']:.1f}/s = "
        f"{(db['ratio_median'] or 0) * 100:.0f} % (target ≥ 30 %: {'met' if db['target_met'] else 'MISSED'}); cards "
        f"posted meanwhile: {db['cards_posted_meanwhile']}"
        for db in report["databases"]
    ]
    notes = [
        "",
        "raw = plain SQLAlchemy Core inserts of the very rows hitl stored (case, `received` audit event, `post_card` "
        "outbox item), "
        "one transaction per escalation, same driver and engine settings, same concurrency. CPU in cores over the "
        "round; "
        "`others` = the rest of the machine (PostgreSQL's backends count there, and other people's processes).",
    ]
    return "\n".join([head, "", table, "", *verdict, *notes])


async def run(args: argparse.Namespace) -> dict[str, Any]:
    backends = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    report: dict[str, Any] = {
        "benchmark": "ingest_throughput",
        "machine": machine(),
        "args": vars(args),
        "databases": [],
    }
    with tempfile.TemporaryDirectory(prefix="hitl-bench-ingest-") as tmp:
        for backend in backends:
            report["databases"].append(await run_database(backend, args, Path(tmp)))
    return report


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--escalations", type=int, default=3000, help="escalations per round")
    parser.add_argument("--rounds", type=int, default=2, help="hitl/baseline rounds, alternating")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients")
    parser.add_argument("--warmup", type=int, default=300, help="escalations before measuring")
    parser.add_argument("--pg-url", default=DEFAULT_PG)
    parser.add_argument("--log-level", default="warning")
    parser.add_argument("--output", default="ingest_throughput.json", help="file name under bench/results/")
    parser.add_argument("--report", metavar="JSON", help="only print the markdown summary of an earlier results file")
    args = parser.parse_args()
    if args.report:
        print(markdown(json.loads(Path(args.report).read_text())))
        return 0
    report = asyncio.run(run(args))
    out = write_results(args.output, report)
    print()
    print(markdown(report))
    print(f"\nresults: {out.relative_to(ROOT)}")
    return 0 if all(db["target_met"] for db in report["databases"]) else 1


if __name__ == "__main__":
    sys.exit(main())
