"""Load generators of the ingest bench: request bodies, wrk with a Lua script, and a
multi-process asyncio raw-HTTP/1.1 client."""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import random
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from bench.load.config import PLACEHOLDER
from bench.load.cpu import CpuMeter

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
