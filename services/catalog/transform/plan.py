"""A transformation's parameters, checked, as one read-only DuckDB query over the view
`source` (the asset as the caller's purpose may see it; source.py).

- `SQL`: `{"sql": "SELECT ... FROM source"}`, any one SELECT (libs/common/duckdb_sql.py).
- `FILTER`: `{"where": [{"column": c, "op": "=", "value": v}, ...]}`, every condition must
  hold; `op` is one of OPS; values are bound as parameters, never spliced into the text.
- `COLUMN_RENAME`: `{"renames": {"old": "new", ...}}`; the other columns stay as they are.
- every type: `name`, the derived asset's name (`derived/<purpose>/<name>`), by default the
  type and a random suffix.

`RUST_CODE` and `ML_MODEL` (the lakehouse document's other types) are declined with a reason.
Every refusal names the parameter and why, as a 422.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from libs.common.duckdb_sql import SqlRejected, check_read_only
from libs.common.errors import Unprocessable
from libs.common.lake_crypto import SUBJECT_COLUMN


class TransformationType(StrEnum):  # the lakehouse document's enum
    SQL = "SQL"
    RUST_CODE = "RUST_CODE"
    ML_MODEL = "ML_MODEL"
    COLUMN_RENAME = "COLUMN_RENAME"
    FILTER = "FILTER"


DECLINED = {
    TransformationType.RUST_CODE: "RUST_CODE is declined: MindLake runs no uploaded code; "
    "write the transformation as SQL (read-only DuckDB)",
    TransformationType.ML_MODEL: "ML_MODEL is declined: models are trained by their services "
    "(`mindlake risk train`), from consented data, with their own checks",
}
OPS = ("=", "!=", "<", "<=", ">", ">=", "in", "not in", "is null", "is not null")
NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
COLUMN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
INT64 = (-(2**63), 2**63 - 1)
IN_VALUES_MAX, CONDITIONS_MAX, SQL_CHARS_MAX = 1000, 20, 20_000
KEYS = {
    TransformationType.SQL: {"sql", "name"},
    TransformationType.FILTER: {"where", "name"},
    TransformationType.COLUMN_RENAME: {"renames", "name"},
}


@dataclass(frozen=True)
class Plan:
    name: str
    query: str
    params: list[Any] = field(default_factory=list)


def _refuse(parameter: str, reason: str) -> Unprocessable:
    return Unprocessable(
        f"parameters.{parameter}: {reason}",
        errors=[{"field": f"parameters.{parameter}", "reason": reason}],
    )


def quote(column: str) -> str:
    return '"' + column.replace('"', '""') + '"'


def plan(kind: TransformationType, parameters: Any, columns: list[str]) -> Plan:
    """The query `parameters` ask for over a source with `columns`, or a 422."""
    if kind in DECLINED:
        raise Unprocessable(
            DECLINED[kind], errors=[{"field": "transformationType", "reason": DECLINED[kind]}]
        )
    if not isinstance(parameters, dict):
        raise Unprocessable(
            "parameters must be an object", errors=[{"field": "parameters", "reason": "object"}]
        )
    unknown = sorted(set(parameters) - KEYS[kind])
    if unknown:
        raise _refuse(unknown[0][:64], f"not a parameter of {kind}; use {sorted(KEYS[kind])}")
    name = _name(parameters.get("name"), kind)
    if kind is TransformationType.SQL:
        return Plan(name, _sql(parameters.get("sql")))
    if kind is TransformationType.FILTER:
        query, params = _filter(parameters.get("where"), columns)
        return Plan(name, query, params)
    return Plan(name, _rename(parameters.get("renames"), columns))


def _name(value: Any, kind: TransformationType) -> str:
    if value is None:
        return f"{kind.lower().replace('_', '-')}-{uuid.uuid4().hex[:8]}"
    if not isinstance(value, str) or not NAME.match(value):
        raise _refuse("name", "1 to 63 of a-z, 0-9, '_' and '-', starting with a letter or digit")
    return value


def _sql(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _refuse("sql", "a SELECT over the view `source`")
    if len(value) > SQL_CHARS_MAX or "\x00" in value:
        raise _refuse("sql", f"at most {SQL_CHARS_MAX} characters, without NUL")
    try:
        return check_read_only(value)
    except SqlRejected as exc:
        raise _refuse("sql", exc.detail) from None


def _column(value: Any, columns: list[str], parameter: str) -> str:
    if not isinstance(value, str) or value not in columns:
        known = ", ".join(columns[:40])
        raise _refuse(parameter, f"not a column of the source (it has: {known})")
    return value


def _scalar(value: Any, parameter: str) -> Any:
    if isinstance(value, bool | float):
        return value
    if isinstance(value, int):
        if not INT64[0] <= value <= INT64[1]:
            raise _refuse(parameter, "an integer must fit in 64 bits")
        return value
    if isinstance(value, str):
        if "\x00" in value or len(value) > 10_000:
            raise _refuse(parameter, "a string of at most 10000 characters, without NUL")
        return value
    raise _refuse(parameter, "a string, a number or a boolean")


def _filter(value: Any, columns: list[str]) -> tuple[str, list[Any]]:
    if not isinstance(value, list) or not 1 <= len(value) <= CONDITIONS_MAX:
        raise _refuse("where", f"a list of 1 to {CONDITIONS_MAX} conditions")
    clauses: list[str] = []
    params: list[Any] = []
    for i, condition in enumerate(value):
        at = f"where[{i}]"
        if not isinstance(condition, dict) or not set(condition) <= {"column", "op", "value"}:
            raise _refuse(at, 'an object {"column", "op", "value"}')
        column = quote(_column(condition.get("column"), columns, f"{at}.column"))
        op = condition.get("op")
        if op not in OPS:
            raise _refuse(f"{at}.op", f"one of {', '.join(OPS)}")
        if op in ("is null", "is not null"):
            if "value" in condition:
                raise _refuse(f"{at}.value", f"'{op}' takes no value")
            clauses.append(f"{column} {op.upper()}")
        elif op in ("in", "not in"):
            values = condition.get("value")
            if not isinstance(values, list) or not 1 <= len(values) <= IN_VALUES_MAX:
                raise _refuse(f"{at}.value", f"a list of 1 to {IN_VALUES_MAX} values")
            params += [_scalar(v, f"{at}.value") for v in values]
            clauses.append(f"{column} {op.upper()} ({', '.join('?' * len(values))})")
        else:
            if "value" not in condition or condition["value"] is None:
                raise _refuse(f"{at}.value", f"'{op}' compares with a value (for null: 'is null')")
            params.append(_scalar(condition["value"], f"{at}.value"))
            clauses.append(f"{column} {op} ?")
    # identifiers are known columns, quoted; values are bound parameters
    return "SELECT * FROM source WHERE " + " AND ".join(clauses), params  # noqa: S608


def _rename(value: Any, columns: list[str]) -> str:
    if not isinstance(value, dict) or not value:
        raise _refuse("renames", 'an object {"old name": "new name", ...}')
    for old, new in value.items():
        _column(old, columns, f"renames.{old[:64]}")
        if not isinstance(new, str) or not COLUMN.match(new):
            raise _refuse(f"renames.{old}", "a column name: letters, digits and '_' (128 at most)")
        if SUBJECT_COLUMN in (old, new):
            raise _refuse(f"renames.{old}", f"{SUBJECT_COLUMN} keeps its name: erasure finds "
                          "a user's rows by it")  # fmt: skip
    names = [value.get(c, c) for c in columns]
    if len(set(names)) != len(names):
        raise _refuse("renames", "two columns would have the same name")
    select = ", ".join(
        f"{quote(c)} AS {quote(value[c])}" if c in value else quote(c) for c in columns
    )
    return f"SELECT {select} FROM source"  # noqa: S608 (checked names, quoted)
