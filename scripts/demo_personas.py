"""The demo's personas step: one simulated user grants personalization, uploads a bank
statement (CSV) and a social-media export (JSON) through the embedding API; the embedding
worker categorizes each file offline and builds the user's personas, which are printed."""

from __future__ import annotations

import sys
import time
from typing import Any

import httpx
from rich.markup import escape
from rich.table import Table

from scripts.demo_ingest import console
from scripts.persona_samples import BANK_CSV, SOCIAL_JSON

USER = "demo-persona-user"
FILES = (
    ("bank_statement.csv", BANK_CSV, "text/csv"),
    ("instagram_export.json", SOCIAL_JSON, "application/json"),
)
SETTLED = ("done", "failed", "waiting", "stopped")


def _check(reply: httpx.Response, what: str, *expected: int) -> Any:
    if reply.status_code not in expected:
        sys.exit(f"{what} answered {reply.status_code}: {reply.text[:500]}")
    return reply.json()


def _wait_uploads(http: httpx.Client, ids: set[str], within_s: float = 300) -> list[Any]:
    """The user's uploads once every one of `ids` has settled."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        listed = _check(http.get(f"/v1/users/{USER}/uploads"), "GET uploads", 200)["uploads"]
        mine = [u for u in listed if u["upload_id"] in ids]
        if len(mine) == len(ids) and all(u["status"] in SETTLED for u in mine):
            return mine
        time.sleep(0.5)
    sys.exit(f"the uploads did not finish in {within_s:.0f} s (see the embedding worker's log)")


def personas(bases: dict[str, str], admin: str) -> None:
    console.rule("[bold]personas (a user's own data exports)")
    headers = {"Authorization": f"Bearer {admin}"}
    grant = {"purposes": {"personalization": True}, "policy_version": "v1"}
    with httpx.Client(base_url=bases["consent"], headers=headers, timeout=60) as http:
        _check(http.put(f"/v1/consent/{USER}", json=grant), "PUT consent", 200)
    started = time.time()
    with httpx.Client(base_url=bases["embedding"], headers=headers, timeout=120) as http:
        ids = set()
        for name, body, media in FILES:
            reply = http.post(f"/v1/users/{USER}/uploads", params={"name": name},
                              content=body.encode(), headers={"Content-Type": media})  # fmt: skip
            ids.add(_check(reply, f"POST uploads ({name})", 201)["upload_id"])
        uploads = _wait_uploads(http, ids)
        grid = Table("file", "status", "records", "categories", "reason")
        for u in uploads:
            cats = ", ".join(f"{c} {n}" for c, n in sorted((u["categories"] or {}).items()))
            grid.add_row(escape(u["name"] or "?"), u["status"], str(u["records"] or 0), cats,
                         escape(u["reason"] or ""))  # fmt: skip
        console.print(f"{USER} uploaded {len(FILES)} files; categorized (offline) and built "
                      f"in {time.time() - started:.1f} s")  # fmt: skip
        console.print(grid)
        found = _check(http.get(f"/v1/users/{USER}/personas"), "GET personas", 200)["personas"]
    grid = Table("persona", "completeness", "summary", "insights")
    for persona in found.values():
        grid.add_row(
            persona["name"], f"{persona['completeness']}%", escape(persona["summary"]),
            escape("\n".join(persona["insights"][:3])),
        )  # fmt: skip
    console.print(grid)
