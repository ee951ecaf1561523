"""The end-to-end demo: a simulated day of platform logs through the real ingest path.

    python -m scripts.demo [--users N] [--day YYYY-MM-DD] [--seed S] [--keep-running]

Starts Postgres, Redis and a local lake (see scripts/demo_env.py), migrates, creates an API
key, runs the ingest API (uvicorn), a Celery worker and beat, replays the day over HTTP in
100-entry batches, waits until the outbox is drained into the lake and prints what landed.

Running it again replays the same day (yesterday UTC, seed 7) with the same event ids, so the
second run shows deduplication: everything comes back `duplicate` and the lake is unchanged.
Pass another --day or --seed for new data. Logs: var/demo/logs/.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import date
from typing import Any, NoReturn

import httpx
import orjson
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from scripts.demo_env import LOG_DIR, RUN_FILE, Infra, Proc, free_port, start_infra
from scripts.simulate import batches, generate_day

console = Console()
PY = sys.executable


def cli(infra: Infra, *args: str) -> str:
    """Run the `mindlake` CLI with the demo's settings; its stdout, or exit with its log."""
    done = subprocess.run(
        [PY, "-m", "libs.common.cli", *args],
        env=infra.env(),
        capture_output=True,
        text=True,
        check=False,
    )
    shown = done.stderr if args[0] == "keys" else done.stdout + done.stderr  # no key in logs
    (LOG_DIR / f"cli-{args[0]}.log").write_text(shown)
    if done.returncode:
        console.print(done.stdout + done.stderr)
        sys.exit(f"`mindlake {' '.join(args)}` failed")
    return done.stdout


def start_services(infra: Infra) -> str:
    port = free_port()
    celery = [PY, "-m", "celery", "-A", "services.ingest.worker"]
    infra.spawn("api", [PY, "-m", "uvicorn", "services.ingest.main:app", "--host", "127.0.0.1",
                        "--port", str(port), "--no-access-log"])  # fmt: skip
    infra.spawn("worker", [*celery, "worker", "-Q", "ingest", "--pool", "solo",
                           "--hostname", "demo-ingest@%h", "--loglevel", "INFO"])  # fmt: skip
    infra.spawn("beat", [*celery, "beat", "--loglevel", "INFO",
                         "--schedule", str(LOG_DIR.parent / "celerybeat-schedule")])  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        dead = [p for p in infra.procs if not p.alive()]
        if dead:
            fail(dead[0], "exited during start-up")
        try:
            if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                return base
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    fail(next(p for p in infra.procs if p.name == "api"), "did not answer /health in 60 s")


def fail(proc: Proc, what: str) -> NoReturn:
    console.print(f"[red]{proc.name} {what}.[/red] Last lines of {proc.log}:")
    console.print(proc.tail(), markup=False, highlight=False)
    raise SystemExit(1)


