"""The demo's catalog step (its API and worker are started with the others, by demo.py, and
register what the writers announce as the demo runs): a reconcile of the whole lake, the
assets printed once over REST and once as a GraphQL query, the export's lineage, and a
transformation of raw events into a derived asset for analytics."""

from __future__ import annotations

import sys
import time

import httpx

from scripts.demo_env import LOG_DIR, Infra
from scripts.demo_ingest import cli, console
from services.catalog.assets.cli import assets_table

QUERY = "{ listDataAssets(types: [TIME_SERIES]) { name version rows bytes } }"
PICTURE = LOG_DIR.parent / "lineage.svg"
APPLY = """mutation($input: TransformationInput!) { applyTransformation(input: $input) {
  location rows columns { name privacy } lineage { upstream { version asset { location } } } } }"""
DAILY = "SELECT service, event_date, count(*) AS events FROM source GROUP BY 1, 2 ORDER BY 1, 2"


def catalog(infra: Infra, base: str, admin: str) -> None:
    console.rule("[bold]catalog")
    console.print(cli(infra, "catalog", "reconcile").strip())
    headers = {"Authorization": f"Bearer {admin}"}
    with httpx.Client(base_url=base, headers=headers, timeout=60) as http:
        reply = http.get("/v1/assets", params={"limit": 200})
        if reply.status_code != 200:
            sys.exit(f"GET /v1/assets answered {reply.status_code}: {reply.text[:500]}")
        console.print("GET /v1/assets: every asset of the lake, with its privacy classes")
        console.print(assets_table(reply.json()["items"]))
        answer = http.post("/graphql", json={"query": QUERY}).json()
        if answer.get("errors"):
            sys.exit(f"POST /graphql answered errors: {answer['errors']}")
        console.print(f"POST /graphql {QUERY}")
        for asset in answer["data"]["listDataAssets"]:
            console.print(f"  {asset['name']}: version {asset['version']}, {asset['rows']:,} "
                          f"rows, {asset['bytes']:,} bytes")  # fmt: skip
        export_lineage(http)
        derived_asset(http)


def export_lineage(http: httpx.Client) -> None:
    """What the demo's training export was built from, and its picture in var/demo."""
    training = next((a for a in http.get("/v1/assets", params={"tag": "training"}).json()["items"]),
                    None)  # fmt: skip
    if training is None:
        console.print("no training export in the catalog")
        return
    graph = http.get(f"/v1/assets/{training['id']}/lineage",
                     params={"direction": "upstream", "depth": 1}).json()  # fmt: skip
    for run in graph["runs"]:
        read = [f"{graph['assets'][e['asset_id']]['location']} v{e['version']}"
                for e in graph["edges"] if e["run_id"] == run["run_id"]
                and e["direction"] == "input"]  # fmt: skip
        facets = run["facets"]
        console.print(f"lineage: {run['job']} {run['state']} read {', '.join(read) or '-'}; "
                      f"consent snapshot {facets.get('consent_snapshot_at')}, "
                      f"{facets.get('lines')} lines")  # fmt: skip
    picture = http.get(f"/v1/assets/{training['id']}/lineage.svg", params={"depth": 2})
    if picture.status_code == 200:
        PICTURE.write_bytes(picture.content)
        console.print(f"its lineage as a picture: {PICTURE}")
    else:
        console.print(f"no lineage picture: {picture.json().get('detail')}")


def derived_asset(http: httpx.Client) -> None:
    """Events per service and day, for analytics: consenting users only, no user id."""
    raw = next(a for a in http.get("/v1/assets", params={"tag": "events"}).json()["items"])
    parameters = {"name": f"events-per-day-{int(time.time())}", "sql": DAILY}
    variables = {"input": {"assetId": raw["id"], "transformationType": "SQL",
                           "parameters": parameters}}  # fmt: skip
    answer = http.post("/graphql", json={"query": APPLY, "variables": variables},
                       headers={"X-Purpose": "Analytics"}).json()  # fmt: skip
    if answer.get("errors"):
        sys.exit(f"applyTransformation answered errors: {answer['errors']}")
    made = answer["data"]["applyTransformation"]
    [read] = made["lineage"]["upstream"]
    columns = ", ".join(f"{c['name']} ({c['privacy']})" for c in made["columns"])
    source = f"{read['asset']['location']} v{read['version']}"
    console.print(f"applyTransformation SQL for Analytics: {made['location']}, {made['rows']} "
                  f"rows of {columns}, from {source}")  # fmt: skip
