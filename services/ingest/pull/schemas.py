"""Pull job configuration and replies: one pydantic model per source kind, a discriminated
union on `kind`. Names that reach SQL are validated as identifiers (and quoted when used);
secrets (DSNs, HTTP headers) are stored but only ever shown masked.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from services.ingest.pull.schedule import valid_cron

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
JOB_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
MASK = "***"


def _identifier(value: str) -> str:
    if not IDENTIFIER.fullmatch(value):
        raise ValueError(
            "must be a SQL identifier: letters, digits and _, not starting with a digit"
        )
    return value


def _job_name(value: str) -> str:
    if not JOB_NAME.fullmatch(value):
        raise ValueError("must be 1-63 of a-z, 0-9, _ and -, starting with a letter")
    return value


Identifier = Annotated[str, AfterValidator(_identifier)]
JobName = Annotated[str, AfterValidator(_job_name)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PostgresSource(_Strict):
    """Rows of one table with `cursor_column` greater than the last value taken."""

    kind: Literal["postgres"]
    dsn: SecretStr = Field(description="postgresql://user:password@host:port/database")
    table_schema: Identifier = "public"
    table: Identifier
    cursor_column: Identifier
    columns: list[Identifier] | None = Field(None, description="default: every column")

    @field_validator("dsn")
    @classmethod
    def _dsn(cls, value: SecretStr) -> SecretStr:
        parts = urlsplit(value.get_secret_value())
        if parts.scheme not in ("postgresql", "postgres") or not parts.hostname:
            raise ValueError("must be a postgresql://user:password@host:port/database URL")
        return value


class FileDropSource(_Strict):
    """Files matching `pattern` under a lake prefix or a local folder, each taken once."""

    kind: Literal["file_drop"]
    location: Literal["lake", "local"] = "lake"
    path: str = Field(min_length=1, max_length=512, description="lake prefix or local folder")
    pattern: str = Field("*", min_length=1, max_length=200, description="glob on the file name")
    format: Literal["auto", "jsonl", "json", "csv"] = "auto"

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        if ".." in value.split("/") or "\x00" in value:
            raise ValueError("must not contain '..' segments")
        return value


class HttpSource(_Strict):
    """GET a JSON API; records sit at `records_path` (dotted) in the reply."""

    kind: Literal["http"]
    url: str = Field(max_length=2000)
    params: dict[str, str] = Field(default_factory=dict)
    headers: dict[str, SecretStr] = Field(default_factory=dict, description="stored, shown masked")
    records_path: str = Field("", max_length=200, description="e.g. 'data.items'; '' = the reply")
    cursor_param: str | None = Field(None, max_length=100, description="query parameter")
    cursor_field: str | None = Field(None, max_length=100, description="record field")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL")
        return value

    @model_validator(mode="after")
    def _cursor(self) -> HttpSource:
        if (self.cursor_param is None) != (self.cursor_field is None):
            raise ValueError("cursor_param and cursor_field go together")
        return self


Source = Annotated[PostgresSource | FileDropSource | HttpSource, Field(discriminator="kind")]


class Schedule(_Strict):
    interval_s: int | None = Field(None, ge=1, le=366 * 86400)
    cron: str | None = Field(None, max_length=100, description="5 fields, UTC")

    @model_validator(mode="after")
    def _one(self) -> Schedule:
        if (self.interval_s is None) == (self.cron is None):
            raise ValueError("give exactly one of interval_s and cron")
        if self.cron is not None and not valid_cron(self.cron):
            raise ValueError("cron must be a valid 5-field cron expression")
        return self


class Landing(_Strict):
    """How records are protected on landing."""

    subject_field: str | None = Field(
        None, max_length=100, description="top-level field holding a user id: keyed-hashed"
    )
    keep_fields: list[str] = Field(
        default_factory=list, description="top-level string fields kept as they are (ids, codes)"
    )


class PullJobCreate(_Strict):
    name: JobName
    source: Source
    schedule: Schedule
    landing: Landing = Field(default_factory=Landing)
    max_errors: int = Field(5, ge=1, le=1000)
    status: Literal["active", "paused"] = "active"


class PullJobUpdate(_Strict):
    source: Source | None = None
    schedule: Schedule | None = None
    landing: Landing | None = None
    max_errors: int | None = Field(None, ge=1, le=1000)
    status: Literal["active", "paused"] | None = Field(
        None, description="setting 'active' resumes a failed job and resets error_count"
    )


class PullJobOut(BaseModel):
    id: int
    name: str
    table: str
    source: dict[str, Any]
    schedule: dict[str, Any]
    landing: dict[str, Any]
    status: str
    max_errors: int
    error_count: int
    last_error: str | None
    last_run_at: datetime | None
    next_run_at: datetime | None
    created_at: datetime


class PullRunOut(BaseModel):
    id: str
    trigger: str
    state: str
    rows: int
    files: int
    lake_version: int | None
    error: str | None
    started_at: datetime
    finished_at: datetime | None


def stored_source(source: PostgresSource | FileDropSource | HttpSource) -> dict[str, Any]:
    """The source as stored: secrets in clear (the database is the secret store here)."""
    data = source.model_dump(mode="python")
    if isinstance(source, PostgresSource):
        data["dsn"] = source.dsn.get_secret_value()
    if isinstance(source, HttpSource):
        data["headers"] = {k: v.get_secret_value() for k, v in source.headers.items()}
    return data


def mask_dsn(dsn: str) -> str:
    """postgresql://user:secret@host:5432/db?sslmode=x -> postgresql://***@host:5432/db."""
    parts = urlsplit(dsn)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{MASK}@{host}{port}{parts.path}"


def masked_source(stored: dict[str, Any]) -> dict[str, Any]:
    """What an API reply or a log may show of a stored source."""
    data = dict(stored)
    if "dsn" in data:
        data["dsn"] = mask_dsn(str(data["dsn"]))
    if "headers" in data:
        data["headers"] = {k: MASK for k in data["headers"]}
    return data


def table_path(job_name: str) -> str:
    """Where a job's rows land, under the lake root."""
    return f"raw/pulled/{job_name}"
