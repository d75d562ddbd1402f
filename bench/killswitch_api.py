"""GET /v1/killswitch latency on the real `hitl serve` (uvicorn, one worker) over loopback.

The server runs as a subprocess; this process is the load generator (its own event loop). 50 active
switches are in the database. Baseline in the same run: GET /healthz, which does one database round trip.

    python -m bench.killswitch_api [--requests 5000] [--concurrency 8] [--output killswitch_api.json]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from bench.common import (
    ROOT,
    EmulatorProcess,
    api_client,
    fresh_database,
    hitl_server,
    machine,
    summary_ms,
    utcnow,
    write_results,
)
from store.db import create_engine
from store.models import KillSwitch

SWITCHES = 50


async def seed(url: str, count: int) -> None:
    engine = create_engine(url)
    now = utcnow()
    async with engine.begin() as conn:
        await conn.execute(
            KillSwitch.__table__.insert(),
            [
                {
                    "scope": f"tenant:t{i}",
                    "mode": "human-only",
                    "reason": "bench",
                    "created_by": "U0OPS1",
                    "created_at": now,
                }
                for i in range(count)
            ],
        )
    await engine.dispose()


async def measure(base: str, path: str, params: dict[str, str], requests: int, concurrency: int) -> dict[str, float]:
    latencies: list[float] = []
    async with api_client(base, connections=concurrency) as client:
        for _ in range(200):  # warm-up
            await client.get(path, params=params)
        queue = iter(range(requests))

        async def worker() -> None:
            for _ in queue:
                start = time.perf_counter()
                response = await client.get(path, params=params)
                latencies.append(time.perf_counter() - start)
                assert response.status_code == 200, response.text

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    ms = summary_ms(latencies)
    return {
        "requests": requests,
        "rps": round(requests / elapsed),
        "p50_ms": ms["p50"],
        "p99_ms": ms["p99"],
        "mean_ms": ms["mean"],
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--output", default="killswitch_api.json", help="file name under bench/results/")
    args = parser.parse_args()
    report_machine = machine()
    with tempfile.TemporaryDirectory(prefix="hitl-bench-ks-") as tmp:
        workdir = Path(tmp)
        async with fresh_database("sqlite", workdir) as db:
            await seed(db, SWITCHES)
            # No Slack calls are measured, but `hitl serve` checks its token with Slack before it listens.
            emulator = await EmulatorProcess(workdir).start()
            server = hitl_server(workdir, db, emulator.api_url, (ROOT / "hitl.yml").read_text())
            try:
                await server.start()
                results = {
                    "killswitch_context": await measure(
                        server.url,
                        "/v1/killswitch",
                        {"tenant": "t7", "model": "gpt", "skill": "billing", "queue": "billing"},
                        args.requests,
                        args.concurrency,
                    ),
                    "killswitch_sequential": await measure(
                        server.url, "/v1/killswitch", {"tenant": "t7"}, args.requests // 5, 1
                    ),
                    "baseline_healthz": await measure(server.url, "/healthz", {}, args.requests, args.concurrency),
                }
            finally:
                await server.stop()
                await emulator.stop()
    report = {"machine": report_machine, "active_switches": SWITCHES, "concurrency": args.concurrency, **results}
    out = write_results(args.output, report)
    print("| request | concurrency | req/s | p50 ms | p99 ms |\n|---|---|---|---|---|")
    for name, row in results.items():
        conc = 1 if name == "killswitch_sequential" else args.concurrency
        print(f"| {name} | {conc} | {row['rps']} | {row['p50_ms']} | {row['p99_ms']} |")
    print(f"\nresults: {out.relative_to(ROOT)}")


if __name__ == "__main__":
    asyncio.run(main())
