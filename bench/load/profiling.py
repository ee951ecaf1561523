"""One py-spy pass over the real API and where its samples went."""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from bench.load.config import DEFAULT_CONCURRENCY, PYTHON
from bench.load.cpu import CpuMeter
from bench.load.database import outbox_rows
from bench.load.generator import build_templates, write_fragments
from bench.load.servers import Server


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
