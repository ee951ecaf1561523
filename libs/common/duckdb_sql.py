"""Read-only DuckDB over Arrow tables: one checked SELECT, no file or network access.

Guards: the text must parse (DuckDB's own parser) as exactly one SELECT (a WITH ... SELECT is
one); the connection has no file or network access (`enable_external_access=false`) and its
configuration is locked before the query runs; at most `row_limit + 1` rows are read (so a
caller can tell a truncated result); a timer interrupts the query after `timeout_s`.
Analytics SQL (export) and the catalog's transformations both run through here.
"""

from __future__ import annotations

import re
import threading
from typing import Any

import duckdb
import pyarrow as pa


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


_PRAGMA = re.compile(r"\bpragma_\w+", re.IGNORECASE)


def check_read_only(sql: str) -> str:
    """The one statement of `sql` if it is a SELECT, else `SqlRejected`."""
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:  # ParserException: the caller's own text, shown back to them
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


def query_arrow(
    query: str,
    views: dict[str, pa.Table],
    *,
    row_limit: int,
    timeout_s: float,
    params: list[Any] | None = None,
    memory_limit: str = "2GB",
) -> pa.Table:
    """Run a query `check_read_only` passed over `views`; at most `row_limit + 1` rows
    (blocking: call it in a thread)."""
    con = duckdb.connect(
        ":memory:",
        config={"enable_external_access": False, "memory_limit": memory_limit, "threads": 2},
    )
    timer = threading.Timer(timeout_s, con.interrupt)
    try:
        for name, table in views.items():
            con.register(name, table)
        con.execute("SET lock_configuration = true")
        timer.start()
        try:
            relation = con.sql(query, params=params) if params else con.sql(query)
            if relation is None:  # not a query after all
                raise SqlRejected("not_read_only", "the statement returns no rows")
            return relation.limit(row_limit + 1).to_arrow_table()
        except duckdb.InterruptException:
            raise SqlTimeout(f"the query ran longer than {timeout_s:g} s") from None
        except duckdb.Error as exc:
            raise SqlFailed(str(exc).split("\n")[0]) from None
    finally:
        timer.cancel()
        con.close()
