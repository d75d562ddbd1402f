"""Shared helpers of the benchmarks: processes (hitl serve, the emulator, the bare Bolt app), databases, an
open-loop load generator, the machine description and the results file.

Every benchmark runs three kinds of process: `hitl serve` (or the bare Bolt baseline) as a subprocess, the
loopback Slack emulator as another subprocess (`python -m bench.emulator_server`), and the load generator in the
benchmark's own process. None of them shares an event loop with another.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import httpx

from store.migrate import upgrade
from tests.dbs import create_postgres_database, drop_postgres_database, pg_dsn  # noqa: F401 - pg_dsn re-exported
from tests.support import ISSUE_POLICY_YAML, USER_GROUPS  # noqa: F401 - re-exported to the scripts

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
HITL_BIN = Path(sys.executable).with_name("hitl")
DEFAULT_PG = os.environ.get("HITL_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
SIGNING_SECRET = "bench-signing-secret-8f742231b10e"
BOT_TOKEN = "xoxb-bench-token"
API_TOKEN = "bench-api-token"
CLK_TCK = os.sysconf("SC_CLK_TCK")

# The issue's policy and its user groups, as the tests use them (bench/emulator_server.py serves the same groups).
# Tier-1 reviewers of the billing queue: U0SME1 and the members of S0BILLING (the emulator knows the group).
BILLING_REVIEWERS = ["U0SME1", "U0BILL1", "U0BILL2"]
# skill (and risk) -> the queue's tier-1 channel in the policy above.
CHANNEL_OF_SKILL = {"billing": "C0BILLING", "legal": "C0LEGAL", "other": "C0GENERAL"}


def escalation(case_id: str, **overrides: Any) -> dict[str, Any]:
    """The escalation body of tests/support.py (a realistic billing case with evidence and an action)."""
    body: dict[str, Any] = {
        "case_id": case_id,
        "tenant_id": "acme",
        "skill": "billing",
        "user_question": "Can I get a refund for the double charge on invoice 1042?",
        "model_draft": "Yes. You were charged twice for invoice 1042; I have issued a refund of $49.00.",
        "evidence": [
            {
                "document_id": "kb-refunds-7",
                "quote": "Duplicate charges are refunded in full.",
                "score": 0.91,
                "url": "https://kb.example.com/refunds",
            }
        ],
        "risk_level": "medium",
        "reason_for_escalation": "Refund above the automatic limit",
        "model": {"name": "gpt-support", "version": "2026-10"},
        "confidence": 0.62,
        "proposed_action": {"action": "refund", "args": {"invoice": "1042", "amount": 49.0, "currency": "USD"}},
    }
    body.update(overrides)
    return body


def escalation_for_channel(case_id: str, channel: str) -> dict[str, Any]:
    if channel == "C0LEGAL":
        return escalation(case_id, skill="legal", risk_level="high")
    if channel == "C0GENERAL":
        return escalation(case_id, skill="other")
    return escalation(case_id)


# ---- small things ---------------------------------------------------------------------------------------------


def log(message: str) -> None:
    print(f"[{datetime.now().strftime('%H:%M:%S')}] {message}", flush=True)


def utcnow() -> datetime:
    return datetime.now(UTC)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pct(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]


def summary(
    values: list[float],
    *,
    quantiles: tuple[int, ...] = (50, 90, 99),
    scale: float = 1.0,
    digits: int = 2,
    with_min: bool = False,
) -> dict[str, Any]:
    """count, [min], p<q> per quantile, max, mean of values * scale, rounded to `digits`."""
    if not values:
        return {"count": 0}
    scaled = [v * scale for v in values]
    out: dict[str, Any] = {"count": len(scaled)}
    if with_min:
        out["min"] = round(min(scaled), digits)
    for q in quantiles:
        out[f"p{q}"] = round(pct(scaled, q) or 0, digits)
    out["max"] = round(max(scaled), digits)
    out["mean"] = round(statistics.fmean(scaled), digits)
    return out


def summary_ms(seconds: list[float]) -> dict[str, Any]:
    """p50/p90/p99/max/mean in milliseconds of a list of durations in seconds."""
    return summary(seconds, scale=1000)


def summary_s(seconds: list[float]) -> dict[str, Any]:
    """min/p50/p95/p99/max/mean in seconds (3 decimals) of a list of durations in seconds."""
    return summary(seconds, quantiles=(50, 95, 99), digits=3, with_min=True)


def ratio(a: float | None, b: float | None, digits: int = 2) -> float | None:
    return round(a / b, digits) if a is not None and b else None


def md_table(headers: list[str], rows: list[list[Any]], align: str | None = None) -> str:
    align = align or ("l" + "r" * (len(headers) - 1))
    marks = ["---" if a == "l" else "---:" for a in align]
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join(marks) + " |"]
    lines += ["| " + " | ".join("-" if v is None else str(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    mem_kb = 0
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    git: dict[str, Any] = {}
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--short"], cwd=ROOT, capture_output=True, text=True, timeout=10
        ).stdout.splitlines()
        git = {"commit": head, "uncommitted_files": len(dirty)}
    from importlib.metadata import PackageNotFoundError, version

    versions: dict[str, str] = {}
    for dist in (
        "slack_bolt",
        "slack_sdk",
        "uvicorn",
        "starlette",
        "SQLAlchemy",
        "aiosqlite",
        "asyncpg",
        "httpx",
        "aiohttp",
        "uvloop",
        "httptools",
    ):
        with contextlib.suppress(PackageNotFoundError):
            versions[dist.lower()] = version(dist)
    with contextlib.suppress(Exception):
        import sqlite3

        versions["sqlite"] = sqlite3.sqlite_version
    return {
        "git": git,
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "ram_gb": round(mem_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
        "date": utcnow().isoformat(timespec="seconds"),
    }


def machine_line(m: dict[str, Any]) -> str:
    return f"{m['nproc']} CPU ({m['cpu'] or 'unknown'}), {m['ram_gb']} GB RAM, Python {m['python']}, {m['date'][:10]}"


def git_head() -> str:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        return subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10
        ).stdout.strip()
    return ""


def write_results(name: str, report: dict[str, Any]) -> Path:
    """Write bench/results/<name>; notes if the checked-out commit changed while the benchmark ran."""
    started = report.get("machine", {}).get("git", {}).get("commit")
    now = git_head()
    if started and now and started != now:
        report.setdefault("warnings", []).append(
            f"HEAD moved from {started} to {now} during the run: a server started "
            "after the move (if any) ran the newer code"
        )
        print(f"WARNING: HEAD moved from {started[:10]} to {now[:10]} during the run", file=sys.stderr)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / name
    out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    return out


# ---- /proc ----------------------------------------------------------------------------------------------------


def read_status(pid: int) -> dict[str, int]:
    """VmRSS / VmHWM in kB from /proc/<pid>/status ({} once the process is gone)."""
    out: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    key, value = line.split(":", 1)
                    out[key] = int(value.split()[0])
    except (FileNotFoundError, ProcessLookupError):
        return {}
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
        return 0.0


def system_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy (all cores, not idle or waiting on I/O) since boot."""
    try:
        with open("/proc/stat") as fh:
            fields = [int(x) for x in fh.readline().split()[1:]]
    except (OSError, ValueError):
        return 0.0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / CLK_TCK


