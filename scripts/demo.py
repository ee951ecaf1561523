"""The end-to-end demo: a simulated day of platform logs through the real ingest path.

    python -m scripts.demo [--users N] [--day YYYY-MM-DD] [--seed S] [--keep-running]

Starts Postgres, Redis and a local lake (see scripts/demo_env.py), migrates, creates an ingest
key and an admin key, runs the ingest, consent and compliance APIs (uvicorn), a Celery worker
for `ingest`, one for `consent,compliance` and beat, replays the day over HTTP in 100-entry
batches, waits until the outbox is drained into the lake and prints what landed. Then it
records the users' consent through the consent API, prints the rates and a bulk check, chains
and verifies the audit log through the compliance API and shows one entry read for two
purposes (Admin: full; Research: redacted). It runs an AI training export of the day's
consented chat turns (`mindlake export --last-days 2`). Last, it exports one user's data (the
portability archive) and erases another, printing the erasure receipt.

Running it again replays the same day (yesterday UTC, seed 7) with the same event ids, so the
second run shows deduplication: everything comes back `duplicate` and the lake is unchanged.
Pass another --day or --seed for new data. The consent ledger and the audit chain are
append-only, so each run adds its consent changes and audit entries to them. Logs:
var/demo/logs/.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import random
import re
import signal
import subprocess
import sys
import time
import zipfile
from collections import Counter
from datetime import date
from typing import Any, NoReturn

import httpx
import orjson
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from libs.common.lake_tables import RAW_EVENTS
from scripts.demo_env import LOG_DIR, RUN_FILE, Infra, Proc, free_port, start_infra
from scripts.simulate import batches, generate_day
from services.consent.ledger.schemas import USER_ID_PATTERN

console = Console()
EXTRA_TASKS = (  # the compliance and export task modules, for the consent worker to run too
    "services.compliance.audit.tasks",
    "services.compliance.subject_requests.tasks",
    "services.compliance.subjects.tasks",
    "services.compliance.retention.tasks",
    "services.compliance.report.tasks",
    "services.export.jobs.tasks",
    "services.export.lineage.tasks",
    "services.export.subjects.tasks",
    "services.export.analytics.tasks",
    "services.export.recsys.tasks",
)
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


def start_services(infra: Infra) -> dict[str, str]:
    """The ingest, consent and compliance APIs, their workers and beat; base URL per API."""
    ports = {name: free_port() for name in ("ingest", "consent", "compliance")}
    for name, port in ports.items():
        infra.spawn("api" if name == "ingest" else f"{name}-api",
                    [PY, "-m", "uvicorn", f"services.{name}.main:app", "--host", "127.0.0.1",
                     "--port", str(port), "--no-access-log"])  # fmt: skip
    celery = [PY, "-m", "celery", "-A", "services.ingest.worker"]
    infra.spawn("worker", [*celery, "worker", "-Q", "ingest", "--pool", "solo",
                           "--hostname", "demo-ingest@%h", "--loglevel", "INFO"])  # fmt: skip
    # Every task is a shared_task on the same broker settings: one worker takes three queues.
    infra.spawn("consent-compliance-worker",
                [PY, "-m", "celery", "-A", "services.consent.worker", "worker",
                 "--include", ",".join(EXTRA_TASKS), "-Q", "consent,compliance,export",
                 "--pool", "solo", "--hostname", "demo-consent-compliance@%h",
                 "--loglevel", "INFO"])  # fmt: skip
    infra.spawn("beat", [*celery, "beat", "--loglevel", "INFO",
                         "--schedule", str(LOG_DIR.parent / "celerybeat-schedule")])  # fmt: skip
    bases = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    waiting = dict(bases)
    deadline = time.monotonic() + 60
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
             "did not answer /health in 60 s")  # fmt: skip
    return bases


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


# Consent and audit: after the logs landed, the users' consent through the consent API, then
# the audit log those requests wrote, chained and verified through the compliance API.
SHARES = {"ai_training": 0.7, "analytics": 0.8, "personalization": 0.6, "research": 0.4}
WITHDRAW_SHARE = 0.1  # of the users who granted ai_training, withdraw it later that day
APP_HEADERS = {"User-Agent": "MindfulApp/4.2 (iOS 17)"}  # as the app's backend relays them


def consent_plan(user_ids: list[str], seed: int) -> tuple[dict[str, dict[str, bool]], list[str]]:
    """Each user's first answer per purpose, and who withdraws ai_training afterwards."""
    rng = random.Random(f"consent-{seed}")
    first = {u: {p: rng.random() < share for p, share in SHARES.items()} for u in user_ids}
    withdraw = [u for u in user_ids if first[u]["ai_training"] and rng.random() < WITHDRAW_SHARE]
    return first, withdraw


