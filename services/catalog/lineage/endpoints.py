"""The lineage over REST: an asset's lineage (JSON, or an SVG picture) and one run with what
it read and wrote. Keys with `catalog:read` or admin; every read is on the audit log."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

import anyio
from fastapi import APIRouter, Query, Request, Response

from libs.common.audit import AuditAction, AuditPurpose
from libs.common.auth import Scope
from libs.common.db import get_engine
from libs.common.errors import NotFound
from services.catalog.access import caller
from services.catalog.assets import repository as assets_repository
from services.catalog.config import get_catalog_settings
from services.catalog.lineage import repository, service, svg
from services.catalog.lineage.schemas import LineageAsset, LineageOut, RunDataset, RunDetail

router = APIRouter(prefix="/v1", tags=["lineage"])
Purpose = Annotated[AuditPurpose, Query(description="Why the lineage is read (on the audit log)")]
Direction = Annotated[Literal["both", "upstream", "downstream"], Query()]
Version = Annotated[int | None, Query(ge=0, le=2**62, description="The asset at this version")]
Depth = Annotated[int, Query(ge=1, le=50, description="Runs away from the asset")]


async def _reader(request: Request, purpose: AuditPurpose, asset: str) -> None:
    await caller(request, Scope.CATALOG_READ, action=AuditAction.Read, asset=asset,
                 purpose=purpose)  # fmt: skip


async def graph_of(
    asset_id: uuid.UUID, *, version: int | None, direction: str, depth: int
) -> tuple[dict[str, Any], dict[uuid.UUID, LineageAsset]]:
    depth = min(depth, get_catalog_settings().catalog_lineage_depth_max)
    async with get_engine().connect() as conn:
        graph = await service.lineage(conn, asset_id, version=version, direction=direction,
                                      depth=depth)  # fmt: skip
        datasets = await repository.datasets_of(conn, [r["run_id"] for r in graph["runs"]])
        ids = {d["asset_id"] for d in datasets} | {asset_id}
        known = {r["id"]: r for r in await assets_repository.by_ids(conn, sorted(ids))}
    locations = {d["asset_id"]: d["location"] for d in datasets}
    assets = {
        i: LineageAsset(location=known[i]["location"] if i in known else locations.get(i, "?"),
                        name=known[i]["name"] if i in known else None)
        for i in ids
    }  # fmt: skip
    if not graph["runs"] and asset_id not in known:
        raise NotFound("no asset with this id, and no run that read or wrote it")
    return graph, assets


@router.get("/assets/{asset_id}/lineage", response_model=LineageOut,
            summary="The runs that made the asset and the runs that read it",
            responses={404: {"description": "No such asset"}})  # fmt: skip
async def asset_lineage(
    request: Request, asset_id: uuid.UUID, *, purpose: Purpose = AuditPurpose.Admin,
    direction: Direction = "both", version: Version = None, depth: Depth = 3,
) -> LineageOut:  # fmt: skip
    await _reader(request, purpose, f"catalog/assets/{asset_id}/lineage")
    graph, assets = await graph_of(asset_id, version=version, direction=direction, depth=depth)
    return LineageOut(asset_id=asset_id, runs=graph["runs"], edges=graph["edges"], assets=assets)


@router.get(
    "/assets/{asset_id}/lineage.svg",
    summary="The asset's lineage as an SVG picture",
    response_class=Response,
    responses={200: {"content": {"image/svg+xml": {}}, "description": "The picture"},
               404: {"description": "No such asset"},
               503: {"description": "Graphviz is not installed"}},
)  # fmt: skip
async def asset_lineage_svg(
    request: Request, asset_id: uuid.UUID, *, purpose: Purpose = AuditPurpose.Admin,
    direction: Direction = "both", version: Version = None, depth: Depth = 3,
) -> Response:  # fmt: skip
    await _reader(request, purpose, f"catalog/assets/{asset_id}/lineage")
    graph, assets = await graph_of(asset_id, version=version, direction=direction, depth=depth)
    names = {str(i): a.name or a.location for i, a in assets.items()}
    picture = await anyio.to_thread.run_sync(lambda: svg.render(str(asset_id), names, graph))
    return Response(picture, media_type="image/svg+xml")


@router.get("/runs/{run_id}", response_model=RunDetail, summary="One run: its state and assets",
            responses={404: {"description": "No such run"}})  # fmt: skip
async def get_run(
    request: Request, run_id: uuid.UUID, *, purpose: Purpose = AuditPurpose.Admin
) -> RunDetail:
    await _reader(request, purpose, f"catalog/runs/{run_id}")
    async with get_engine().connect() as conn:
        run = await repository.run(conn, run_id)
        if run is None:
            raise NotFound("no run with this id")
        datasets = await repository.datasets_of(conn, [run_id])
    sides: dict[str, list[RunDataset]] = {"input": [], "output": []}
    for d in datasets:
        sides[d["direction"]].append(RunDataset(asset_id=d["asset_id"], location=d["location"],
                                                version=d["version"]))  # fmt: skip
    return RunDetail(**run, inputs=sides["input"], outputs=sides["output"])
