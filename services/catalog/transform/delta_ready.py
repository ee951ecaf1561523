"""A query's result as a Delta table can hold it: checked names, types Delta knows.

DuckDB answers unsigned integers, nanosecond times and string views, which Delta tables do
not hold: they are cast (an unsigned value past int64 is refused). A name Delta cannot take
(spaces, punctuation) is refused with the column, so the caller can rename it with AS.
"""

from __future__ import annotations

import pyarrow as pa

from libs.common.errors import Unprocessable
from services.catalog.transform.plan import COLUMN


def _refuse(column: str, reason: str) -> Unprocessable:
    return Unprocessable(f"the result's column {column[:128]!r}: {reason}",
                         errors=[{"field": "parameters", "reason": reason}])  # fmt: skip


def _target(field: pa.Field) -> pa.DataType | None:
    """The type to cast the column to, or None to keep it."""
    t = field.type
    if pa.types.is_unsigned_integer(t):
        return pa.int64()
    if pa.types.is_timestamp(t) and t.unit == "ns":
        return pa.timestamp("us", tz=t.tz)
    if pa.types.is_string_view(t) or pa.types.is_large_string(t):
        return pa.string()
    if pa.types.is_time(t) or pa.types.is_interval(t) or pa.types.is_duration(t):
        return pa.string()  # Delta has no time of day or interval type
    return None


def delta_ready(table: pa.Table) -> pa.Table:
    if table.num_columns == 0:
        raise _refuse("", "the result has no columns")
    for name in table.column_names:
        if not COLUMN.match(name):
            raise _refuse(name, "a column is named with letters, digits and '_' (use AS)")
    if len(set(table.column_names)) != table.num_columns:
        raise _refuse(table.column_names[0], "two columns have the same name (use AS)")
    for i, field in enumerate(table.schema):
        target = _target(field)
        if target is None:
            continue
        try:
            table = table.set_column(i, pa.field(field.name, target), table.column(i).cast(target))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            raise _refuse(field.name, f"a {field.type} value does not fit in {target}") from None
    return table
