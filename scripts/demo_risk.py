"""The demo's risk step, on a SYNTHETIC cohort (made-up users `synthetic-<n>`, every entry
marked `synthetic: true`): train a model on the cohort's directly computed features
(`mindlake risk train --synthetic`), replay the last five weeks of some of its users through
the ingest API, grant them `risk_assessment`, assess today through the risk worker and print
the day's assessments by level and the high-risk list the clinicians' API gives."""

from __future__ import annotations

import asyncio
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from rich.table import Table

from scripts.demo_consent import record_consent
from scripts.demo_env import Infra
from scripts.demo_ingest import cli, console, drain, fail, replay
from services.risk.config import DISCLAIMER
from services.risk.features.compute import LOOKBACK_DAYS
from services.risk.model.cohort import CohortSpec, log_entries, simulate

TRAIN_USERS, TRAIN_DAYS = 400, 180  # the cohort the model is trained on
REPLAYED_USERS = 120  # of whom this many have their last LOOKBACK_DAYS days replayed
NEW_USERS, NEW_DAYS = 10, 3  # and these only their chat-bot turns of the last 3 days: no mood
# and no activity baseline, so low-coverage assessments
LEVELS = ("low", "medium", "high", "critical")


def recent_entries(spec: CohortSpec, users: range, days: int) -> list[dict[str, Any]]:
    """The entries of the cohort's last `days` days of these users."""
    since = (datetime.combine(spec.last_day, datetime.min.time(), UTC)
             - timedelta(days=days)).isoformat()  # fmt: skip
    wanted = {f"synthetic-{i}" for i in users}
    return [e for e in log_entries(simulate(spec)) if e["user_id"] in wanted
            and e["timestamp"] >= since]  # fmt: skip


def _wait_task(infra: Infra, task_id: str, within_s: float = 600) -> None:
    """Until the risk worker's log says the task finished (the demo's Celery keeps no results)."""
    worker = next(p for p in infra.procs if p.name == "risk-worker")
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        log = worker.log.read_text(errors="replace")
        if f"[{task_id}] succeeded" in log:
            return
        if f"[{task_id}] raised" in log or not worker.alive():
            fail(worker, "failed the assessment")
        time.sleep(0.5)
    fail(worker, f"did not finish the assessment in {within_s:.0f} s")


def train_and_assess(infra: Infra, bases: dict[str, str], admin: str, ingest_key: str,
                     seed: int) -> None:  # fmt: skip
    console.rule("[bold]risk assessment (SYNTHETIC cohort)")
    console.print(f"[dim]{DISCLAIMER}[/dim]")
    started = time.monotonic()
    trained = cli(infra, "risk", "train", "--synthetic", "--users", str(TRAIN_USERS),
                  "--days", str(TRAIN_DAYS), "--seed", str(seed))  # fmt: skip
    console.print(trained.rstrip(), highlight=False)
    console.print(f"trained on {TRAIN_USERS} synthetic users x {TRAIN_DAYS} days in "
                  f"{time.monotonic() - started:.0f} s")  # fmt: skip

    spec = CohortSpec(users=TRAIN_USERS, days=TRAIN_DAYS, seed=seed)
    entries = recent_entries(spec, range(REPLAYED_USERS), LOOKBACK_DAYS)
    newcomers = range(REPLAYED_USERS, REPLAYED_USERS + NEW_USERS)
    entries += [e for e in recent_entries(spec, newcomers, NEW_DAYS)
                if e["service"] == "lyfbot-service"]  # fmt: skip
    users = sorted({e["user_id"] for e in entries})
    grants = {u: {"risk_assessment": True} for u in users}
    sent, _ = asyncio.run(record_consent(bases["consent"], admin, grants, []))
    result = replay(bases["ingest"], ingest_key, entries, 200)
    waited = drain(infra, bases["ingest"], 600)
    console.print(
        f"replayed the last {LOOKBACK_DAYS} days of {REPLAYED_USERS} of them and the last "
        f"{NEW_DAYS} days' chat-bot turns of {NEW_USERS} more: {len(entries):,} "
        f"entries ({result['totals']['accepted']:,} accepted) in {result['seconds']:.1f} s, "
        f"landed {waited:.1f} s later; {sent} granted risk_assessment"
    )

    day = spec.last_day  # features of a day use the events before it: the cohort's last days
    headers = {"Authorization": f"Bearer {admin}"}
    with httpx.Client(base_url=bases["risk"], headers=headers, timeout=60) as http:
        reply = http.post("/v1/risk/assess", json={"day": day.isoformat()})
        if reply.status_code != 202:
            sys.exit(f"POST /v1/risk/assess answered {reply.status_code}: {reply.text[:500]}")
        started = time.monotonic()
        _wait_task(infra, reply.json()["task_id"])
        console.print(f"risk.assess of {day} took {time.monotonic() - started:.1f} s")
        reader = cli(infra, "keys", "create", "--name", "demo-clinician", "--scope",
                     "risk:read", "--quiet").strip().splitlines()[-1]  # fmt: skip
        high = http.get("/v1/risk/high", params={"day": day.isoformat(), "limit": 200},
                        headers={"Authorization": f"Bearer {reader}"})  # fmt: skip
        if high.status_code != 200:
            sys.exit(f"GET /v1/risk/high answered {high.status_code}: {high.text[:500]}")
        listed = high.json()["assessments"]
        histories = [http.get(f"/v1/users/{u}/risk", headers={"Authorization": f"Bearer {reader}"})
                     for u in users]  # fmt: skip
    latest = [h.json()["assessment"] for h in histories if h.status_code == 200]
    levels = Counter(a["level"] for a in latest)
    grid = Table("level", "users", "low coverage", title=f"assessments of {day}")
    for level in LEVELS:
        low = sum(a["low_coverage"] for a in latest if a["level"] == level)
        grid.add_row(level, str(levels[level]), str(low))
    console.print(grid)
    versions = sorted({a["model_version"] for a in latest})
    console.print(f"scored by {', '.join(versions)}; GET /v1/risk/high lists {len(listed)} "
                  "users at high or above")  # fmt: skip
    if listed:
        top = listed[0]
        reasons = ", ".join(f"{c['feature']} {c['value']:.2f}" for c in top["top_features"])
        console.print(f"highest: score {top['score']:.2f} ({top['level']}), because {reasons}")