class CpuMeter:
    """CPU share (1.0 = one core) of some processes over an interval, plus `machine` (every process on the box)
    and `others` (the machine minus ours): other people's work on a shared machine shows up there."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.start_cpu: dict[str, float] = {}
        self.start_busy = 0.0
        self.start = 0.0

    def begin(self) -> None:
        self.start = time.monotonic()
        self.start_cpu = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        self.start_busy = system_busy_seconds()

    def end(self) -> dict[str, float]:
        elapsed = max(time.monotonic() - self.start, 1e-6)
        out = {name: round((cpu_seconds(pid) - self.start_cpu[name]) / elapsed, 3) for name, pid in self.pids.items()}
        out["machine"] = round((system_busy_seconds() - self.start_busy) / elapsed, 3)
        out["others"] = round(max(0.0, out["machine"] - sum(v for k, v in out.items() if k != "machine")), 3)
        return out


# ---- databases ------------------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def fresh_database(
    backend: str, workdir: Path, pg_base: str = DEFAULT_PG, *, migrate: bool = True
) -> AsyncIterator[str]:
    """A migrated, empty database URL: a SQLite file in workdir, or a `hitl_bench_*` PostgreSQL database created
    for the run and dropped on exit."""
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{workdir / f'bench-{uuid.uuid4().hex[:8]}.db'}"
        if migrate:
            await asyncio.to_thread(upgrade, url)
        yield url
        return
    url = await create_postgres_database(pg_base, prefix="hitl_bench")
    try:
        if migrate:
            await asyncio.to_thread(upgrade, url)
        yield url
    finally:
        await drop_postgres_database(pg_base, url)


# ---- processes ------------------------------------------------------------------------------------------------


async def stop_process(proc: subprocess.Popen[bytes] | None) -> None:
    """SIGTERM to a process this benchmark started (by its pid), SIGKILL after 10 s."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    for _ in range(100):
        if proc.poll() is not None:
            return
        await asyncio.sleep(0.1)
    proc.kill()
    await asyncio.to_thread(proc.wait, 10)


