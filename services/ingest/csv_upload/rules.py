"""What a valid row is, per data type: the columns, and a pandera schema per chunk.

Every column is read as text, so a bad value fails its own rule instead of the whole file.
Rules are named (the report, the quarantine's `reason` and a metric label use the names):
`not_null`, `type`, `allowed_values`, `timestamp_range`, `min_value`, `duplicate`,
`opaque_id` (a user id that is an e-mail address or a phone number), plus
`malformed_row` for a line that does not split into the header's columns.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from libs.common.validation import contact_kind
from services.ingest.csv_upload.datatypes import INTERACTION_TYPES, RULES, DataType

ROW_KEY = "_row_key"  # the dedup key, computed before validation


def parse_timestamps(values: pd.Series) -> pd.Series:
    """ISO 8601 text -> UTC timestamps (NaT where it does not parse); naive times are UTC."""
    return pd.to_datetime(values, errors="coerce", utc=True, format="ISO8601")


def parse_numbers(values: pd.Series) -> pd.Series:
    return pd.to_numeric(values, errors="coerce")


def _parses(parse: Callable[[pd.Series], pd.Series]) -> pa.Check:
    # Missing values are not_null's business (or allowed, for optional columns).
    return pa.Check(lambda s: parse(s).notna() | s.isna(), name="type")


def _in_range(floor: datetime, ceiling: datetime) -> pa.Check:
    def check(s: pd.Series) -> pd.Series:
        parsed = parse_timestamps(s)
        return parsed.isna() | ((parsed >= floor) & (parsed <= ceiling))

    return pa.Check(check, name="timestamp_range")


def _non_negative() -> pa.Check:
    return pa.Check(lambda s: ~(parse_numbers(s) < 0), name="min_value")


def _opaque() -> pa.Check:
    """User ids land in clear (libs/common/validation.py says why they must be opaque)."""
    return pa.Check(
        lambda s: s.isna() | s.map(lambda v: contact_kind(str(v)) is None), name="opaque_id"
    )


def schema_for(
    data_type: DataType, *, floor: datetime, ceiling: datetime, allow_contact_ids: bool = False
) -> pa.DataFrameSchema:
    columns: dict[str, pa.Column] = {}
    for name in data_type.columns:
        checks: list[pa.Check] = []
        if name in data_type.timestamps:
            checks += [_parses(parse_timestamps), _in_range(floor, ceiling)]
        if name in data_type.numbers:
            checks += [_parses(parse_numbers), _non_negative()]
        if name == "interaction_type":
            checks.append(pa.Check.isin(INTERACTION_TYPES))
        if name == "user_id" and not allow_contact_ids:
            checks.append(_opaque())
        required = name in data_type.required
        # dtype None: the text is checked by the rules, not by its pandas dtype
        columns[name] = pa.Column(None, nullable=not required, required=required, checks=checks)
    columns[ROW_KEY] = pa.Column(None, nullable=True)
    return pa.DataFrameSchema(
        columns, unique=[ROW_KEY], report_duplicates="exclude_first", strict=False
    )


def rule_of(check: str) -> str:
    """pandera's check name -> our rule name."""
    if check == "not_nullable":
        return "not_null"
    if check.startswith("isin"):
        return "allowed_values"
    if "uniqueness" in check or check.startswith("unique"):
        return "duplicate"
    return check if check in RULES else "type"


def failures(schema: pa.DataFrameSchema, frame: pd.DataFrame, key: tuple[str, ...]) -> pd.DataFrame:
    """One row per (row number, rule, column) that failed; `frame`'s index is the row number."""
    try:
        schema.validate(frame, lazy=True)
    except SchemaErrors as exc:
        cases = exc.failure_cases
        out = pd.DataFrame(
            {
                "row": cases["index"],
                "rule": cases["check"].astype(str).map(rule_of),
                "column": cases["column"].astype(str),
            }
        )
        out.loc[out["rule"] == "duplicate", "column"] = ",".join(key)
        out = out.dropna(subset=["row"]).drop_duplicates()
        return out.astype({"row": "int64"})
    return pd.DataFrame(
        {
            "row": pd.Series(dtype="int64"),
            "rule": pd.Series(dtype=object),
            "column": pd.Series(dtype=object),
        }
    )