async def record_consent(
    base: str, key: str, first: dict[str, dict[str, bool]], withdraw: list[str]
) -> tuple[int, float]:
    """PUT every user's consent, then the withdrawals, 32 requests at a time; (count, s)."""
    limit = asyncio.Semaphore(32)
    headers = {"Authorization": f"Bearer {key}", **APP_HEADERS}
    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as http:

        async def put(i: int, user_id: str, purposes: dict[str, bool]) -> None:
            body = {"purposes": purposes, "policy_version": "2026-11", "source": "app"}
            async with limit:
                reply = await http.put(
                    f"/v1/consent/{user_id}",
                    json=body,
                    headers={"X-Forwarded-For": f"203.0.113.{i % 250 + 1}"},
                )
            if reply.status_code == 409:  # erased by an earlier demo run: refused, rightly
                return
            if reply.status_code != 200:
                sys.exit(f"PUT /v1/consent answered {reply.status_code}: {reply.text[:500]}")

        await asyncio.gather(*(put(i, u, p) for i, (u, p) in enumerate(first.items())))
        await asyncio.gather(*(put(i, u, {"ai_training": False}) for i, u in enumerate(withdraw)))
    return len(first) + len(withdraw), time.perf_counter() - started


def consent_and_audit(
    infra: Infra, bases: dict[str, str], key: str, entries: list[dict[str, Any]], seed: int
) -> None:
    user_re = re.compile(USER_ID_PATTERN)
    users = sorted(
        {
            e["user_id"]
            for e in entries
            if isinstance(e.get("user_id"), str) and user_re.match(e["user_id"])
        }
    )
    known = set(users)
    ai_users = sorted({e["user_id"] for e in entries if e.get("user_id") in known
                       and e.get("service") in ("lyfbot-service", "ai-service")})  # fmt: skip
    first, withdraw = consent_plan(users, seed)
    console.rule("[bold]consent")
    sent, seconds = asyncio.run(record_consent(bases["consent"], key, first, withdraw))
    console.print(
        f"recorded consent of {len(users)} users through PUT /v1/consent: {sent} "
        f"requests in {seconds:.1f} s ({len(withdraw)} withdrew ai_training later)"
    )
    headers = {"Authorization": f"Bearer {key}", **APP_HEADERS}
    with httpx.Client(base_url=bases["consent"], headers=headers, timeout=30) as http:

        def check(purpose: str, ids: list[str]) -> set[str]:
            reply = http.post("/v1/consent/check", json={"purpose": purpose, "user_ids": ids})
            if reply.status_code != 200:
                sys.exit(f"POST /v1/consent/check answered {reply.status_code}: {reply.text}")
            return set(reply.json()["allowed"])

        grid = Table("purpose", "users granting now", "rate")
        for purpose in SHARES:
            n = len(check(purpose, users))
            grid.add_row(purpose, f"{n} of {len(users)}", f"{n / len(users):.0%}")
        console.print(grid)
        allowed = check("ai_training", ai_users)
    console.print(
        f"bulk check (POST /v1/consent/check, ai_training): [bold]{len(allowed)} of "
        f"{len(ai_users)}[/bold] users' conversations may be used for AI training"
    )

    console.rule("[bold]audit log")
    worker = next(p for p in infra.procs if p.name == "consent-compliance-worker")
    if not worker.alive():
        fail(worker, "died")
    with httpx.Client(base_url=bases["compliance"], headers=headers, timeout=60) as http:

        def get(path: str, **params: Any) -> Any:
            reply = http.get(path, params=params)
            if reply.status_code != 200:
                sys.exit(f"GET {path} answered {reply.status_code}: {reply.text[:500]}")
            return reply.json()

        chained = http.post("/v1/audit/chain")
        if chained.status_code != 200:
            sys.exit(f"POST /v1/audit/chain answered {chained.status_code}: {chained.text}")
        console.print(f"POST /v1/audit/chain: {chained.json()['chained']} entries chained now "
                      "(the rest by the worker's compliance.chain_audit, every 3 s)")  # fmt: skip
        report = get("/v1/audit/verify")
        if report["ok"]:
            console.print(
                f"GET /v1/audit/verify: {report['checked']:,} audit entries in the "
                "chain (every demo run's), "
                f"[bold green]chain verified[/bold green] (last id {report['last_id']})"
            )
        else:
            console.print(f"GET /v1/audit/verify: [bold red]chain broken[/bold red] after "
                          f"{report['checked']:,} entries: {report['broken']}")  # fmt: skip
        subject = withdraw[0] if withdraw else users[0]
        items = get("/v1/audit", purpose="Admin", subject=subject, limit=1)["items"]
        if not items:
            sys.exit(f"no audit entry about {subject}: the chain did not get the consent writes")
        entry_id = items[0]["id"]
        research = get("/v1/audit", purpose="Research", cursor=str(entry_id + 1), limit=1)
        shown = ("id", "purpose", "action", "asset", "subject", "client_ip", "device", "at")
        grid = Table("field", "read with purpose=Admin", "read with purpose=Research")
        for name in shown:
            grid.add_row(
                name,
                *(
                    orjson.dumps(e[name]).decode().strip('"')
                    for e in (items[0], research["items"][0])
                ),
            )
        console.print(f"audit entry {entry_id}, read for two purposes:")
        console.print(grid)


