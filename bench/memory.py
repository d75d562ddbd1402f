#!/usr/bin/env python
"""Benchmark: resident memory of `hitl serve` with 100,000 stored cases (10,000 of them open), with the SLA sweep
running and with it effectively off, against the same server on an empty database.

    python -m bench.memory [--db sqlite|postgres|both] [--cases 100000] [--open 10000] [--warmup 30] [--sample 20]

Per database, one fresh database per size: `empty` (nothing stored) and `loaded` (`--cases` cases bulk-inserted
like bench/sla_sweep.py does: `--open` pending with tier 1 due in 10 days, the rest decided: approved, edited
or rejected, with reviewer, time and final text). On each, `hitl serve` (uvicorn, one worker, a subprocess,
the loopback Slack emulator in another) is started twice: policy `scheduler: {sweep_every: 5s}` (the sweep
runs every 5 s over the open cases) and `sweep_every: 1d` (one pass at start, then none within the run).

Each start: wait for /healthz, a small warm-up of real work (GET the status of 200 stored cases, POST 50
escalations, their cards posted), then `--warmup` seconds idle, then VmRSS from /proc every second for
`--sample` seconds (median reported) and VmHWM (peak) at the end.

Results: `bench/results/memory.json` and a markdown table on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from bench.common import (
    DEFAULT_PG,
    ISSUE_POLICY_YAML,
    ROOT,
    EmulatorProcess,
    api_client,
    escalation,
    fresh_database,
    hitl_server,
    log,
    machine,
    machine_line,
    md_table,
    post_escalations,
    ratio,
    read_status,
    wait_posted,
    write_results,
)
from bot.domain.escalation import Escalation
from store.db import create_engine
from store.models import Case

BATCH = 5000
_TEMPLATE = Escalation(**escalation("template")).model_dump(mode="json", exclude_none=True)


def case_row(i: int, *, open_: bool, now: datetime) -> dict[str, Any]:
    case_id = f"mem-{i:07d}"
    payload = dict(_TEMPLATE, case_id=case_id)
    created = now - timedelta(minutes=i % 50_000)
    row: dict[str, Any] = {
        "case_id": case_id,
        "payload": payload,
        "payload_hash": hashlib.sha256(case_id.encode()).hexdigest(),
        "tenant_id": payload["tenant_id"],
        "skill": payload["skill"],
        "risk_level": payload["risk_level"],
        "model_name": payload["model"]["name"],
        "queue": "billing",
        "tier": 1,
        "version": 1,
        "channel": "C0BILLING",
        "message_ts": f"{int(created.timestamp())}.{i % 1_000_000:06d}",
        "reminded_tier": 0,
        "repeats": 0,
        "created_at": created,
        "updated_at": now,
    }
    if open_:
        deadline = now + timedelta(days=10)
        row.update(
            status="pending",
            sla_deadline=deadline,
            tier_deadline=deadline,
            due_at=deadline,
            tier_started_at=deadline - timedelta(hours=4),
            remind_due_at=None,
        )
    else:
        outcome = ("approved", "edited", "rejected")[i % 3]
        deadline = created + timedelta(hours=4)
        row.update(
            status=outcome,
            version=2,
            sla_deadline=deadline,
            tier_deadline=deadline,
            due_at=None,
            tier_started_at=created,
            outcome=outcome,
            final_text=payload["model_draft"]
            if outcome == "approved"
            else ("Refunded $39.50 after checking invoice 1042." if outcome == "edited" else None),
            reason="factual_error" if outcome == "rejected" else None,
            note="checked" if outcome != "approved" else None,
            checklist=[],
            decided_by="U0SME1",
            decided_by_team="T0HITL",
            decided_by_name="dana",
            decided_at=created + timedelta(minutes=12),
            decided_tier=1,
            edit_distance=41 if outcome == "edited" else 0,
            edit_ratio=0.38 if outcome == "edited" else 0.0,
        )
    return row


async def bulk_insert(url: str, total: int, open_count: int) -> float:
    """`total` cases, `open_count` of them open (spread evenly), in one transaction. Returns seconds."""
    began = time.perf_counter()
    now = datetime.now(UTC)
    step = max(1, total // max(open_count, 1)) if open_count else 0
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            for start in range(0, total, BATCH):
                rows = [
                    case_row(i, open_=bool(step) and i % step == 0 and i // step < open_count, now=now)
                    for i in range(start, min(total, start + BATCH))
                ]
                keys = set().union(*(r.keys() for r in rows))  # executemany: every row needs every column
                rows = [{k: r.get(k) for k in keys} for r in rows]
                await conn.execute(insert(Case), rows)
    finally:
        await engine.dispose()
    return time.perf_counter() - began


async def measure(
    label: str, url: str, sweep: str, stored: int, args: argparse.Namespace, workdir: Path
) -> dict[str, Any]:
    emulator = EmulatorProcess(workdir)
    hitl = None
    policy = ISSUE_POLICY_YAML + f"scheduler: {{sweep_every: {sweep}}}\n"
    name = f"hitl-{label}-{sweep}"
    try:
        await emulator.start()
        hitl = hitl_server(
            workdir, url, emulator.api_url, policy, log_level=args.log_level, name=name, HITL_SLACK_CHANNEL_RATE=1000
        )
        await hitl.start()
        rss_start = read_status(hitl.pid).get("VmRSS", 0)
        async with api_client(hitl.url, connections=8) as api:
            if stored:
                rng = random.Random(7)
                for i in rng.sample(range(stored), min(200, stored)):
                    response = await api.get(f"/v1/escalations/mem-{i:07d}")
                    if response.status_code != 200:
                        raise RuntimeError(f"GET mem-{i:07d}: {response.status_code}")
            ids = [f"warm-{label}-{sweep}-{i:03d}" for i in range(50)]
            posted = await post_escalations(api, [escalation(c) for c in ids], 8)
            if posted["statuses"] != {"201": 50}:
                raise RuntimeError(f"warm-up POSTs: {posted['statuses']}")
            await wait_posted(api, ids, timeout=60)
        await asyncio.sleep(args.warmup)
        samples = []
        for _ in range(int(args.sample)):
            status = read_status(hitl.pid)
            samples.append(status.get("VmRSS", 0))
            await asyncio.sleep(1.0)
        status = read_status(hitl.pid)
        if not hitl.alive():
            raise RuntimeError(f"hitl died:\n{hitl.log_tail()}")
    finally:
        if hitl is not None:
            await hitl.stop()
        await emulator.stop()
    result = {
        "database_size": label,
        "stored_cases": stored,
        "sweep_every": sweep,
        "rss_at_healthy_kb": rss_start,
        "rss_median_kb": int(statistics.median(samples)) if samples else None,
        "rss_max_kb": max(samples) if samples else None,
        "hwm_kb": status.get("VmHWM"),
        "startup_seconds": round(hitl.started_after, 2) if hitl else None,
    }
    log(
        f"  {label}, sweep {sweep}: RSS {mb(result['rss_median_kb'])} MB (peak {mb(result['hwm_kb'])} MB), started "
        f"in {result['startup_seconds']} s"
    )
    return result


def mb(kb: int | None) -> str:
    return "-" if not kb else f"{kb / 1024:.1f}"


async def run_database(backend: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    out: dict[str, Any] = {"database": backend, "runs": []}
    async with fresh_database(backend, workdir, args.pg_url) as empty_url:
        log(f"{backend}: empty database")
        for sweep in args.sweeps.split(","):
            out["runs"].append(await measure("empty", empty_url, sweep, 0, args, workdir))
    async with fresh_database(backend, workdir, args.pg_url) as url:
        seconds = await bulk_insert(url, args.cases, args.open)
        out["insert_seconds"] = round(seconds, 1)
        log(f"{backend}: {args.cases:,} cases ({args.open:,} open) inserted in {seconds:.1f}s")
        for sweep in args.sweeps.split(","):
            out["runs"].append(await measure("loaded", url, sweep, args.cases, args, workdir))
    for run in out["runs"]:
        base = next(r for r in out["runs"] if r["database_size"] == "empty" and r["sweep_every"] == run["sweep_every"])
        run["vs_empty"] = ratio(run["rss_median_kb"], base["rss_median_kb"], 3)
    return out


def markdown(report: dict[str, Any]) -> str:
    a = report["args"]
    rows = []
    for db in report["databases"]:
        for r in db["runs"]:
            rows.append(
                [
                    db["database"],
                    f"{r['stored_cases']:,}" + (f" ({a['open']:,} open)" if r["stored_cases"] else ""),
                    r["sweep_every"],
                    mb(r["rss_at_healthy_kb"]),
                    mb(r["rss_median_kb"]),
                    mb(r["hwm_kb"]),
                    r["vs_empty"],
                    r["startup_seconds"],
                ]
            )
    head = (
        f"Memory (`python -m bench.memory --db {a['db']}`), {machine_line(report['machine'])}; VmRSS of `hitl serve` "
        f"after a warm-up "
        f"(200 status reads, 50 escalations posted, then {a['warmup']:.0f} s), median of {a['sample']:.0f} "
        f"one-second samples."
    )
    table = md_table(
        [
            "database",
            "stored cases",
            "sweep_every",
            "RSS at start MB",
            "RSS MB",
            "peak (VmHWM) MB",
            "× empty",
            "start-up s",
        ],
        rows,
    )
    return "\n".join([head, "", table])


async def run(args: argparse.Namespace) -> dict[str, Any]:
    backends = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    report: dict[str, Any] = {"benchmark": "memory", "machine": machine(), "args": vars(args), "databases": []}
    with tempfile.TemporaryDirectory(prefix="hitl-bench-mem-") as tmp:
        for backend in backends:
            report["databases"].append(await run_database(backend, args, Path(tmp)))
    return report


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="sqlite")
    parser.add_argument("--cases", type=int, default=100_000, help="stored cases in the loaded database")
    parser.add_argument("--open", type=int, default=10_000, help="of which open (pending, due in 10 days)")
    parser.add_argument(
        "--sweeps", default="5s,1d", help="sweep_every values to compare (the sweep on / effectively off)"
    )
    parser.add_argument("--warmup", type=float, default=30.0, help="idle seconds after the warm-up requests")
    parser.add_argument("--sample", type=float, default=20.0, help="seconds of one-per-second RSS samples")
    parser.add_argument("--pg-url", default=DEFAULT_PG)
    parser.add_argument("--log-level", default="warning")
    parser.add_argument("--output", default="memory.json", help="file name under bench/results/")
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
