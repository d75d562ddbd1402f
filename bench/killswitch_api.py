"""GET /v1/killswitch latency on the real `hitl serve` (uvicorn, one worker) over loopback.

The server runs as a subprocess; this process is the load generator (its own event loop). 50 active
switches are in the database. Baseline in the same run: GET /healthz, which does one database round trip.

    python bench/killswitch_api.py [--requests 5000] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from store.db import create_engine  # noqa: E402
from store.migrate import upgrade_async  # noqa: E402
from store.models import KillSwitch  # noqa: E402

TOKEN = "bench-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def seed(url: str, count: int) -> None:
    engine = create_engine(url)
    now = datetime.now(timezone.utc)
    async with engine.begin() as conn:
        await conn.execute(
            KillSwitch.__table__.insert(),
            [{"scope": f"tenant:t{i}", "mode": "human-only", "reason": "bench", "created_by": "U0OPS1", "created_at": now} for i in range(count)],
        )
    await engine.dispose()


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


async def measure(base: str, path: str, params: dict[str, str], requests: int, concurrency: int) -> dict[str, float]:
    latencies: list[float] = []
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}, limits=httpx.Limits(max_connections=concurrency)) as client:
        for _ in range(200):  # warm-up
            await client.get(path, params=params)
        queue = iter(range(requests))

        async def worker() -> None:
            for _ in queue:
                start = time.perf_counter()
                response = await client.get(path, params=params)
                latencies.append((time.perf_counter() - start) * 1000)
                assert response.status_code == 200, response.text

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return {"requests": requests, "rps": round(requests / elapsed), "p50_ms": round(pct(latencies, 50), 2), "p99_ms": round(pct(latencies, 99), 2), "mean_ms": round(statistics.fmean(latencies), 2)}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="hitl-bench-ks-"))
    db = f"sqlite+aiosqlite:///{workdir / 'hitl.db'}"
    await upgrade_async(db)
    await seed(db, 50)
    shutil.copy(ROOT / "hitl.yml", workdir / "hitl.yml")
    port = free_port()
    env = {**os.environ, "SLACK_BOT_TOKEN": "xoxb-bench", "SLACK_SIGNING_SECRET": "bench", "SLACK_API_URL": "http://127.0.0.1:9/api/", "HITL_API_TOKEN": TOKEN, "HITL_DATABASE_URL": db, "HITL_HOST": "127.0.0.1", "PORT": str(port), "HITL_LOG_LEVEL": "warning"}
    server = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve"], cwd=workdir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base) as client:
            for _ in range(300):
                try:
                    if (await client.get("/healthz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.05)
        results = {
            "killswitch_context": await measure(base, "/v1/killswitch", {"tenant": "t7", "model": "gpt", "skill": "billing", "queue": "billing"}, args.requests, args.concurrency),
            "killswitch_sequential": await measure(base, "/v1/killswitch", {"tenant": "t7"}, args.requests // 5, 1),
            "baseline_healthz": await measure(base, "/healthz", {}, args.requests, args.concurrency),
        }
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)
    report = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "date": datetime.now(timezone.utc).isoformat(timespec="seconds")}, "active_switches": 50, "concurrency": args.concurrency, **results}
    out = ROOT / "bench" / "results" / "killswitch_api.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print("| request | concurrency | req/s | p50 ms | p99 ms |\n|---|---|---|---|---|")
    for name, row in results.items():
        conc = 1 if name == "killswitch_sequential" else args.concurrency
        print(f"| {name} | {conc} | {row['rps']} | {row['p50_ms']} | {row['p99_ms']} |")


if __name__ == "__main__":
    asyncio.run(main())
