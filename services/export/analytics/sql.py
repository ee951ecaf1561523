"""Read-only SQL over the lake for admins: DuckDB in-process, over Arrow views of the lake.

What a query can see (each a view, consenting users only — the `analytics` purpose, one bulk
consent query — and never a user id, a body or free text):
- `raw_events(service, event_date, event_type, subject_key, event_time)`
- `interactions(tenant, subject_key, item_id, interaction_type, event_time, event_date, rating)`
- `items(tenant, item_id, category, title, price, created_at)`

Guards (libs/common/duckdb_sql.py): exactly one SELECT, no file or network access, a locked
configuration, at most `row_limit` rows back, a timer that interrupts after `timeout_s`.
Views are materialized per query (consent is read at query time), so a query costs a scan of
the lake's small non-text columns.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.common.contracts import ConsentPurpose
from libs.common.duckdb_sql import check_read_only, query_arrow
from libs.common.lake import Lake, read_delta
from services.export.analytics.source import EVENT_COLUMNS, EVENTS_SCHEMA, RAW_EVENTS, consented
from services.export.recsys.source import tenant_dirs, tenant_table

INTERACTION_COLUMNS = [
    "subject_key",
    "item_id",
    "interaction_type",
    "event_time",
    "event_date",
    "rating",
]
ITEM_COLUMNS = ["item_id", "category", "title", "price", "created_at"]


@dataclass(frozen=True)
class SqlResult:
    columns: list[dict[str, str]]
    rows: list[list[Any]]
    truncated: bool
    elapsed_ms: float


def _delta(lake: Lake, rel: str, columns: list[str]) -> pa.Table | None:
    table = lake.delta_table(rel)
    return None if table is None else read_delta(table, columns)


async def load_views(lake: Lake, engine: AsyncEngine) -> dict[str, pa.Table]:
    """The Arrow tables behind the views (see the module doc)."""
    purpose = ConsentPurpose.ANALYTICS
    raw = _delta(lake, RAW_EVENTS, [*EVENT_COLUMNS, "user_id"])
    events = (
        (await consented(engine, raw, purpose)).select(EVENT_COLUMNS)
        if raw is not None
        else EVENTS_SCHEMA.empty_table()
    )
    interactions: list[pa.Table] = []
    items: list[pa.Table] = []
    for tenant in tenant_dirs(lake):
        rows = _delta(lake, tenant_table(tenant, "interactions"), [*INTERACTION_COLUMNS, "user_id"])
        if rows is not None:
            rows = (await consented(engine, rows, purpose)).select(INTERACTION_COLUMNS)
            interactions.append(_with_tenant(rows, tenant))
        catalogue = _delta(lake, tenant_table(tenant, "items"), ITEM_COLUMNS)
        if catalogue is not None:
            items.append(_with_tenant(catalogue, tenant))
    return {
        "raw_events": events,
        "interactions": _concat(interactions, ["tenant", *INTERACTION_COLUMNS]),
        "items": _concat(items, ["tenant", *ITEM_COLUMNS]),
    }


def _with_tenant(table: pa.Table, tenant: str) -> pa.Table:
    return table.add_column(0, "tenant", pa.array([tenant] * table.num_rows, pa.string()))


def _concat(tables: list[pa.Table], columns: list[str]) -> pa.Table:
    if not tables:
        return pa.table({c: pa.array([], pa.string()) for c in columns})
    return pa.concat_tables(tables, promote_options="permissive")


def _json_value(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    return str(value)  # Decimal, UUID, intervals, nested values


def run(
    sql: str,
    views: dict[str, pa.Table],
    *,
    row_limit: int,
    timeout_s: float,
    memory_limit: str = "2GB",
) -> SqlResult:
    """Run one checked SELECT over `views` (blocking: call it in a thread)."""
    started = time.perf_counter()
    table = query_arrow(
        check_read_only(sql), views, row_limit=row_limit, timeout_s=timeout_s,
        memory_limit=memory_limit,
    )  # fmt: skip
    truncated = table.num_rows > row_limit
    table = table.slice(0, row_limit)
    columns = [[_json_value(v) for v in column.to_pylist()] for column in table.columns]
    rows = [list(row) for row in zip(*columns, strict=True)] if columns else []
    return SqlResult(
        columns=[{"name": f.name, "type": str(f.type)} for f in table.schema],
        rows=rows,
        truncated=truncated,
        elapsed_ms=round((time.perf_counter() - started) * 1000, 1),
    )
