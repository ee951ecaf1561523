"""The validation report of an upload: returned by the endpoint, stored with the upload."""

from __future__ import annotations

from pydantic import BaseModel


class RuleReport(BaseModel):
    rule: str  # not_null | type | allowed_values | timestamp_range | min_value | duplicate | ...
    column: str  # "*" for a malformed row; the key columns for a duplicate
    rows: int
    sample_rows: list[int]  # the first 10 row numbers (1 = the first line after the header)


class UploadReport(BaseModel):
    upload_id: str
    tenant: str
    data_type: str
    status: str  # landed | failed
    bytes: int
    sha256: str
    rows_total: int
    rows_valid: int
    rows_landed: int  # new rows in the table
    rows_updated: int  # items whose attributes changed
    rows_already_landed: int  # valid rows the table already held (a re-upload, a duplicate)
    rows_rejected: int
    rules: list[RuleReport]
    ignored_columns: list[str]
    table: str
    quarantine: str | None
    dead_letters: int
    detail: str | None = None