async def wait_http(proc: subprocess.Popen[bytes], url: str, timeout: float, what: str) -> float:
    """Poll url until it answers 200; returns the time.monotonic() it did."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{what} exited with {proc.returncode} before answering {url}")
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(url)).status_code == 200:
                    return time.monotonic()
            await asyncio.sleep(0.05)
    raise RuntimeError(f"{what} did not answer {url} within {timeout:.0f}s")


def clean_env() -> dict[str, str]:
    """This environment without hitl's and Slack's settings, with this checkout first on the import path: the
    subprocesses (`python -m bench.…`, `hitl serve`) run the code of the checkout the benchmark runs from,
    whatever copy of hitl is installed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HITL_", "SLACK_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])])
    return env


@dataclass
class EmulatorProcess:
    """`bench/emulator_server.py` as a subprocess, and a client for its `/bench/*` routes."""

    workdir: Path
    post_rate: float = 0.0
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    root: str = ""
    _http: httpx.AsyncClient | None = None

    @property
    def api_url(self) -> str:
        return f"{self.root}/api/"

    async def start(self) -> EmulatorProcess:
        self.port = free_port()
        self.root = f"http://127.0.0.1:{self.port}"
        cmd = [
            sys.executable,
            "-m",
            "bench.emulator_server",
            "--port",
            str(self.port),
            "--post-rate",
            str(self.post_rate),
        ]
        with open(self.workdir / "emulator.log", "ab") as out:
            self.proc = subprocess.Popen(cmd, cwd=ROOT, env=clean_env(), stdout=out, stderr=subprocess.STDOUT)
        await wait_http(self.proc, f"{self.root}/bench/stats", 60, "the emulator")
        self._http = httpx.AsyncClient(base_url=self.root, timeout=60)
        return self

    async def stop(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None
        await stop_process(self.proc)

    async def stats(self) -> dict[str, Any]:
        assert self._http is not None
        return (await self._http.get("/bench/stats")).json()

    async def calls(self, method: str | None = None, since: int = 0) -> dict[str, Any]:
        assert self._http is not None
        params: dict[str, Any] = {"since": since}
        if method:
            params["method"] = method
        return (await self._http.get("/bench/calls", params=params)).json()

    async def messages(self, channel: str) -> list[dict[str, Any]]:
        assert self._http is not None
        return (await self._http.get("/bench/messages", params={"channel": channel})).json()["messages"]

    async def set_post_rate(self, per_second: float) -> None:
        assert self._http is not None
        await self._http.post("/bench/post-rate", params={"per_second": per_second})

    async def forget(self) -> None:
        assert self._http is not None
        await self._http.post("/bench/forget")


@dataclass
class ServerProcess:
    """`hitl serve` (or the bare Bolt app) as a subprocess on a loopback port."""

    name: str
    cmd: list[str]
    env: dict[str, str]
    workdir: Path
    port: int
    proc: subprocess.Popen[bytes] | None = None
    started_after: float = 0.0
    _spawned: float = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def log_path(self) -> Path:
        """stdout and stderr of the process."""
        return self.workdir / f"{self.name}.log"

    async def start(self, timeout: float = 120.0) -> ServerProcess:
        self.spawn()
        await self.wait_ready(timeout)
        return self

    def spawn(self) -> subprocess.Popen[bytes]:
        """Start the process without waiting for it (start() = spawn() + wait_ready())."""
        self._spawned = time.monotonic()
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(self.cmd, cwd=self.workdir, env=self.env, stdout=out, stderr=subprocess.STDOUT)
        return self.proc

    async def wait_ready(self, timeout: float = 120.0) -> float:
        """Wait for /healthz to answer 200; returns the time.monotonic() it did."""
        assert self.proc is not None
        ready = await wait_http(self.proc, f"{self.url}/healthz", timeout, self.name)
        self.started_after = ready - self._spawned
        return ready

    async def stop(self) -> None:
        await stop_process(self.proc)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""


def hitl_server(
    workdir: Path,
    db_url: str,
    api_url: str,
    policy_yaml: str,
    *,
    log_level: str = "warning",
    name: str = "hitl",
    **extra_env: Any,
) -> ServerProcess:
    """`hitl serve` with the bench's secrets, a policy file, loopback only. extra_env: more HITL_* settings."""
    policy = workdir / f"{name}-policy.yml"
    policy.write_text(policy_yaml)
    port = free_port()
    env = clean_env()
    env.update(
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=api_url,
        HITL_API_TOKEN=API_TOKEN,
        HITL_DATABASE_URL=db_url,
        HITL_POLICY=str(policy),
        HITL_HOST="127.0.0.1",
        PORT=str(port),
        HITL_LOG_LEVEL=log_level,
        PYTHONUNBUFFERED="1",
    )
    env.update({k: str(v) for k, v in extra_env.items()})
    return ServerProcess(name, [str(HITL_BIN), "serve"], env, workdir, port)


def bare_bolt_server(workdir: Path, api_url: str, *, log_level: str = "warning") -> ServerProcess:
    port = free_port()
    env = clean_env()
    env.update(
        SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_SIGNING_SECRET=SIGNING_SECRET, SLACK_API_URL=api_url, PYTHONUNBUFFERED="1"
    )
    cmd = [sys.executable, "-m", "bench.bare_bolt", "--port", str(port), "--log-level", log_level]
    return ServerProcess("bare-bolt", cmd, env, workdir, port)


# ---- hitl's HTTP API ------------------------------------------------------------------------------------------


def api_client(base_url: str, *, connections: int = 64, timeout: float = 30.0) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=base_url,
        headers={"Authorization": f"Bearer {API_TOKEN}"},
        timeout=timeout,
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
    )


