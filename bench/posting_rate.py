#!/usr/bin/env python
"""Benchmark: posting a burst of cards under Slack's per-channel rate limit.

    python -m bench.posting_rate [--rate 5] [--escalations 600] [--db sqlite|postgres|both]

Slack allows about one message per second per channel and answers more with 429 + Retry-After. To keep the run
short the limit is scaled up: the loopback emulator (its own process) enforces `--rate` chat.postMessage per
second per channel (`Emulator.enforce_post_rate`, 429 with a whole-second Retry-After, at least 1 s, as Slack
does), and `hitl serve` runs with `HITL_SLACK_CHANNEL_RATE` at the same rate. `--rate 1` is Slack's real limit
(600 cards then take 200 s).

One burst: `--escalations` escalations over 3 channels (billing, legal, general: a third each), POSTed by 16
concurrent clients as fast as hitl accepts them. Then the benchmark waits until every accepted case has its card,
watches `--settle` seconds more for late duplicates, and reads what the emulator received:

* delivered throughput per channel = (cards - 1) / (last card - first card), against the enforced rate (target:
  at least 90 %); also cards / (last card - burst start), which includes the start-up;
* 429s served (target: no storm) and other failed posts;
* lost (accepted, no card) and duplicate cards (two cards with the same `hitl_case` metadata case_id);
* order: the cards of a channel in the order hitl queued them (outbox ids), as the design promises.

Results: `bench/results/posting_rate.json` and a markdown table on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from sqlalchemy import select

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
    write_results,
)
from store.db import create_engine
from store.models import OutboxItem

CHANNELS = ["C0BILLING", "C0LEGAL", "C0GENERAL"]


async def queued_order(url: str) -> dict[str, list[str]]:
    """case_ids of the post_card outbox items per channel, in queue (id) order."""
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(OutboxItem.ordering_key, OutboxItem.case_id, OutboxItem.attempts)
                    .where(OutboxItem.kind == "post_card")
                    .order_by(OutboxItem.id)
                )
            ).all()
    finally:
        await engine.dispose()
    out: dict[str, list[str]] = defaultdict(list)
    for key, case_id, _attempts in rows:
        out[str(key).removeprefix("channel:")].append(case_id)
    return dict(out)


async def outbox_state(url: str) -> dict[str, Any]:
    """post_card items: attempts histogram, and how many are still pending or were given up (dead)."""
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(OutboxItem.attempts, OutboxItem.delivered_at, OutboxItem.dead_at).where(
                        OutboxItem.kind == "post_card"
                    )
                )
            ).all()
    finally:
        await engine.dispose()
    return {
        "attempts": dict(Counter(str(r[0]) for r in rows)),
        "delivered": sum(1 for r in rows if r[1] is not None),
        "pending": sum(1 for r in rows if r[1] is None and r[2] is None),
        "dead": sum(1 for r in rows if r[2] is not None),
    }


async def run_one(backend: str, rate: float, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    emulator = EmulatorProcess(workdir, post_rate=rate)
    hitl = None
    hitl_rate = round(rate * args.hitl_rate_factor, 4)
    result: dict[str, Any] = {
        "database": backend,
        "enforced_rate": rate,
        "hitl_channel_rate": hitl_rate,
        "escalations": args.escalations,
    }
    try:
        await emulator.start()
        async with fresh_database(backend, workdir, args.pg_url) as url:
            hitl = hitl_server(
                workdir,
                url,
                emulator.api_url,
                ISSUE_POLICY_YAML,
                log_level=args.log_level,
                name=f"hitl-{backend}-{rate:g}",
                HITL_SLACK_CHANNEL_RATE=hitl_rate,
            )
            await hitl.start()
            await asyncio.sleep(2)  # start-up posts (none expected) and the first sweep
            await emulator.forget()
            log(
                f"{backend}, {rate:g}/s per channel enforced, HITL_SLACK_CHANNEL_RATE={hitl_rate:g}: hitl serve pid "
                f"{hitl.pid}; burst of {args.escalations} escalations"
            )
            bodies = [escalation_for_channel(f"burst-{i:05d}", CHANNELS[i % 3]) for i in range(args.escalations)]
            cpu = CpuMeter({"server": hitl.pid, "emulator": emulator.proc.pid, "load_generator": os.getpid()})  # type: ignore[union-attr]
            cpu.begin()
            burst_start = time.monotonic()
            async with api_client(hitl.url, connections=16) as api:
                posted = await post_escalations(api, bodies, 16)
            burst_seconds = time.monotonic() - burst_start
            accepted = set(posted["accepted"])
            result["burst"] = {"statuses": posted["statuses"], "seconds": round(burst_seconds, 2)}
            log(f"  burst accepted {len(accepted)} in {burst_seconds:.1f}s; waiting for the cards")

            expected = args.escalations / len(CHANNELS) / rate
            deadline = time.monotonic() + (args.timeout or max(expected * 8, 120) + 60)
            cards: dict[str, list[dict[str, Any]]] = {}
            all_done_at = None
            while time.monotonic() < deadline:
                cards = {c: await emulator.messages(c) for c in CHANNELS}
                have = {m["case_id"] for msgs in cards.values() for m in msgs if m["case_id"]}
                if accepted <= have:
                    all_done_at = time.monotonic()
                    break
                if not hitl.alive():
                    raise RuntimeError(f"hitl died:\n{hitl.log_tail()}")
                await asyncio.sleep(1.0)
            waited = time.monotonic() - burst_start
            await asyncio.sleep(args.settle)
            cpu_share = cpu.end()
            cards = {c: await emulator.messages(c) for c in CHANNELS}
            calls = (await emulator.calls("chat.postMessage"))["calls"]
            stats = await emulator.stats()
            order = await queued_order(url)
            outbox = await outbox_state(url)
            result["hitl_log_warnings"] = [
                line
                for line in (workdir / f"hitl-{backend}-{rate:g}.log").read_text(errors="replace").splitlines()
                if "WARNING" in line or "ERROR" in line
            ][:15]
    finally:
        if hitl is not None:
            await hitl.stop()
        await emulator.stop()

    per_channel = []
    for channel in CHANNELS:
        ok = sorted(c["at"] for c in calls if c["channel"] == channel and c["ok"] and not c["thread_ts"])
        limited = sum(1 for c in calls if c["channel"] == channel and c["status"] == 429)
        other_failed = sum(1 for c in calls if c["channel"] == channel and not c["ok"] and c["status"] != 429)
        ids = [m["case_id"] for m in cards[channel] if m["case_id"]]
        gaps = [b - a for a, b in itertools.pairwise(ok)]
        steady = (len(ok) - 1) / (ok[-1] - ok[0]) if len(ok) > 1 and ok[-1] > ok[0] else None
        overall = len(ok) / (ok[-1] - burst_start) if ok else None
        expected_ids = [c for c in order.get(channel, []) if c in accepted]
        per_channel.append(
            {
                "channel": channel,
                "cards": len(ids),
                "posts_ok": len(ok),
                "served_429": limited,
                "other_failed_posts": other_failed,
                "duplicates": sum(n - 1 for n in Counter(ids).values() if n > 1),
                "undelivered": len([c for c in expected_ids if c not in set(ids)]),
                # The cards that arrived, in the order hitl queued them (and no later card before an earlier one).
                "in_queue_order": ids == [c for c in expected_ids if c in set(ids)] and ids == expected_ids[: len(ids)],
                "delivered_per_second": round(steady, 3) if steady else None,
                "delivered_vs_limit": round(steady / rate, 3) if steady else None,
                "per_second_from_burst_start": round(overall, 3) if overall else None,
                "first_card_after_s": round(ok[0] - burst_start, 3) if ok else None,
                "last_card_after_s": round(ok[-1] - burst_start, 3) if ok else None,
                "gap_s": {
                    "min": round(min(gaps), 4),
                    "p50": round(statistics.median(gaps), 4),
                    "max": round(max(gaps), 4),
                }
                if gaps
                else {},
            }
        )
    all_ids = [m["case_id"] for msgs in cards.values() for m in msgs if m["case_id"]]
    # Every chat.postMessage as the emulator saw it: [seconds after the burst started, channel, HTTP status].
    result["post_log"] = [[round(c["at"] - burst_start, 4), c["channel"], c["status"]] for c in calls]
    result.update(
        accepted=len(accepted),
        all_cards_within_s=round(all_done_at - burst_start, 2) if all_done_at else None,
        waited_s=round(waited, 1),
        expected_s=round(expected, 1),
        channels=per_channel,
        served_429=stats["served_429"],
        undelivered=len(accepted - set(all_ids)),
        # Lost = accepted but never to be posted: no card, and the outbox gave the item up (or has no item).
        lost=len(accepted - set(all_ids)) - outbox["pending"],
        duplicates=sum(n - 1 for n in Counter(all_ids).values() if n > 1),
        stray_cards=len(set(all_ids) - accepted),
        in_queue_order=all(c["in_queue_order"] for c in per_channel),
        outbox=outbox,
        emulator_calls=stats["by_method"],
        emulator_failed=stats["failed"],
        rejected=stats["rejected_count"],
        cpu_cores=cpu_share,
    )
    worst = min((c["delivered_vs_limit"] or 0) for c in per_channel)
    result["target_met"] = worst >= 0.9 and result["undelivered"] == 0 and result["duplicates"] == 0
    log(
        f"  {len(all_ids)} cards, undelivered {result['undelivered']} (still queued {outbox['pending']}, given up "
        f"{outbox['dead']}), duplicates {result['duplicates']}, 429s {result['served_429']}, "
        f"throughput/limit {[c['delivered_vs_limit'] for c in per_channel]}, in order {result['in_queue_order']}"
    )
    return result


def markdown(report: dict[str, Any]) -> str:
    rows = []
    for r in report["runs"]:
        for c in r["channels"]:
            rows.append(
                [
                    r["database"],
                    f"{r['enforced_rate']:g}/s",
                    f"{r['hitl_channel_rate']:g}/s",
                    c["channel"],
                    c["cards"],
                    c["delivered_per_second"],
                    f"{(c['delivered_vs_limit'] or 0) * 100:.0f} %",
                    c["per_second_from_burst_start"],
                    c["gap_s"].get("min"),
                    c["gap_s"].get("p50"),
                    c["gap_s"].get("max"),
                    c["served_429"],
                    c["undelivered"],
                    c["duplicates"],
                    "yes" if c["in_queue_order"] else "NO",
                ]
            )
    head = (
        f"Posting under Slack's limit (`python -m bench.posting_rate`), {machine_line(report['machine'])}; "
        f"{report['args']['escalations']} escalations in one burst over 3 channels; the emulator enforces the rate "
        f"per channel "
        "(scaled up from Slack's 1/s to keep the run short, where it says 5/s) with 429 + Retry-After, and hitl runs "
        "with HITL_SLACK_CHANNEL_RATE at the same rate."
    )
    table = md_table(
        [
            "database",
            "enforced",
            "HITL_SLACK_CHANNEL_RATE",
            "channel",
            "cards",
            "delivered /s",
            "of the limit",
            "/s from burst start",
            "min gap s",
            "p50 gap s",
            "max gap s",
            "429s",
            "undelivered at the end",
            "duplicates",
            "in order",
        ],
        rows,
    )
    verdict = [
        f"- {r['database']} at {r['enforced_rate']:g}/s: {r['accepted']} accepted in {r['burst']['seconds']} s, "
        f"every card within "
        f"{r['all_cards_within_s'] if r['all_cards_within_s'] is not None else 'NOT within ' + str(r['waited_s'])} s "
        f"(ideal {r['expected_s']} s); 429s {r['served_429']}, undelivered when the wait ended {r['undelivered']} "
        f"(still queued {r['outbox']['pending']}, given up {r['outbox']['dead']}, lost {r['lost']}), duplicates "
        f"{r['duplicates']}; "
        f"target (≥ 90 % of the limit, none lost, no duplicate): {'met' if r['target_met'] else 'MISSED'}"
        for r in report["runs"]
    ]
    return "\n".join(
        [
            head,
            "",
            table,
            "",
            *verdict,
            "",
            "delivered /s = (cards - 1) / (last card - first card) in that channel, as the emulator clocked them.",
        ]
    )


async def run(args: argparse.Namespace) -> dict[str, Any]:
    backends = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    rates = [float(r) for r in str(args.rate).split(",")]
    report: dict[str, Any] = {"benchmark": "posting_rate", "machine": machine(), "args": vars(args), "runs": []}
    with tempfile.TemporaryDirectory(prefix="hitl-bench-post-") as tmp:
        for backend in backends:
            for rate in rates:
                report["runs"].append(await run_one(backend, rate, args, Path(tmp)))
    return report


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--rate", default="5", help="enforced posts per second per channel (comma-separated for several runs, e.g. 5,1)"
    )
    parser.add_argument(
        "--hitl-rate-factor",
        type=float,
        default=1.0,
        help="HITL_SLACK_CHANNEL_RATE = enforced rate x this (default 1: exactly the limit)",
    )
    parser.add_argument("--escalations", type=int, default=600)
    parser.add_argument(
        "--timeout",
        type=float,
        default=0.0,
        help="seconds to wait for every card (default: 8 x the ideal time, at least 120, + 60)",
    )
    parser.add_argument(
        "--settle", type=float, default=5.0, help="seconds to keep watching for duplicates after the last card"
    )
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="sqlite")
    parser.add_argument("--pg-url", default=DEFAULT_PG)
    parser.add_argument("--log-level", default="warning")
    parser.add_argument("--output", default="posting_rate.json", help="file name under bench/results/")
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
    return 0 if all(r["target_met"] for r in report["runs"]) else 1


if __name__ == "__main__":
    sys.exit(main())
