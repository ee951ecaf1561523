"""The GraphQL types of the lakehouse document's schema, over the catalog's rows.

Deviations, on purpose: `version` is nullable (a file set has no table version); sizes are
`Long` (64-bit), since GraphQL's Int is 32-bit; `StorageFormat` lists what MindLake stores
(Delta, Parquet, JSONL, ...), not the document's Sled and WebM formats (DESIGN.md).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, NewType, cast

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from libs.common.db import get_engine
from libs.common.errors import Unprocessable
from services.catalog.assets.known import AssetType, StorageFormat
from services.catalog.lineage import service as lineage_service

DataAssetType = strawberry.enum(AssetType, name="DataAssetType")
StorageFormatType = strawberry.enum(StorageFormat, name="StorageFormat")
Long = strawberry.scalar(
    NewType("Long", int),
    serialize=int,
    parse_value=int,
    description="A 64-bit integer (byte and row counts)",
)


def asset_uuid(value: strawberry.ID) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise Unprocessable("id is not an asset id (a UUID)") from None


@strawberry.type(description="One column and its privacy class")
class Column:
    name: str
    type: str
    nullable: bool
    privacy: str = strawberry.field(
        description="clear, keyed_hash, encrypted_per_user or scrubbed_free_text"
    )
    personal: bool = strawberry.field(description="A clear column that names a person")


async def _lineage(
    root: DataAsset, info: Info[Any, None], version: int | None = None
) -> DataLineage:
    """One run away, each way (follow `asset { lineage }` for more)."""
    start = uuid.UUID(str(root.id))
    async with get_engine().connect() as conn:
        up = await lineage_service.walk(conn, start, version=version, direction="upstream", depth=1)
        down = await lineage_service.walk(conn, start, version=version, direction="downstream",
                                          depth=1)  # fmt: skip
    return DataLineage(upstream=_edges(up, str(start), "upstream"),
                       downstream=_edges(down, str(start), "downstream"))  # fmt: skip


@strawberry.type(description="A Delta table or a file set of the lake")
class DataAsset:
    id: strawberry.ID
    name: str
    description: str | None
    asset_type: DataAssetType  # type: ignore[valid-type]
    storage_format: StorageFormatType  # type: ignore[valid-type]
    schema: JSON
    tags: list[str]
    created_at: datetime
    updated_at: datetime
    version: int | None
    location: str
    owner: str
    purpose: str | None = strawberry.field(
        description="The consent purpose a use needs; null: each use checks its own"
    )
    retention: str
    columns: list[Column]
    partition_columns: list[str]
    rows: Long | None  # type: ignore[valid-type]
    bytes: Long  # type: ignore[valid-type]
    files: int
    status: str
    lineage: DataLineage = strawberry.field(
        resolver=_lineage,
        description="The runs that wrote and read it, one run away each way",
    )

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> DataAsset:
        columns = [Column(**c) for c in row["columns"]]
        return cls(
            id=strawberry.ID(str(row["id"])), name=row["name"], description=row["description"],
            asset_type=AssetType(row["asset_type"]),
            storage_format=StorageFormat(row["storage_format"]),
            schema=cast(JSON, {"fields": row["columns"],
                               "partitionColumns": row["partition_columns"]}),
            tags=list(row["tags"]), created_at=row["created_at"], updated_at=row["updated_at"],
            version=row["version"], location=row["location"], owner=row["owner"],
            purpose=row["purpose"], retention=row["retention"], columns=columns,
            partition_columns=list(row["partition_columns"]), rows=row["rows"],
            bytes=row["bytes"], files=int(row["files"]), status=row["status"],
        )  # fmt: skip


@strawberry.type(description="A run of a job that read or wrote assets")
class LineageRun:
    run_id: strawberry.ID
    job: str
    service: str
    state: str = strawberry.field(description="START (running), COMPLETE or FAIL")
    started_at: datetime | None
    ended_at: datetime | None
    facets: JSON


async def _edge_asset(root: LineageEdge, info: Info[Any, None]) -> DataAsset | None:
    row = await info.context.assets.load(uuid.UUID(str(root.asset_id)))
    return DataAsset.from_row(row) if row else None


@strawberry.type(description="One asset a run read (upstream) or wrote (downstream)")
class LineageEdge:
    asset_id: strawberry.ID
    version: int | None = strawberry.field(description="The asset's version the run saw")
    direction: str = strawberry.field(description="input or output of the run")
    run: LineageRun
    asset: DataAsset | None = strawberry.field(
        resolver=_edge_asset, description="The asset, if it is in the catalog"
    )


@strawberry.type(description="The runs around an asset and the assets on their other side")
class DataLineage:
    upstream: list[LineageEdge] = strawberry.field(
        description="What the runs that wrote this asset read"
    )
    downstream: list[LineageEdge] = strawberry.field(
        description="What the runs that read this asset wrote"
    )


def _edges(graph: dict[str, Any], start: str, direction: str) -> list[LineageEdge]:
    """The edges on the far side of the runs: their inputs (upstream) or outputs."""
    runs = {str(r["run_id"]): r for r in graph["runs"]}
    wanted = "input" if direction == "upstream" else "output"
    return [
        LineageEdge(
            asset_id=strawberry.ID(str(e["asset_id"])),
            version=e["version"],
            direction=e["direction"],
            run=_run(runs[str(e["run_id"])]),
        )
        for e in graph["edges"]
        if e["direction"] == wanted and str(e["asset_id"]) != start
    ]


def _run(r: dict[str, Any]) -> LineageRun:
    return LineageRun(
        run_id=strawberry.ID(str(r["run_id"])), job=r["job"], service=r["service"],
        state=r["state"], started_at=r["started_at"], ended_at=r["ended_at"],
        facets=cast(JSON, r["facets"]),
    )  # fmt: skip
