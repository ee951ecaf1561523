"""The demo's embedding step, through its API and worker (started by demo.py): a sync of the
simulated day into Qdrant (local mode, in var/demo/qdrant), and one personalization search
of a journaling user who granted personalization."""

from __future__ import annotations

import sys
import time
from typing import Any

import httpx
from rich.markup import escape
from rich.table import Table

from scripts.demo_env import Infra
from scripts.demo_ingest import cli, console

QUERY = "I could not sleep and felt anxious about work"


def _run_ids(http: httpx.Client) -> set[str]:
    return {r["id"] for r in http.get("/v1/embedding/runs", params={"limit": 50}).json()}


def _wait_run(http: httpx.Client, before: set[str], within_s: float = 900) -> dict[str, Any]:
    """The first sync run that was not there before, once it has finished."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        runs = http.get("/v1/embedding/runs", params={"limit": 5}).json()
        new = [r for r in runs if r["id"] not in before and r["kind"] == "sync"]
        if new and new[-1]["status"] != "running":
            return dict(new[-1])
        time.sleep(1)
    sys.exit(f"the embedding sync did not finish in {within_s:.0f} s")


def embed_and_search(infra: Infra, base: str, admin: str, entries: list[dict[str, Any]]) -> None:
    console.rule("[bold]embedding and semantic search")
    headers = {"Authorization": f"Bearer {admin}"}
    started = time.time()
    with httpx.Client(base_url=base, headers=headers, timeout=120) as http:
        before = _run_ids(http)
        reply = http.post("/v1/embedding/runs", json={"kind": "sync"})
        if reply.status_code != 202:
            sys.exit(f"POST /v1/embedding/runs answered {reply.status_code}: {reply.text[:500]}")
        run = _wait_run(http, before)
        if run["status"] != "done":
            sys.exit(f"the embedding sync failed: {run.get('error')}")
        counts = run["counts"]
        console.print(
            f"embedding.sync into {run['collection']}: {counts.get('chunks', 0)} chunks from "
            f"{counts.get('documents', 0)} documents of {counts.get('events', 0)} text events "
            f"in {time.time() - started:.1f} s; not embedded: {counts.get('no_consent', 0)} "
            f"without personalization consent, {counts.get('no_text', 0)} without text"
        )
        user_key = cli(infra, "keys", "create", "--name", "demo-app", "--scope",
                       "embedding:user", "--quiet").strip().splitlines()[-1]  # fmt: skip
        writers = sorted({e["user_id"] for e in entries if e.get("service") == "journal-service"
                          and isinstance(e.get("user_id"), str)})  # fmt: skip
        body = {"scope": "personalization", "query": QUERY, "k": 3}
        found: dict[str, Any] = {}
        user = None
        for user in writers:  # the first journaling user who granted personalization
            reply = http.post("/v1/search", json={**body, "user_id": user},
                              headers={"Authorization": f"Bearer {user_key}"})  # fmt: skip
            if reply.status_code == 200 and reply.json().get("results"):
                found = reply.json()
                break
        if not found:
            console.print("no journaling user with personalization consent had results")
            return
        grid = Table("score", "service", "snippet (read back from the lake)")
        for hit in found["results"]:
            snippet = (hit.get("snippet") or "")[:90]
            grid.add_row(f"{hit['score']:.3f}", hit["service"], escape(snippet))
        console.print(f"POST /v1/search personalization, one user's own items: {QUERY!r}")
        console.print(grid)
