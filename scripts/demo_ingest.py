"""The demo's first half: the services started, the day replayed, what landed in the lake.

scripts/demo.py starts the services; `replay` posts the day over HTTP, `drain` waits for the
outbox to land and `summary` prints what was accepted, rejected and landed. `console`, `cli`,
`fail` and `PY` are shared with scripts/demo_consent.py and scripts/demo.py.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections import Counter
from typing import Any, NoReturn

import httpx
import orjson
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from libs.common.lake_tables import RAW_EVENTS
from scripts.demo_env import LOG_DIR, Infra, Proc, free_port
from scripts.simulate import batches

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


def fail(proc: Proc, what: str) -> NoReturn:
    console.print(f"[red]{proc.name} {what}.[/red] Last lines of {proc.log}:")
    console.print(proc.tail(), markup=False, highlight=False)
    raise SystemExit(1)


def wait_healthy(infra: Infra, bases: dict[str, str], within_s: float) -> None:
    """Until every API of `bases` (service name to base URL) answers /health; a process
    that dies, or an API still silent at the deadline, ends the demo with its log."""
    waiting = dict(bases)
    deadline = time.monotonic() + within_s
    while waiting and time.monotonic() < deadline:
        dead = [p for p in infra.procs if not p.alive()]
        if dead:
            fail(dead[0], "exited during start-up")
        for name, base in list(waiting.items()):
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    del waiting[name]
            except httpx.TransportError:
                pass
        time.sleep(0.3)
    if waiting:
        name = next(iter(waiting))
        fail(next(p for p in infra.procs if p.name in (f"{name}-api", "api")),
             f"did not answer /health in {within_s:.0f} s")  # fmt: skip


def start_service(infra: Infra, package: str, *, within_s: float = 60) -> str:
    """A service's API (uvicorn, a free port) and its worker on its own queue (one solo
    process: one model in memory), e.g. `services.risk`; the API's base once it answers."""
    name = package.removeprefix("services.")
    port = free_port()
    infra.spawn(f"{name}-api", [PY, "-m", "uvicorn", f"{package}.main:app",
                                "--host", "127.0.0.1", "--port", str(port),
                                "--no-access-log"])  # fmt: skip
    infra.spawn(f"{name}-worker", [PY, "-m", "celery", "-A", f"{package}.worker",
                                   "worker", "-Q", name, "--pool", "solo",
                                   "--hostname", f"demo-{name}@%h",
                                   "--loglevel", "INFO"])  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    wait_healthy(infra, {name: base}, within_s)
    return base


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
    return lake, lake.delta_table(RAW_EVENTS), RAW_EVENTS


def decrypted(infra: Infra, rows: Any) -> Any:
    """Rows of the raw table as a reader sees them: body and extras decrypted with each
    user's data key (the lake holds them encrypted: crypto-shredding)."""
    from libs.common.crypto import DataKeys
    from libs.common.db import one_shot_engine
    from libs.common.lake_crypto import read_decrypted
    from services.ingest.config import IngestSettings

    settings = IngestSettings(lake_root=infra.lake_root, database_url=infra.database_url)

    async def read() -> Any:
        engine = one_shot_engine(infra.database_url)
        try:
            async with engine.connect() as conn:
                return await read_decrypted(conn, rows, DataKeys(settings))
        finally:
            await engine.dispose()

    return asyncio.run(read())


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

    from libs.common.lake import read_delta

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

    auth = read_delta(
        table, ["body", "subject_key", "event_type"], pc.field("event_type") == "signup"
    )
    if auth.num_rows:
        stored = auth["body"][0].as_py()
        console.print("[dim]an auth signup as stored (encrypted):[/dim]", f"{stored[:48]}...")
        body = decrypted(infra, auth.slice(0, 1))["body"][0].as_py()
        console.print("[dim]decrypted with its user's key:[/dim]", escape(str(body)))
    sent = {e["event_id"]: e for e in entries if e["service"] == "journal-service"}
    found = read_delta(
        table,
        ["event_id", "body", "subject_key", "service", "pii_findings"],
        (pc.field("service") == "journal-service") & (pc.field("pii_findings") > 1),
    )
    picked = [i for i, e in enumerate(found["event_id"].to_pylist()) if e in sent][:2]
    for row in decrypted(infra, found.take(picked)).to_pylist():
        if row["body"] is None:
            continue  # its user was erased: the key is gone
        console.print("[dim]journal text sent:[/dim]  ", escape(sent[row["event_id"]]["text"]))
        console.print(
            "[dim]in the lake, decrypted:[/dim]", escape(orjson.loads(row["body"])["text"])
        )
