"""Read-only SQL over the lake for admins: DuckDB in-process, over Arrow views of the lake.

What a query can see (each a view, consenting users only — the `analytics` purpose, one bulk
consent query — and never a user id, a body or free text):
- `raw_events(service, event_date, event_type, subject_key, event_time)`
- `interactions(tenant, subject_key, item_id, interaction_type, event_time, event_date, rating)`
- `items(tenant, item_id, category, title, price, created_at)`

Guards: the text must parse (DuckDB's own parser) as exactly one SELECT (a WITH ... SELECT is
one); the connection has no file or network access (`enable_external_access=false`) and its
configuration is locked before the query runs; at most `row_limit` rows come back; a timer
interrupts the query after `timeout_s`. Views are materialized per query (consent is read at
query time), so a query costs a scan of the lake's small non-text columns.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.common.contracts import ConsentPurpose
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


class SqlRejected(Exception):
    """Not a single read-only statement, or not valid SQL."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind  # "syntax" | "not_read_only"
        self.detail = detail


class SqlTimeout(Exception):
    pass


class SqlFailed(Exception):
    """A valid SELECT that DuckDB could not run (unknown column, permission, type error)."""


@dataclass(frozen=True)
class SqlResult:
    columns: list[dict[str, str]]
    rows: list[list[Any]]
    truncated: bool
    elapsed_ms: float


_PRAGMA = re.compile(r"\bpragma_\w+", re.IGNORECASE)


def check_read_only(sql: str) -> str:
    """The one statement of `sql` if it is a SELECT, else `SqlRejected`."""
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:  # ParserException: the admin's own text, shown back to them
        raise SqlRejected("syntax", str(exc).split("\n")[0]) from None
    if len(statements) != 1:
        raise SqlRejected("not_read_only", f"send exactly one statement, not {len(statements)}")
    statement = statements[0]
    if statement.type != duckdb.StatementType.SELECT:
        raise SqlRejected("not_read_only", f"only SELECT is allowed, not {statement.type.name}")
    query = str(statement.query)
    if _PRAGMA.search(query):  # DuckDB 1.x parses a PRAGMA as a SELECT of pragma_<name>()
        raise SqlRejected("not_read_only", "only SELECT is allowed, not PRAGMA")
    return query


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
    query = check_read_only(sql)
    con = duckdb.connect(
        ":memory:",
        config={"enable_external_access": False, "memory_limit": memory_limit, "threads": 2},
    )
    timer = threading.Timer(timeout_s, con.interrupt)
    started = time.perf_counter()
    try:
        for name, table in views.items():
            con.register(name, table)
        con.execute("SET lock_configuration = true")
        timer.start()
        try:
            relation = con.sql(query)
            if relation is None:  # not a query after all
                raise SqlRejected("not_read_only", "the statement returns no rows")
            table = relation.limit(row_limit + 1).to_arrow_table()
        except duckdb.InterruptException:
            raise SqlTimeout(f"the query ran longer than {timeout_s:g} s") from None
        except duckdb.Error as exc:
            raise SqlFailed(str(exc).split("\n")[0]) from None
    finally:
        timer.cancel()
        con.close()
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