def replay(base: str, key: str, entries: list[dict[str, Any]], size: int) -> dict[str, Any]:
    totals: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    columns = [TextColumn("replaying"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    started = time.perf_counter()
    with (
        httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=60) as http,
        Progress(*columns, console=console) as progress,
    ):
        task = progress.add_task("replay", total=len(entries))
        for batch in batches(entries, size):
            reply = http.post("/v1/logs", json={"entries": batch})
            body = reply.json()
            if reply.status_code == 202:
                totals.update({k: body[k] for k in ("accepted", "duplicate", "rejected")})
            elif reply.status_code == 422:  # nothing in the batch was acceptable
                totals["rejected"] += len(batch)
            else:
                sys.exit(f"POST /v1/logs answered {reply.status_code}: {reply.text[:500]}")
            reasons.update(f"{e['field']}: {e['reason']}" for e in body.get("errors", []))
            progress.advance(task, len(batch))
    return {"totals": totals, "reasons": reasons, "seconds": time.perf_counter() - started}


def drain(infra: Infra, base: str, timeout: float) -> float:
    """Wait until the worker has landed every outbox row; seconds waited."""
    worker = next(p for p in infra.procs if p.name == "worker")
    started = time.monotonic()
    with console.status("waiting for the worker to land the outbox in the lake") as status:
        while time.monotonic() - started < timeout:
            if not worker.alive():
                fail(worker, "died")
            depth = httpx.get(f"{base}/health", timeout=10).json()["outbox_depth"]
            if depth == 0:
                return time.monotonic() - started
            status.update(f"waiting for the worker: {depth:,} rows still in the outbox")
            time.sleep(0.5)
    fail(worker, f"left rows in the outbox after {timeout:.0f} s")


async def outbox_counts(dsn: str) -> dict[str, int]:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        row = await conn.fetchrow(
            "SELECT count(*) AS rows, count(flushed_at) AS landed,"
            " (SELECT count(*) FROM ingest.flush_batches WHERE state = 'landed') AS batches"
            " FROM ingest.outbox"
        )
    finally:
        await conn.close()
    return dict(row)


def raw_table(infra: Infra) -> tuple[Any, Any, str]:
    from libs.common.lake import Lake
    from services.ingest.config import IngestSettings

    settings = IngestSettings(lake_root=infra.lake_root)
    lake = Lake(settings)
    return lake, lake.delta_table(settings.ingest_raw_table), settings.ingest_raw_table


def pair_lake_with_database(infra: Infra) -> None:
    """A demo database whose rows are in no lake (the lake folder was deleted) is created
    afresh: its dedup would take every resent entry as a duplicate and land nothing."""
    _, table, _ = raw_table(infra)
    counts = asyncio.run(outbox_counts(infra.asyncpg_dsn))
    if table is None and counts["landed"]:
        if infra.admin_dsn is None:
            sys.exit("the database has landed rows but the lake has no raw table; use a new one")
        infra.reset_database()
        cli(infra, "migrate")
        console.print("[yellow]the demo database's rows were in no lake: created it afresh")


def summary(infra: Infra, result: dict[str, Any], entries: list[dict[str, Any]]) -> None:
    import pyarrow.compute as pc

    totals, reasons = result["totals"], result["reasons"]
    console.rule("[bold]what happened")
    console.print(
        f"sent {len(entries):,} entries in {result['seconds']:.1f} s "
        f"({len(entries) / result['seconds']:,.0f}/s): [green]{totals['accepted']:,} accepted"
        f"[/green], [yellow]{totals['duplicate']:,} duplicate[/yellow], "
        f"[red]{totals['rejected']:,} rejected[/red]"
    )
    if not totals["accepted"] and totals["duplicate"]:
        console.print(
            "this day was replayed before: every entry deduplicated (--day/--seed for new)"
        )
    for reason, n in reasons.most_common(4):
        console.print(f"  rejected x{n}: {reason[:90]}", highlight=False)
    counts = asyncio.run(outbox_counts(infra.asyncpg_dsn))
    console.print(f"outbox: {counts['rows']:,} rows, {counts['landed']:,} landed in "
                  f"{counts['batches']:,} flush batches")  # fmt: skip

    lake, table, path = raw_table(infra)
    console.print(f"lake root: [bold]{lake.root}[/bold]")
    if table is None:
        sys.exit("the raw table does not exist: nothing landed")
    rows = table.to_pyarrow_table(columns=["service", "event_date", "pii_findings"])
    console.print(f"raw table {lake.uri(path)}: version {table.version()}, "
                  f"{len(table.file_uris())} files, {rows.num_rows:,} rows")  # fmt: skip
    grid = Table("service", "event date", "rows", "PII findings")
    grouped = rows.group_by(["service", "event_date"]).aggregate(
        [("pii_findings", "count"), ("pii_findings", "sum")]
    )
    for r in sorted(grouped.to_pylist(), key=lambda r: (r["service"], r["event_date"])):
        grid.add_row(r["service"], str(r["event_date"]), f"{r['pii_findings_count']:,}",
                     f"{r['pii_findings_sum']:,}")  # fmt: skip
    console.print(grid)
    console.print(f"PII findings in landed text: [bold]{pc.sum(rows['pii_findings']).as_py():,}")

    auth = table.to_pyarrow_dataset().to_table(
        columns=["body"], filter=pc.field("event_type") == "signup"
    )
    if auth.num_rows:
        console.print("[dim]an auth signup in the lake:[/dim]", escape(auth["body"][0].as_py()))
    sent = {e["event_id"]: e for e in entries if e["service"] == "journal-service"}
    found = table.to_pyarrow_dataset().to_table(
        columns=["event_id", "body"],
        filter=(pc.field("service") == "journal-service") & (pc.field("pii_findings") > 1),
    )
    for row in [r for r in found.to_pylist() if r["event_id"] in sent][:2]:
        console.print("[dim]journal text sent:[/dim]  ", escape(sent[row["event_id"]]["text"]))
        console.print(
            "[dim]as it sits in the lake:[/dim]", escape(orjson.loads(row["body"])["text"])
        )


def main() -> None:
    parser = argparse.ArgumentParser(description="Replay a simulated day through MindLake.")
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--day", type=date.fromisoformat, help="YYYY-MM-DD (default yesterday)")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--timeout", type=float, default=600, help="seconds to drain the outbox")
    parser.add_argument("--embedded", action="store_true", help="embedded Postgres and Redis")
    parser.add_argument("--keep-running", action="store_true", help="leave the services up")
    args = parser.parse_args()

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the children on the way out
    started = time.monotonic()
    infra = start_infra(embedded=args.embedded, keep_running=args.keep_running)
    base = key = ""
    try:
        for piece, origin in infra.origin.items():
            console.print(f"[bold]{piece}[/bold]: {origin}")
        cli(infra, "migrate")
        pair_lake_with_database(infra)
        key = cli(infra, "keys", "create", "--name", "demo", "--scope", "ingest:write", "--quiet")
        key = key.strip().splitlines()[-1]
        entries = generate_day(args.day, args.users, args.seed)
        day = entries[0]["timestamp"][:10] if entries else "?"
        console.print(f"simulated {day}: {len(entries):,} entries from {args.users} users")
        base = start_services(infra)
        console.print(f"ingest API {base}, Celery worker and beat up (logs in {LOG_DIR})")
        result = replay(base, key, entries, args.batch_size)
        waited = drain(infra, base, args.timeout)
        console.print(f"outbox drained {waited:.1f} s after the last reply")
        summary(infra, result, entries)
    finally:
        if args.keep_running:
            infra.leave_running()
            console.print(f"ingest API {base}  key {key}", highlight=False)
            console.print(f"left running: {', '.join(p.name for p in infra.procs)} "
                          f"(the next demo run stops them; pids in {RUN_FILE})")  # fmt: skip
        else:
            infra.stop()
    console.print(f"done in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
