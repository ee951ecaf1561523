"""Ingest API throughput bench: the real POST /v1/logs against a do-nothing baseline.

    .venv/bin/python -m bench.ingest                 # both modes, 15 s each, ~1.5 min
    .venv/bin/python -m bench.ingest --mode batch --duration 30 --concurrency 32
    .venv/bin/python -m bench.ingest --profile var/bench   # + a py-spy pass (needs py-spy)

Runs the real API (`services.ingest.main:app`) and `bench.baseline_app:app` with uvicorn
(uvloop + httptools, no access log) in subprocesses on loopback ports, and drives them from a
separate load-generator process: `wrk` with a Lua script when it is on PATH (Debian: `apt-get
install wrk`), else a multi-process asyncio raw-HTTP/1.1 client. Every request carries fresh
event ids (bodies are pre-generated templates from tests/factories.py; wrk splices a
per-request id prefix into them), so each accepted entry is a new outbox row.

Per mode (100-entry batches, single entries) it measures the baseline then the real API and
prints events/s, requests/s, p50/p99 latency, the ratio to the baseline, where the CPU went
(API / Postgres / generator, in cores), and checks durability: rows in ingest.outbox must be
>= the entries the 2xx replies acknowledged. The outbox is truncated before each run; no
Celery worker is needed (the flush trigger only queues a task in the Redis db given).
Targets are printed next to the figures, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python bench/ingest.py` (make bench) as well as `-m`
    sys.path.insert(0, str(ROOT))
PYTHON = sys.executable
DEFAULT_DB = "postgresql+asyncpg://postgres@127.0.0.1:5432/mindlake_bench"
DEFAULT_REDIS = "redis://127.0.0.1:6379/14"
PLACEHOLDER = b"@@BENCHID@@"
MODES = ("batch", "single")
DEFAULT_CONCURRENCY = {"batch": 8, "single": 64}

TARGET_BATCH_EVENTS = 25_000
TARGET_BATCH_P99_MS = 100.0
TARGET_SINGLE_RATIO = 0.5


# --------------------------------------------------------------------------- bodies


def build_templates(entries_per_request: int, count: int, seed: int = 7) -> list[list[bytes]]:
    """`count` request bodies, each split at its event-id placeholders.

    Joining the fragments with one id prefix between them gives a body whose entries carry
    `<prefix><j>` event ids (j unique within the body): unique prefix -> unique ids.
    """
    from tests import factories

    random.seed(seed)
    templates = []
    for _ in range(count):
        entries = []
        for j in range(entries_per_request):
            entry = random.choice(factories.ALL)()
            entries.append({"event_id": PLACEHOLDER.decode() + str(j), **entry})
        body = orjson.dumps({"entries": entries} if entries_per_request > 1 else entries[0])
        templates.append(body.split(PLACEHOLDER))
    return templates


def write_fragments(templates: list[list[bytes]], path: Path) -> None:
    """One fragment a line (orjson never writes a raw newline), each template led by 'T <n>'."""
    with path.open("wb") as out:
        for frags in templates:
            assert all(b"\n" not in f for f in frags)
            out.write(b"T %d\n" % len(frags))
            for f in frags:
                out.write(f + b"\n")


# --------------------------------------------------------------------------- wrk

WRK_LUA = r"""
local frag_path = os.getenv("BENCH_FRAGMENTS")
local key = os.getenv("BENCH_KEY")
local run = os.getenv("BENCH_RUN")
local templates = {}
do
  local cur, left = nil, 0
  for line in io.lines(frag_path) do
    if left == 0 then
      left = tonumber(line:match("^T (%d+)$"))
      cur = {}
      templates[#templates + 1] = cur
    else
      cur[#cur + 1] = line
      left = left - 1
    end
  end
end

local threads = {}
local next_tid = 1
function setup(thread)
  thread:set("tid", next_tid)
  next_tid = next_tid + 1
  threads[#threads + 1] = thread
end

function init(args)
  n, ok, bad, accepted = 0, 0, 0, 0
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  if key and key ~= "" then wrk.headers["Authorization"] = "Bearer " .. key end
end

function request()
  n = n + 1
  local t = templates[(n % #templates) + 1]
  local id = run .. "t" .. tid .. "n" .. n .. "e"
  local parts = { t[1] }
  for i = 2, #t do
    parts[#parts + 1] = id
    parts[#parts + 1] = t[i]
  end
  return wrk.format(nil, "/v1/logs", nil, table.concat(parts))
end

function response(status, headers, body)
  if status >= 200 and status < 300 then
    ok = ok + 1
    local a = body:match('^{"accepted":(%d+)')
    if a then accepted = accepted + tonumber(a) end
  else
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local ok_t, bad_t, acc_t = 0, 0, 0
  for _, t in ipairs(threads) do
    ok_t = ok_t + t:get("ok")
    bad_t = bad_t + t:get("bad")
    acc_t = acc_t + t:get("accepted")
  end
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"duration_us":%d,"requests":%d,"ok":%d,"bad":%d,"accepted":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,' ..
    '"err_connect":%d,"err_read":%d,"err_write":%d,"err_timeout":%d}\n',
    summary.duration, summary.requests, ok_t, bad_t, acc_t,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.timeout))
end
"""


@dataclass
class LoadResult:
    seconds: float
    requests: int  # completed responses
    ok: int  # 2xx
    bad: int  # non-2xx responses
    errors: int  # socket errors / timeouts
    accepted: int  # entries acknowledged as accepted by 2xx replies
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    cpu: dict[str, float] = field(default_factory=dict)  # cores used, by component
    outside: list[tuple[float, str]] = field(default_factory=list)  # busiest other processes


def run_wrk(
    port: int,
    fragments: Path,
    key: str,
    run_id: str,
    duration: float,
    concurrency: int,
    threads: int,
    cpu: CpuMeter,
) -> LoadResult:
    script = fragments.with_suffix(".lua")
    script.write_text(WRK_LUA)
    env = {**os.environ, "BENCH_FRAGMENTS": str(fragments), "BENCH_KEY": key, "BENCH_RUN": run_id}
    cmd = [
        "wrk",
        f"-t{threads}",
        f"-c{concurrency}",
        f"-d{max(1, round(duration))}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        f"http://127.0.0.1:{port}/v1/logs",
    ]
    cpu.start()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    cpu.generator_pids = [proc.pid]
    out, err = proc.communicate()
    # The generator's CPU is read from its rusage: wrk has exited by now.
    usage = cpu.stop()
    text = out.decode()
    line = next((ln for ln in text.splitlines() if ln.startswith("BENCHJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result:\n{text}\n{err.decode()}")
    r = json.loads(line.removeprefix("BENCHJSON "))
    return LoadResult(
        seconds=r["duration_us"] / 1e6,
        requests=r["requests"],
        ok=r["ok"],
        bad=r["bad"],
        errors=r["err_connect"] + r["err_read"] + r["err_write"] + r["err_timeout"],
        accepted=r["accepted"],
        p50_ms=r["p50_us"] / 1000,
        p90_ms=r["p90_us"] / 1000,
        p99_ms=r["p99_us"] / 1000,
        max_ms=r["max_us"] / 1000,
        cpu=usage,
        outside=cpu.outside,
    )


# --------------------------------------------------------------------------- python generator


def _py_worker(
    port: int,
    templates: list[list[bytes]],
    key: str,
    prefix: str,
    duration: float,
    connections: int,
    out: Any,
) -> None:
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    head = (
        b"POST /v1/logs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        + (f"Authorization: Bearer {key}\r\n".encode() if key else b"")
        + b"Content-Length: "
    )
    counter = 0
    latencies: list[float] = []
    stats = {"ok": 0, "bad": 0, "errors": 0, "accepted": 0}

    def next_request() -> bytes:
        nonlocal counter
        counter += 1
        frags = templates[counter % len(templates)]
        ident = f"{prefix}n{counter}e".encode()
        body = ident.join(frags)
        return head + str(len(body)).encode() + b"\r\n\r\n" + body

    async def one_connection(deadline: float) -> None:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            stats["errors"] += 1
            return
        try:
            while time.perf_counter() < deadline:
                req = next_request()
                t0 = time.perf_counter()
                writer.write(req)
                header = await reader.readuntil(b"\r\n\r\n")
                status = int(header[9:12])
                length = 0
                for hline in header.split(b"\r\n"):
                    if hline[:15].lower() == b"content-length:":
                        length = int(hline[15:])
                body = await reader.readexactly(length) if length else b""
                latencies.append(time.perf_counter() - t0)
                if 200 <= status < 300:
                    stats["ok"] += 1
                    if body.startswith(b'{"accepted":'):
                        stats["accepted"] += int(body[12 : body.index(b",")])
                else:
                    stats["bad"] += 1
        except (OSError, asyncio.IncompleteReadError, ValueError):
            stats["errors"] += 1
        finally:
            writer.close()

    async def main() -> None:
        deadline = time.perf_counter() + duration
        await asyncio.gather(*(one_connection(deadline) for _ in range(connections)))

    t0 = time.perf_counter()
    asyncio.run(main())
    out.send((time.perf_counter() - t0, stats, latencies))
    out.close()


def run_python(
    port: int,
    templates: list[list[bytes]],
    key: str,
    run_id: str,
    duration: float,
    concurrency: int,
    processes: int,
    cpu: CpuMeter,
) -> LoadResult:
    ctx = mp.get_context("fork")
    per = [
        concurrency // processes + (1 if i < concurrency % processes else 0)
        for i in range(processes)
    ]
    pipes, procs = [], []
    cpu.start()
    for i, conns in enumerate(c for c in per if c):
        recv, send = ctx.Pipe(duplex=False)
        p = ctx.Process(
            target=_py_worker,
            args=(port, templates, key, f"{run_id}p{i}", duration, conns, send),
        )
        p.start()
        pipes.append(recv)
        procs.append(p)
    cpu.generator_pids = [p.pid for p in procs if p.pid]
    results = []
    for recv in pipes:
        results.append(recv.recv())
    usage = cpu.stop()  # before join: the workers' /proc entries are still there
    for p in procs:
        p.join()
    seconds = max(r[0] for r in results)
    lat = sorted(x for r in results for x in r[2])
    stats = {k: sum(r[1][k] for r in results) for k in ("ok", "bad", "errors", "accepted")}

    def pct(q: float) -> float:
        return lat[min(len(lat) - 1, int(q * len(lat)))] * 1000 if lat else float("nan")

    return LoadResult(
        seconds=seconds,
        requests=len(lat),
        ok=stats["ok"],
        bad=stats["bad"],
        errors=stats["errors"],
        accepted=stats["accepted"],
        p50_ms=pct(0.50),
        p90_ms=pct(0.90),
        p99_ms=pct(0.99),
        max_ms=lat[-1] * 1000 if lat else float("nan"),
        cpu=usage,
        outside=cpu.outside,
    )


# --------------------------------------------------------------------------- CPU accounting

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _proc_stat(pid: int) -> tuple[str, int, float] | None:
    """(command line, ppid, cpu seconds) of a live process."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
        cmdline = (
            Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        )
    except OSError:
        return None
    comm = raw[raw.index("(") + 1 : raw.rindex(")")]
    rest = raw[raw.rindex(")") + 2 :].split()
    return cmdline or comm, int(rest[1]), (int(rest[11]) + int(rest[12])) / CLK_TCK


def _all_procs() -> dict[int, tuple[str, int, float]]:
    procs = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = _proc_stat(int(entry))
            if st:
                procs[int(entry)] = st
    return procs


def _is_bench_postgres(cmdline: str, database: str) -> bool:
    """The bench database's backends and the server's own processes (WAL writer, checkpointer,
    autovacuum); not other databases' backends."""
    if not cmdline.startswith("postgres"):
        return False
    if f" {database} " in cmdline + " ":
        return True
    return "(" not in cmdline and " worker " not in cmdline  # no client host: a server process


def _busy_seconds() -> float:
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    values = [int(v) for v in fields]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values[:8]) - idle) / CLK_TCK


class CpuMeter:
    """CPU seconds by component over one run, as cores used (1.0 = one core busy).

    `postgres` is the bench database's backends and the server's processes (a backend that
    exits mid-run is missed); `other` is the rest of the machine's busy time: the kernel's
    share, short-lived backends, and whatever else runs on the machine.
    """

    def __init__(self, api_pids: list[int], database_url: str | None = None) -> None:
        self.api_pids = api_pids
        self.database_url = database_url
        self.database = asyncpg_dsn(database_url or DEFAULT_DB).rsplit("/", 1)[1].split("?")[0]
        self.generator_pids: list[int] = []
        self.outside: list[tuple[float, str]] = []

    @staticmethod
    def _tree(procs: dict[int, tuple[str, int, float]], roots: list[int]) -> float:
        members = set(roots)
        grew = True
        while grew:
            grew = False
            for pid, (_, ppid, _) in procs.items():
                if ppid in members and pid not in members:
                    members.add(pid)
                    grew = True
        return sum(procs[p][2] for p in members if p in procs)

    def _sample(self) -> dict[str, float]:
        procs = _all_procs()
        self._procs = procs
        sample = {
            "api": self._tree(procs, self.api_pids),
            "postgres": sum(
                c for (cmd, _, c) in procs.values() if _is_bench_postgres(cmd, self.database)
            ),
            "generator": self._tree(procs, self.generator_pids) if self.generator_pids else 0.0,
            "busy": _busy_seconds(),
        }
        if self.database_url:
            sample.update(asyncio.run(pg_counters(self.database_url)))
        return sample

    def start(self) -> None:
        self.generator_pids = []
        t = os.times()
        self._children0 = t.children_user + t.children_system
        self._before = self._sample()
        self._procs_before = self._procs
        self._t0 = time.perf_counter()

    def stop(self) -> dict[str, float]:
        wall = time.perf_counter() - self._t0
        after = self._sample()
        used = {k: (after[k] - self._before.get(k, 0.0)) / wall for k in after}
        if not self.generator_pids or used["generator"] <= 0:
            # wrk has exited (reaped): its CPU shows in our children's rusage.
            t = os.times()
            used["generator"] = (t.children_user + t.children_system - self._children0) / wall
        used["postgres"] = max(0.0, used["postgres"])
        used["other"] = max(0.0, used["busy"] - used["api"] - used["generator"] - used["postgres"])
        # the busiest processes outside the bench, to name them when the machine is not idle
        ours = {os.getpid(), *self.api_pids, *self.generator_pids}
        outside = []
        for pid, (cmd, ppid, cpu) in self._procs.items():
            if pid in ours or ppid in ours or _is_bench_postgres(cmd, self.database):
                continue
            share = (cpu - self._procs_before.get(pid, (cmd, ppid, 0.0))[2]) / wall
            if share > 0.05:
                outside.append((share, cmd.strip()[:70]))
        self.outside = sorted(outside, reverse=True)[:3]
        return used


async def pg_counters(url: str) -> dict[str, float]:
    """Cumulative server counters: new sessions, commits, WAL bytes and WAL flushes."""
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        row = await conn.fetchrow(
            "SELECT d.sessions, d.xact_commit, w.wal_bytes, w.wal_sync"
            " FROM pg_stat_database d, pg_stat_wal w WHERE d.datname = current_database()"
        )
    finally:
        await conn.close()
    return {
        "pg_sessions": float(row[0]),
        "pg_commits": float(row[1]),
        "wal_bytes": float(row[2]),
        "wal_syncs": float(row[3]),
    }


# --------------------------------------------------------------------------- servers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    name: str
    port: int
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def pids(self) -> list[int]:
        return [self.proc.pid]

    def worker_pids(self) -> list[int]:
        kids = [p for p, (_, ppid, _) in _all_procs().items() if ppid == self.proc.pid]
        # uvicorn --workers N: a supervisor and N children (plus multiprocessing helpers)
        return kids or [self.proc.pid]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_server(name: str, app: str, workers: int, env: dict[str, str], logdir: Path) -> Server:
    port = free_port()
    log = logdir / f"{name}.log"
    cmd = [
        PYTHON,
        "-m",
        "uvicorn",
        app,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    server = Server(name, port, proc, log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited at start:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"{name} did not become healthy:\n{log.read_text()[-3000:]}")


# --------------------------------------------------------------------------- database


def asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def ensure_database(url: str) -> None:
    dsn = asyncpg_dsn(url)
    name = dsn.rsplit("/", 1)[1].split("?")[0]
    admin = await asyncpg.connect(dsn.rsplit("/", 1)[0] + "/postgres")
    try:
        if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()


async def outbox_rows(url: str, *, truncate: bool = False) -> int:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        if truncate:
            await conn.execute("TRUNCATE ingest.outbox")
            await conn.execute("CHECKPOINT")  # no checkpoint from the previous run mid-way
            return 0
        return int(await conn.fetchval("SELECT count(*) FROM ingest.outbox"))
    finally:
        await conn.close()


def prepare(env: dict[str, str], key: str | None) -> str:
    asyncio.run(ensure_database(env["MINDLAKE_DATABASE_URL"]))
    mindlake = [str(Path(PYTHON).with_name("mindlake"))]
    subprocess.run([*mindlake, "migrate"], cwd=ROOT, env=env, check=True, capture_output=True)
    if key:
        return key
    out = subprocess.run(
        [*mindlake, "keys", "create", "--name", "bench", "--scope", "ingest:write", "--quiet"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip().splitlines()[-1]


def flush_redis(url: str) -> None:
    with contextlib.suppress(Exception):
        import redis

        redis.Redis.from_url(url).flushdb()


# --------------------------------------------------------------------------- the bench


@dataclass
class ModeResult:
    mode: str
    entries: int
    concurrency: int
    baseline: LoadResult
    api: LoadResult
    outbox_rows: int


def fmt_cpu(cpu: dict[str, float]) -> str:
    text = (
        f"cores busy {cpu['busy']:.2f}: api {cpu['api']:.2f}, postgres "
        f"{cpu['postgres']:.2f}, generator {cpu['generator']:.2f}, other {cpu['other']:.2f}"
    )
    if "pg_sessions" in cpu:
        text += (
            f" | pg/s: {cpu['pg_commits']:,.0f} commits, {cpu['wal_syncs']:,.0f} WAL "
            f"fsyncs, {cpu['wal_bytes'] / 2**20:,.1f} MiB WAL, "
            f"{cpu['pg_sessions']:,.1f} new sessions"
        )
    return text


def report(results: list[ModeResult], generator: str, workers: int) -> None:
    cores = os.cpu_count() or 1
    print()
    print(f"== ingest bench: {cores} cores, {workers} API worker(s), generator {generator}")
    hdr = (
        f"{'mode':<7}{'target':<9}{'conc':>5}{'req/s':>10}{'events/s':>11}"
        f"{'p50 ms':>9}{'p99 ms':>9}{'non2xx':>8}{'err':>5}"
    )
    print(hdr)
    for r in results:
        for label, res in (("baseline", r.baseline), ("api", r.api)):
            rps = res.requests / res.seconds
            eps = rps * r.entries
            print(
                f"{r.mode:<7}{label:<9}{r.concurrency:>5}{rps:>10,.0f}{eps:>11,.0f}"
                f"{res.p50_ms:>9.1f}{res.p99_ms:>9.1f}{res.bad:>8}{res.errors:>5}"
            )
            print(f"{'':<16}{fmt_cpu(res.cpu)}")
    print()
    for r in results:
        api_rps = r.api.ok / r.api.seconds
        base_rps = r.baseline.requests / r.baseline.seconds
        ratio = api_rps / base_rps if base_rps else 0.0
        events = r.api.accepted / r.api.seconds
        durable = r.outbox_rows >= r.api.accepted and r.api.ok > 0
        print(
            f"[{r.mode}] {events:,.0f} accepted events/s, {api_rps:,.0f} 2xx req/s, "
            f"{ratio:.2f}x the baseline's req/s, p50 {r.api.p50_ms:.1f} ms, "
            f"p99 {r.api.p99_ms:.1f} ms"
        )
        if r.mode == "batch":
            ok_e = events >= TARGET_BATCH_EVENTS
            ok_p = r.api.p99_ms < TARGET_BATCH_P99_MS
            print(
                f"  target >= {TARGET_BATCH_EVENTS:,} events/s: "
                f"{'MET' if ok_e else 'SHORT'} ({events / TARGET_BATCH_EVENTS:.0%})"
                f"; p99 < {TARGET_BATCH_P99_MS:.0f} ms: {'MET' if ok_p else 'SHORT'}"
            )
        else:
            ok_r = ratio >= TARGET_SINGLE_RATIO
            print(
                f"  target >= {TARGET_SINGLE_RATIO}x baseline req/s: {'MET' if ok_r else 'SHORT'}"
            )
        print(
            f"  durable: outbox holds {r.outbox_rows:,} rows for {r.api.accepted:,} "
            f"acknowledged entries ({r.api.ok:,} 2xx replies) -> "
            f"{'OK' if durable else 'MISMATCH'}"
        )
        gen = r.baseline.cpu.get("generator", 0.0)
        srv = r.baseline.cpu.get("api", 0.0)
        cores = os.cpu_count() or 1
        if srv > 0.85 * min(workers, cores):
            bound = "server-bound"
        elif r.baseline.cpu.get("busy", 0.0) > 0.9 * cores:
            bound = "machine-bound: every core busy"
        else:
            bound = "NOT server-bound: raise --concurrency"
        print(
            f"  generator check: against the baseline ({base_rps:,.0f} req/s) the generator "
            f"used {gen:.2f} cores and the baseline server {srv:.2f} cores ({bound})"
        )
    worst = max(x.cpu.get("other", 0.0) for r in results for x in (r.baseline, r.api))
    if worst > 0.25:
        print(
            f"\nWARNING: up to {worst:.2f} cores went to processes outside the bench: "
            "the figures are low; rerun on an idle machine"
        )
        seen = {
            cmd: share for r in results for x in (r.baseline, r.api) for share, cmd in x.outside
        }
        for cmd, share in sorted(seen.items(), key=lambda kv: -kv[1])[:4]:
            print(f"  {share:.2f} cores  {cmd}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mode", choices=(*MODES, "both"), default="both")
    ap.add_argument("--duration", type=float, default=15.0, help="seconds measured per run")
    ap.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up per run")
    ap.add_argument(
        "--concurrency",
        type=int,
        default=None,
        help=f"connections (default: {DEFAULT_CONCURRENCY})",
    )
    ap.add_argument("--workers", type=int, default=1, help="uvicorn workers of each app")
    ap.add_argument("--batch-size", type=int, default=100)
    ap.add_argument("--templates", type=int, default=64, help="distinct pre-generated bodies")
    ap.add_argument("--generator", choices=("auto", "wrk", "python"), default="auto")
    ap.add_argument(
        "--gen-threads",
        type=int,
        default=1,
        help="wrk threads / generator processes (python default: 2)",
    )
    ap.add_argument(
        "--database-url", default=os.environ.get("MINDLAKE_BENCH_DATABASE_URL", DEFAULT_DB)
    )
    ap.add_argument(
        "--redis-url", default=os.environ.get("MINDLAKE_BENCH_REDIS_URL", DEFAULT_REDIS)
    )
    ap.add_argument(
        "--key",
        default=os.environ.get("MINDLAKE_BENCH_KEY"),
        help="an ingest:write key (default: create one)",
    )
    ap.add_argument(
        "--profile",
        metavar="DIR",
        default=None,
        help="after the measured runs, py-spy the API for one more batch run "
        "and write DIR/ingest-<mode>.{txt,svg}",
    )
    ap.add_argument("--json", metavar="FILE", default=None, help="also write results as JSON")
    args = ap.parse_args(argv)

    modes = list(MODES) if args.mode == "both" else [args.mode]
    generator = args.generator
    if generator == "auto":
        generator = "wrk" if shutil.which("wrk") else "python"
    if generator == "wrk" and not shutil.which("wrk"):
        ap.error("wrk is not on PATH (Debian: apt-get install wrk), use --generator python")
    gen_threads = args.gen_threads if generator == "wrk" or args.gen_threads > 1 else 2

    env = {
        **os.environ,
        "MINDLAKE_DATABASE_URL": args.database_url,
        "MINDLAKE_REDIS_URL": args.redis_url,
        "PYTHONPATH": str(ROOT),
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    print(f"preparing {args.database_url} ...", flush=True)
    key = prepare(env, args.key)
    flush_redis(args.redis_url)

    tmp = Path(tempfile.mkdtemp(prefix="mindlake-bench-"))
    servers: list[Server] = []
    results: list[ModeResult] = []
    try:
        baseline = start_server("baseline", "bench.baseline_app:app", args.workers, env, tmp)
        servers.append(baseline)
        api = start_server("api", "services.ingest.main:app", args.workers, env, tmp)
        servers.append(api)

        def load(
            server: Server,
            mode: str,
            templates: list[list[bytes]],
            frag: Path,
            seconds: float,
            conc: int,
            cpu: CpuMeter,
        ) -> LoadResult:
            run_id = "r" + uuid.uuid4().hex[:10]
            if generator == "wrk":
                return run_wrk(server.port, frag, key, run_id, seconds, conc, gen_threads, cpu)
            return run_python(server.port, templates, key, run_id, seconds, conc, gen_threads, cpu)

        for mode in modes:
            entries = args.batch_size if mode == "batch" else 1
            conc = args.concurrency or DEFAULT_CONCURRENCY[mode]
            templates = build_templates(entries, args.templates)
            frag = tmp / f"{mode}.frag"
            write_fragments(templates, frag)
            measured: dict[str, LoadResult] = {}
            for server in (baseline, api):
                cpu = CpuMeter(server.pids, args.database_url)
                if args.warmup > 0:
                    load(server, mode, templates, frag, args.warmup, conc, cpu)
                if server is api:
                    asyncio.run(outbox_rows(args.database_url, truncate=True))
                print(
                    f"  {mode}: {server.name}, {conc} connections, {args.duration:.0f} s ...",
                    flush=True,
                )
                measured[server.name] = load(
                    server, mode, templates, frag, args.duration, conc, cpu
                )
            time.sleep(0.5)  # requests cut off by the generator's stop still commit
            rows = asyncio.run(outbox_rows(args.database_url))
            results.append(
                ModeResult(mode, entries, conc, measured["baseline"], measured["api"], rows)
            )

        report(results, f"{generator} x{gen_threads}", args.workers)

        if args.profile:
            profile(api, modes[0], args, tmp, load)
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    if args.json:
        Path(args.json).write_text(
            json.dumps(
                [
                    {
                        "mode": r.mode,
                        "entries": r.entries,
                        "concurrency": r.concurrency,
                        "outbox_rows": r.outbox_rows,
                        "baseline": r.baseline.__dict__,
                        "api": r.api.__dict__,
                    }
                    for r in results
                ],
                indent=2,
                default=str,
            )
        )
    return 0


def profile(api: Server, mode: str, args: argparse.Namespace, tmp: Path, load: Any) -> None:
    """One more run of the real API under py-spy (not measured: sampling slows it)."""
    pyspy = shutil.which("py-spy") or str(Path(PYTHON).with_name("py-spy"))
    if not Path(pyspy).exists():
        print("py-spy is not installed (pip install py-spy): no profile")
        return
    out = Path(args.profile)
    out.mkdir(parents=True, exist_ok=True)
    entries = args.batch_size if mode == "batch" else 1
    conc = args.concurrency or DEFAULT_CONCURRENCY[mode]
    templates = build_templates(entries, args.templates)
    frag = tmp / f"{mode}.frag"
    write_fragments(templates, frag)
    asyncio.run(outbox_rows(args.database_url, truncate=True))
    stacks = out / f"ingest-{mode}.txt"
    spy = subprocess.Popen(
        [
            pyspy,
            "record",
            "--nonblocking",
            "--subprocesses",
            "--rate",
            "250",
            "--duration",
            str(int(args.duration)),
            "--format",
            "raw",
            "-o",
            str(stacks),
            "--pid",
            str(api.proc.pid),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(0.5)
    res = load(
        api, mode, templates, frag, args.duration, conc, CpuMeter(api.pids, args.database_url)
    )
    spy.wait()
    print(
        f"\nprofiled run ({mode}, py-spy 250 Hz): {res.requests / res.seconds:,.0f} req/s; "
        f"collapsed stacks in {stacks} (flamegraph.pl or speedscope.app render them)"
    )
    summarize_profile(stacks)


# Where a sample's time goes, by the first matching frame (searched in this order).
PROFILE_BUCKETS = (
    (
        "flush trigger in the threadpool (sync BackgroundTask)",
        ("run_sync_in_worker_thread", "WorkerThread.run"),
    ),
    ("pool pre-ping (BEGIN; SELECT; ROLLBACK)", ("_async_ping",)),
    ("INSERT ... unnest: encode + send + RETURNING", ("insert_outbox",)),
    ("BEGIN / COMMIT / pool checkout", ("AsyncEngine.begin", "AsyncTransaction", "_checkout")),
    ("pydantic validation", ("TypeAdapter.validate_python",)),
    ("payload model_dump", ("BaseModel.model_dump",)),
    ("check_entries: the rest", ("check_entries",)),
    ("read body + orjson.loads", ("read_json",)),
    ("API-key check", ("KeyVerifier", "require_scope")),
    ("accept/endpoint: reply, metrics", ("accept", "post_logs")),
    ("response write", ("RequestResponseCycle.send",)),
    (
        "FastAPI/Starlette: routing, deps, middleware",
        ("solve_dependencies", "Starlette.__call__", "FastAPI.__call__"),
    ),
    ("event loop, HTTP parsing (uvloop/httptools)", ("Runner.run",)),
)


def summarize_profile(path: Path, top: int = 12) -> None:
    """Shares of py-spy's samples (collapsed stacks) by bucket, and the top self frames."""
    if not path.exists():
        return
    total = 0
    buckets: dict[str, int] = {}
    self_: dict[str, int] = {}
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        total += n
        frames = [f.split(" (")[0] for f in stack.split(";")]
        name = next(
            (label for label, keys in PROFILE_BUCKETS if any(k in f for k in keys for f in frames)),
            "other",
        )
        buckets[name] = buckets.get(name, 0) + n
        leaf = stack.split(";")[-1]
        leaf = leaf.split(" (")[0] + (
            f" ({leaf.split('(')[-1].split(':')[0].rsplit('/', 1)[-1]})" if "(" in leaf else ""
        )
        self_[leaf] = self_.get(leaf, 0) + n
    if not total:
        return
    print(f"API time by bucket ({total} samples, idle excluded):")
    for name, n in sorted(buckets.items(), key=lambda kv: -kv[1]):
        print(f"  {n / total:6.1%}  {name}")
    print("top self frames (C code shows under its Python caller):")
    for f, n in sorted(self_.items(), key=lambda kv: -kv[1])[:top]:
        print(f"  {n / total:6.1%}  {f}")


if __name__ == "__main__":
    raise SystemExit(main())
