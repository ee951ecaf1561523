"""Pull job configuration and replies: one pydantic model per source kind, a discriminated
union on `kind`. Names that reach SQL are validated as identifiers (and quoted when used);
secrets (DSNs, HTTP headers) are stored encrypted (credentials.py) and only ever shown masked.
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

from libs.common import lake_tables
from libs.common.validation import NUL, PgText
from services.ingest.pull.schedule import valid_cron

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
JOB_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$")  # an RFC 9110 token
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


def _header_name(value: str) -> str:
    if not HEADER_NAME.fullmatch(value):
        raise ValueError("header names are 1-100 letters, digits and !#$%&'*+-.^_`|~")
    return value


def _header_value(value: SecretStr) -> SecretStr:
    if any(c in value.get_secret_value() for c in ("\r", "\n", NUL)):
        raise ValueError("header values must not contain CR, LF or NUL")
    return value


Identifier = Annotated[str, AfterValidator(_identifier)]
JobName = Annotated[str, AfterValidator(_job_name)]
HeaderName = Annotated[str, AfterValidator(_header_name)]
HeaderValue = Annotated[SecretStr, AfterValidator(_header_value)]


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
        dsn = value.get_secret_value()
        parts = urlsplit(dsn)
        if parts.scheme not in ("postgresql", "postgres") or not parts.hostname or NUL in dsn:
            raise ValueError("must be a postgresql://user:password@host:port/database URL")
        try:
            parts.port  # noqa: B018 - raises on a port that is not a number in 0..65535
        except ValueError:
            raise ValueError("the port must be a number from 0 to 65535") from None
        return value


class FileDropSource(_Strict):
    """Files matching `pattern` under a lake prefix or a local folder, each taken once."""

    kind: Literal["file_drop"]
    location: Literal["lake", "local"] = "lake"
    path: str = Field(min_length=1, max_length=512, description="lake prefix or local folder")
    pattern: PgText = Field("*", min_length=1, max_length=200, description="glob on the file name")
    format: Literal["auto", "jsonl", "json", "csv"] = "auto"

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        if ".." in value.split("/") or "\x00" in value:
            raise ValueError("must not contain '..' segments or a NUL character")
        return value


class HttpSource(_Strict):
    """GET a JSON API; records sit at `records_path` (dotted) in the reply."""

    kind: Literal["http"]
    url: PgText = Field(
        max_length=2000, description="its host must be in MINDLAKE_INGEST_PULL_ALLOWED_HOSTS"
    )
    params: dict[PgText, PgText] = Field(
        default_factory=dict, description="stored and shown as given: secrets go in headers"
    )
    headers: dict[HeaderName, HeaderValue] = Field(
        default_factory=dict, description="stored encrypted, shown masked"
    )
    records_path: PgText = Field(
        "", max_length=200, description="e.g. 'data.items'; '' = the reply"
    )
    cursor_param: PgText | None = Field(None, max_length=100, description="query parameter")
    cursor_field: PgText | None = Field(None, max_length=100, description="record field")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL")
        try:
            parts.port  # noqa: B018 - raises on a port that is not a number in 0..65535
        except ValueError:
            raise ValueError("the port must be a number from 0 to 65535") from None
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

    subject_field: PgText | None = Field(
        None, max_length=100, description="top-level field holding a user id: keyed-hashed"
    )
    keep_fields: list[PgText] = Field(
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


def stored_source(
    source: PostgresSource | FileDropSource | HttpSource,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The source as stored in clear (redacted: what replies show), and its secrets (stored
    sealed, see credentials.py)."""
    data = source.model_dump(mode="python")
    secrets: dict[str, Any] = {}
    if isinstance(source, PostgresSource):
        secrets["dsn"] = source.dsn.get_secret_value()
    if isinstance(source, HttpSource) and source.headers:
        secrets["headers"] = {k: v.get_secret_value() for k, v in source.headers.items()}
    if "headers" in data:
        data["headers"] = dict.fromkeys(data["headers"], MASK)
    if "dsn" in data:
        data["dsn"] = mask_dsn(secrets["dsn"])
    return data, secrets


def mask_dsn(dsn: str) -> str:
    """postgresql://user:secret@host:5432/db?sslmode=x -> postgresql://***@host:5432/db."""
    parts = urlsplit(dsn)
    host = parts.netloc.rpartition("@")[2]  # host and port as written ([::1]:5432)
    return f"{parts.scheme}://{MASK}@{host}{parts.path}"


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
    return lake_tables.pulled_table(job_name)
