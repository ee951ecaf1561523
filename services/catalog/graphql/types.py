"""The GraphQL types of the lakehouse document's schema, over the catalog's rows.

Deviations, on purpose: `version` is nullable (a file set has no table version); sizes are
`Long` (64-bit), since GraphQL's Int is 32-bit; `StorageFormat` lists what MindLake stores
(Delta, Parquet, JSONL, ...), not the document's Sled and WebM formats (DESIGN.md).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NewType, cast

import strawberry
from strawberry.scalars import JSON

from services.catalog.assets.known import AssetType, StorageFormat

DataAssetType = strawberry.enum(AssetType, name="DataAssetType")
StorageFormatType = strawberry.enum(StorageFormat, name="StorageFormat")
Long = strawberry.scalar(
    NewType("Long", int),
    serialize=int,
    parse_value=int,
    description="A 64-bit integer (byte and row counts)",
)


@strawberry.type(description="One column and its privacy class")
class Column:
    name: str
    type: str
    nullable: bool
    privacy: str = strawberry.field(
        description="clear, keyed_hash, encrypted_per_user or scrubbed_free_text"
    )
    personal: bool = strawberry.field(description="A clear column that names a person")


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