async def post_escalations(client: httpx.AsyncClient, bodies: list[dict[str, Any]], concurrency: int) -> dict[str, Any]:
    """POST every body with `concurrency` closed-loop clients. Returns statuses, latencies and the elapsed time."""
    statuses: dict[str, int] = {}
    latencies: list[float] = []
    accepted: list[tuple[float, str]] = []
    pending = iter(bodies)

    async def worker() -> None:
        for body in pending:
            began = time.perf_counter()
            try:
                response = await client.post("/v1/escalations", json=body)
                key = str(response.status_code)
            except httpx.HTTPError as exc:
                key = type(exc).__name__
            done = time.perf_counter()
            latencies.append(done - began)
            statuses[key] = statuses.get(key, 0) + 1
            if key == "201":
                accepted.append((done, body["case_id"]))

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - began
    return {
        "statuses": statuses,
        "latencies": latencies,
        "elapsed": elapsed,
        "accepted": [c for _, c in sorted(accepted)],
        "accepted_at": sorted(t - began for t, _ in accepted),  # seconds from the start
    }


async def wait_posted(client: httpx.AsyncClient, case_ids: list[str], timeout: float) -> dict[str, str]:
    """Poll GET /v1/escalations/{id} until every case has a message_ts (or the timeout). Returns {case_id: ts}."""
    found: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    waiting = list(case_ids)
    sem = asyncio.Semaphore(16)

    async def check(case_id: str) -> None:
        async with sem:
            response = await client.get(f"/v1/escalations/{case_id}")
            if response.status_code == 200 and response.json().get("message_ts"):
                found[case_id] = response.json()["message_ts"]

    while waiting and time.monotonic() < deadline:
        # The oldest case is posted first in its channel: check the last one, and all once it is there.
        await check(waiting[-1])
        if waiting[-1] in found:
            await asyncio.gather(*(check(c) for c in waiting if c not in found))
            waiting = [c for c in waiting if c not in found]
        if waiting:
            await asyncio.sleep(0.5)
    return found


