"""The tenants' uploaded tables, read by path (the contract with services/ingest/csv_upload:
`raw/tenants/<tenant>/interactions` and `.../items`), as Polars frames with the table version.

Files rewritten by an erasure (a Delta DELETE) carry string_view columns, so nothing is
filtered in the scan: `read_delta` casts them to plain strings and filtering happens in memory.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl
from pyarrow import fs

from libs.common import lake_tables
from libs.common.lake import Lake, read_delta

TENANTS_PREFIX = lake_tables.TENANTS
INTERACTION_COLUMNS = [
    "row_key",
    "user_id",
    "subject_key",
    "item_id",
    "interaction_type",
    "event_time",
    "rating",
]
ITEM_COLUMNS = ["item_id", "category"]


@dataclass(frozen=True)
class Source:
    path: str
    version: int | None  # None: the table does not exist (yet)
    rows: pl.DataFrame


def tenant_table(tenant: str, data_type: str) -> str:
    return lake_tables.tenant_table(tenant, data_type)


def tenant_dirs(lake: Lake) -> list[str]:
    """The tenants' folder names, sorted (one listing of `raw/tenants`, not recursive)."""
    base = lake.uri(TENANTS_PREFIX).removeprefix("s3://")
    selector = fs.FileSelector(base, recursive=False, allow_not_found=True)
    return sorted(
        info.base_name
        for info in lake.filesystem.get_file_info(selector)
        if info.type == fs.FileType.Directory
    )


def list_tenants(lake: Lake) -> list[str]:
    """Tenants with an interactions table, sorted."""
    names = tenant_dirs(lake)
    return [t for t in names if lake.delta_table(tenant_table(t, "interactions")) is not None]


def read_table(lake: Lake, tenant: str, data_type: str, columns: list[str]) -> Source:
    path = tenant_table(tenant, data_type)
    table = lake.delta_table(path)
    if table is None:
        return Source(path, None, pl.DataFrame())
    return Source(path, table.version(), pl.DataFrame(read_delta(table, columns)))


def read_interactions(lake: Lake, tenant: str) -> Source:
    return read_table(lake, tenant, "interactions", INTERACTION_COLUMNS)


def read_items(lake: Lake, tenant: str) -> Source:
    return read_table(lake, tenant, "items", ITEM_COLUMNS)
