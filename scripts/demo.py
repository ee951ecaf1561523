"""The end-to-end demo: a simulated day of platform logs through the real ingest path.

    python -m scripts.demo [--users N] [--day YYYY-MM-DD] [--seed S] [--keep-running]

Starts Postgres, Redis and a local lake (see scripts/demo_env.py), migrates, creates an ingest
key and an admin key, runs the ingest, consent and compliance APIs (uvicorn), a Celery worker
for `ingest`, one for `consent,compliance` and beat, replays the day over HTTP in 100-entry
batches, waits until the outbox is drained into the lake and prints what landed. Then it
records the users' consent through the consent API, prints the rates and a bulk check, chains
and verifies the audit log through the compliance API and shows one entry read for two
purposes (Admin: full; Research: redacted). It runs an AI training export of the day's
consented chat turns (`mindlake export --last-days 2`), embeds the day's consented text into
Qdrant (the embedding API and worker, local model, local mode in var/demo/qdrant) and runs one
personalization search. One simulated user uploads a bank statement and a social-media
export (the embedding API and worker categorize them offline) and their personas are printed.
It trains the risk model on a SYNTHETIC cohort, replays five weeks of some of its users,
assesses them through the risk API and worker and prints the day's assessments by level.
Then it exports one user's data (the portability archive) and erases another, printing the
erasure receipt. Last, the catalog (API and worker) reconciles the whole lake and prints every
asset with its format, version, counts and privacy classes, and a GraphQL query.

Running it again replays the same day (yesterday UTC, seed 7) with the same event ids, so the
second run shows deduplication: everything comes back `duplicate` and the lake is unchanged.
Pass another --day or --seed for new data. The consent ledger and the audit chain are
append-only, so each run adds its consent changes and audit entries to them. Logs:
var/demo/logs/.

The steps are in scripts/demo_ingest.py (services, replay, what landed) and
scripts/demo_consent.py (consent, audit, training export, the user's rights) and
scripts/demo_embedding.py (embedding and search), scripts/demo_personas.py (personas),
scripts/demo_risk.py (risk) and scripts/demo_catalog.py (catalog).
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import time
from datetime import date
from typing import Any

from scripts.demo_catalog import catalog
from scripts.demo_consent import consent_and_audit, subject_rights, training_export
from scripts.demo_embedding import embed_and_search
from scripts.demo_env import LOG_DIR, RUN_FILE, Infra, free_port, start_infra
from scripts.demo_ingest import (
    PY,
    cli,
    console,
    drain,
    pair_lake_with_database,
    replay,
    start_service,
    summary,
    wait_healthy,
)
from scripts.demo_personas import personas
from scripts.demo_risk import train_and_assess
from scripts.simulate import generate_day

# The consent worker runs the compliance and export tasks too: every task module those
# services' own workers import, so the demo cannot miss one a service adds.
EXTRA_WORKERS = ("services.compliance.worker", "services.export.worker")
# The services with an API and a worker of their own, and how long each may take to start
# (the embedding worker loads its model first).
OWN_WORKERS = {"services.embedding": 90.0, "services.risk": 60.0, "services.catalog": 60.0}


def task_modules(*workers: str) -> list[str]:
    return [m for w in workers for m in importlib.import_module(w).celery_app.conf.imports]


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
                 "--include", ",".join(task_modules(*EXTRA_WORKERS)),
                 "-Q", "consent,compliance,export",
                 "--pool", "solo", "--hostname", "demo-consent-compliance@%h",
                 "--loglevel", "INFO"])  # fmt: skip
    infra.spawn("beat", [*celery, "beat", "--loglevel", "INFO",
                         "--schedule", str(LOG_DIR.parent / "celerybeat-schedule")])  # fmt: skip
    bases = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    wait_healthy(infra, bases, 60)
    return bases


def after_ingest(
    infra: Infra, bases: dict[str, str], admin: str, key: str, entries: list[Any], *, seed: int
) -> None:
    """The steps on the landed day: consent, audit, exports, embedding, personas, risk, rights."""
    consent_and_audit(infra, bases, admin, entries, seed)
    training_export(infra)
    embed_and_search(infra, bases["embedding"], admin, entries)
    personas(bases, admin)
    train_and_assess(infra, bases, admin, key, seed)
    subject_rights(bases, admin, entries)
    catalog(infra, bases["catalog"], admin)


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
        for package, within_s in OWN_WORKERS.items():
            name = package.removeprefix("services.")
            bases[name] = start_service(infra, package, within_s=within_s)
        base = bases["ingest"]
        console.print(
            f"ingest API {base}, consent API {bases['consent']}, compliance API "
            f"{bases['compliance']}, embedding API {bases['embedding']}, risk API "
            f"{bases['risk']}, catalog API {bases['catalog']}, 5 Celery workers and beat up "
            f"(logs in {LOG_DIR})"
        )
        result = replay(base, key, entries, args.batch_size)
        waited = drain(infra, base, args.timeout)
        console.print(f"outbox drained {waited:.1f} s after the last reply")
        summary(infra, result, entries)
        after_ingest(infra, bases, admin, key, entries, seed=args.seed)
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
