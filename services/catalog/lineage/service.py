"""Recording a run event (`catalog.record_run`) and walking the lineage from an asset.

The walk goes run by run: upstream, the runs that wrote the asset (at the version asked, or
the newest) and the assets they read at the versions they read; downstream, the runs that
read it and what they wrote. `depth` bounds how many runs away it goes.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from libs.common.contracts import RunEvent
from services.catalog.assets.known import kind_of
from services.catalog.assets.service import asset_id
from services.catalog.lineage import repository

RUNS_PER_STEP = 20  # at each asset, the newest runs followed


def location_of(path: str) -> str:
    """The asset a path belongs to (an unclaimed path stands for itself)."""
    claimed = kind_of(path)
    return claimed[1] if claimed else path.strip("/")


async def record(engine: AsyncEngine, event: RunEvent) -> None:
    started = event.at if event.state == "START" else None
    ended = event.at if event.state != "START" else None
    datasets = [
        {"run_id": event.run_id, "direction": direction, "location": location_of(d.path),
         "asset_id": asset_id(location_of(d.path)), "version": d.version}
        for direction, items in (("input", event.inputs), ("output", event.outputs))
        for d in items
    ]  # fmt: skip
    async with engine.begin() as conn:
        await repository.upsert_run(conn, {
            "run_id": event.run_id, "job": event.job, "service": event.service,
            "state": event.state, "started_at": started, "ended_at": ended,
            "facets": event.facets,
        })  # fmt: skip
        await repository.add_datasets(conn, datasets)


def _run_out(run: dict[str, Any]) -> dict[str, Any]:
    keys = ("run_id", "job", "service", "state", "started_at", "ended_at", "facets")
    return {k: run[k] for k in keys}


async def walk(
    conn: AsyncConnection, start: uuid.UUID, *, version: int | None, direction: str, depth: int
) -> dict[str, Any]:
    """Runs and edges `depth` runs away from the asset, up- or downstream; each edge: asset,
    run, version, input/output."""
    runs: dict[uuid.UUID, dict[str, Any]] = {}
    edges: set[tuple[str, str, int | None, str]] = set()  # (asset id, run id, version, way)
    frontier: list[tuple[uuid.UUID, int | None]] = [(start, version)]
    seen: set[tuple[uuid.UUID, int | None]] = set()
    touching, following = ("output", "input") if direction == "upstream" else ("input", "output")
    for _ in range(depth):
        next_frontier: list[tuple[uuid.UUID, int | None]] = []
        for current, at in frontier:
            if (current, at) in seen:
                continue
            seen.add((current, at))
            found = await repository.runs_touching(conn, current, touching, at, RUNS_PER_STEP)
            fresh = [r for r in found if r["run_id"] not in runs]
            for r in found:
                runs.setdefault(r["run_id"], _run_out(r))
                edges.add((str(current), str(r["run_id"]), r["asset_version"], touching))
            for d in await repository.datasets_of(conn, [r["run_id"] for r in fresh]):
                if d["direction"] == following:
                    edges.add((str(d["asset_id"]), str(d["run_id"]), d["version"], following))
                    next_frontier.append((d["asset_id"], d["version"]))
        frontier = next_frontier
        if not frontier:
            break
    keys = ("asset_id", "run_id", "version", "direction")
    return {"runs": list(runs.values()),
            "edges": [dict(zip(keys, e, strict=True)) for e in sorted(edges, key=str)]}  # fmt: skip


async def lineage(
    conn: AsyncConnection, start: uuid.UUID, *, version: int | None, direction: str, depth: int
) -> dict[str, Any]:
    """Both ways (`direction` both), or one; each edge: asset, run, version, input/output."""
    ways = ("upstream", "downstream") if direction == "both" else (direction,)
    runs: dict[str, dict[str, Any]] = {}
    edges: list[dict[str, Any]] = []
    for way in ways:
        part = await walk(conn, start, version=version, direction=way, depth=depth)
        runs |= {str(r["run_id"]): r for r in part["runs"]}
        edges += part["edges"]
    unique = {(e["asset_id"], e["run_id"], e["version"], e["direction"]): e for e in edges}
    return {"runs": list(runs.values()), "edges": list(unique.values())}