def training_export(infra: Infra) -> None:
    """`mindlake export` over the simulated day: consented chat turns to JSONL for training."""
    console.rule("[bold]AI training export")
    started = time.perf_counter()
    job = orjson.loads(cli(infra, "export", "--last-days", "2").strip().splitlines()[-1])
    counts = job.get("counts") or {}
    dropped = {k: v for k, v in (counts.get("dropped") or {}).items() if v}
    console.print(
        f"mindlake export --last-days 2: {counts.get('out_train', 0)} train and "
        f"{counts.get('out_validation', 0)} validation records from {counts.get('records_in', 0)} "
        f"chat events in {time.perf_counter() - started:.1f} s (average quality "
        f"{job.get('average_quality') or 0:.2f}); left out: {dropped}"
    )
    for path in sorted((job.get("paths") or {}).values()):
        console.print(f"  {escape(path)}", highlight=False)


def _wait_done(http: httpx.Client, path: str, within_s: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        reply = http.get(path)
        if reply.status_code != 200:
            sys.exit(f"GET {path} answered {reply.status_code}: {reply.text[:500]}")
        info: dict[str, Any] = reply.json()
        if info["status"] == "done":
            return info
        time.sleep(0.5)
    sys.exit(f"{path} not done in {within_s:.0f} s: {orjson.dumps(info).decode()[:1500]}")


def subject_rights(bases: dict[str, str], key: str, entries: list[dict[str, Any]]) -> None:
    """Export one journaling user's data, then erase another and show the receipt."""
    writers = sorted({e["user_id"] for e in entries if e.get("service") == "journal-service"
                      and isinstance(e.get("user_id"), str)})  # fmt: skip
    if len(writers) < 2:
        return
    exported, erased = writers[0], writers[-1]
    console.rule("[bold]the user's rights: portability and erasure")
    headers = {"Authorization": f"Bearer {key}", **APP_HEADERS}
    with httpx.Client(base_url=bases["compliance"], headers=headers, timeout=60) as http:
        started = time.perf_counter()
        request = http.post(f"/v1/subjects/{exported}/export").json()
        info = _wait_done(http, request["status_url"])
        archive = http.get(info["download_url"]).content
        with zipfile.ZipFile(io.BytesIO(archive)) as z:
            manifest = orjson.loads(z.read("manifest.json"))
        files = {n: f["records"] for n, f in manifest["files"].items() if f["records"]}
        seconds = time.perf_counter() - started
        console.print(f"export of {escape(exported)}: {len(archive):,}-byte zip in "
                      f"{seconds:.1f} s, records per file: {files}")  # fmt: skip

        started = time.perf_counter()
        request = http.post(f"/v1/subjects/{erased}/erasure").json()
        _wait_done(http, request["status_url"])
        receipt = http.get(f"{request['status_url']}/receipt").json()
        removed = {s: r["removed"] for s, r in receipt["stores"].items()
                   if any(v for v in (r["removed"] or {}).values())}  # fmt: skip
        scanned = receipt["verification"]["scanned"]
        console.print(f"erasure of {escape(erased)}: done in "
                      f"{time.perf_counter() - started:.1f} s; removed: {removed}")  # fmt: skip
        console.print(
            f"verification scan: {scanned['lake_objects']} lake objects, "
            f"{scanned['pg_tables']} Postgres tables, {scanned['redis_keys']} Redis keys: "
            f"[bold green]{len(receipt['verification']['traces'])} traces[/bold green]; "
            "receipt hash in the audit chain"
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
    base = key = admin = ""
    bases: dict[str, str] = {}
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
        admin = cli(infra, "keys", "create", "--name", "demo-admin", "--scope", "admin", "--quiet")
        admin = admin.strip().splitlines()[-1]
        bases = start_services(infra)
        base = bases["ingest"]
        console.print(
            f"ingest API {base}, consent API {bases['consent']}, compliance API "
            f"{bases['compliance']}, 2 Celery workers and beat up (logs in {LOG_DIR})"
        )
        result = replay(base, key, entries, args.batch_size)
        waited = drain(infra, base, args.timeout)
        console.print(f"outbox drained {waited:.1f} s after the last reply")
        summary(infra, result, entries)
        consent_and_audit(infra, bases, admin, entries, args.seed)
        training_export(infra)
        subject_rights(bases, admin, entries)
    finally:
        if args.keep_running:
            infra.leave_running()
            console.print(f"ingest API {base}  key {key}", highlight=False)
            if bases:
                console.print(
                    f"consent API {bases['consent']}, compliance API "
                    f"{bases['compliance']}  admin key {admin}",
                    highlight=False,
                )
            console.print(f"left running: {', '.join(p.name for p in infra.procs)} "
                          f"(the next demo run stops them; pids in {RUN_FILE})")  # fmt: skip
        else:
            infra.stop()
    console.print(f"done in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
