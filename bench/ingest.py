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

This file is the entry point; the parts live in bench/load/: generator (bodies, wrk, the
Python client), cpu, servers, database, report, profiling, config.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python bench/ingest.py` (make bench) as well as `-m`
    sys.path.insert(0, str(ROOT))

from bench.load.config import DEFAULT_CONCURRENCY, DEFAULT_DB, DEFAULT_REDIS, MODES  # noqa: E402
from bench.load.cpu import CpuMeter  # noqa: E402
from bench.load.database import ensure_database, flush_redis, outbox_rows, prepare  # noqa: E402
from bench.load.generator import (  # noqa: E402
    LoadResult,
    build_templates,
    run_python,
    run_wrk,
    write_fragments,
)
from bench.load.profiling import profile  # noqa: E402
from bench.load.report import ModeResult, report  # noqa: E402
from bench.load.servers import Server, start_server  # noqa: E402

__all__ = ["ensure_database", "main"]  # bench/audit.py imports ensure_database from here


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


if __name__ == "__main__":
    raise SystemExit(main())
