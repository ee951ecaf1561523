"""The demo's second half, after the logs landed: consent, audit, training export, rights.

It records the users' consent through the consent API and prints the rates and a bulk check,
chains and verifies the audit log through the compliance API and shows one entry read for two
purposes, runs an AI training export (`mindlake export --last-days 2`), then exports one
user's data (the portability archive) and erases another, printing the erasure receipt.
"""

from __future__ import annotations

import asyncio
import io
import random
import re
import sys
import time
import zipfile
from typing import Any

import httpx
import orjson
from rich.markup import escape
from rich.table import Table

from scripts.demo_env import Infra
from scripts.demo_ingest import cli, console, fail
from services.consent.ledger.schemas import USER_ID_PATTERN

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