# ---- an open-loop (fixed-rate) load generator -----------------------------------------------------------------


@dataclass
class OpenLoopResult:
    rate: float
    planned: int
    latencies: list[float] = field(default_factory=list)  # seconds, response time measured from the scheduled send
    send_lag: list[float] = field(default_factory=list)  # seconds the generator started a request after its slot
    statuses: dict[str, int] = field(default_factory=dict)
    sent_at: list[float] = field(default_factory=list)  # scheduled send time (time.monotonic()) per request index
    elapsed: float = 0.0

    @property
    def non_200(self) -> int:
        return sum(n for s, n in self.statuses.items() if s != "200")


async def open_loop(
    send: Callable[[int], Awaitable[Any]], *, rate: float, duration: float, drain_timeout: float = 30.0
) -> OpenLoopResult:
    """Start request i at t0 + i / rate whatever happened to the earlier ones (no coordinated omission), and time
    each from its scheduled start. `send(i)` makes request i and returns an httpx response or a status code."""
    loop = asyncio.get_running_loop()
    planned = int(rate * duration)
    result = OpenLoopResult(rate=rate, planned=planned, sent_at=[0.0] * planned)
    lat: list[float | None] = [None] * planned
    lag: list[float] = [0.0] * planned
    t0 = loop.time() + 0.1

    async def one(i: int, scheduled: float) -> None:
        lag[i] = loop.time() - scheduled
        try:
            response = await send(i)
            key = str(getattr(response, "status_code", response))
        except (TimeoutError, httpx.HTTPError, aiohttp.ClientError, OSError) as exc:
            key = type(exc).__name__
        lat[i] = loop.time() - scheduled
        result.statuses[key] = result.statuses.get(key, 0) + 1

    tasks = []
    for i in range(planned):
        scheduled = t0 + i / rate
        result.sent_at[i] = scheduled
        delay = scheduled - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i, scheduled)))
    _, still = await asyncio.wait(tasks, timeout=drain_timeout)
    for task in still:
        task.cancel()
    if still:
        result.statuses["unfinished"] = len(still)
    result.elapsed = loop.time() - t0
    result.latencies = [x for x in lat if x is not None]
    result.send_lag = lag
    return result


class LoadClient:
    """POSTs for the load generator: aiohttp (default: about a quarter of httpx's CPU per request, which matters
    on a 2-core machine where the generator shares the CPUs with the server) or httpx."""

    def __init__(self, base_url: str, kind: str = "aiohttp", connections: int = 500, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.kind = kind
        self._httpx: httpx.AsyncClient | None = None
        self._aiohttp: aiohttp.ClientSession | None = None
        if kind == "httpx":
            limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
            self._httpx = httpx.AsyncClient(base_url=self.base_url, timeout=timeout, limits=limits)
        else:
            self._timeout = aiohttp.ClientTimeout(total=timeout)
            self._connections = connections

    async def __aenter__(self) -> LoadClient:
        if self.kind != "httpx":
            self._aiohttp = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._connections), timeout=self._timeout
            )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._httpx is not None:
            await self._httpx.aclose()
        if self._aiohttp is not None:
            await self._aiohttp.close()

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> int:
        if self._httpx is not None:
            return (await self._httpx.post(path, content=body, headers=headers)).status_code
        assert self._aiohttp is not None
        async with self._aiohttp.post(self.base_url + path, data=body, headers=headers) as response:
            await response.read()
            return response.status

    async def get(self, path: str) -> int:
        if self._httpx is not None:
            return (await self._httpx.get(path)).status_code
        assert self._aiohttp is not None
        async with self._aiohttp.get(self.base_url + path) as response:
            await response.read()
            return response.status
