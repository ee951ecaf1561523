"""Run one CSV upload: check the header, then validate and land chunk by chunk, recording
rejected rows in the dead-letter store, and store the report."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import anyio
import pyarrow as pa
import structlog

from libs.common.auth import TENANT_RE
from libs.common.catalog import asset_written, run_event, run_id_for
from libs.common.db import get_engine
from libs.common.errors import Unprocessable
from libs.common.lake import Lake
from services.ingest.config import IngestSettings
from services.ingest.csv_upload import metrics, repository, tables
from services.ingest.csv_upload.datatypes import DATA_TYPES, RULES, DataType
from services.ingest.csv_upload.schemas import RuleReport, UploadReport
from services.ingest.csv_upload.spool import Spooled
from services.ingest.deadletters import service as deadletter
from services.ingest.quality import service as quality

if TYPE_CHECKING:
    from services.ingest.csv_upload import pipeline

log = structlog.get_logger(__name__)

# rule -> the dead-letter store's reason kind (a closed set there too)
DEAD_LETTER_KIND = {"malformed_row": deadletter.PARSE_ERROR, "not_null": "missing"}


def check_target(tenant: str, data_type: str) -> DataType:
    errors = []
    if not TENANT_RE.fullmatch(tenant):  # fullmatch: `$` would let "acme\n" through
        errors.append({"field": "tenant", "reason": f"must match {TENANT_RE.pattern}"})
    if data_type not in DATA_TYPES:
        errors.append({"field": "data_type", "reason": f"must be one of {list(DATA_TYPES)}"})
    if errors:
        raise Unprocessable("the tenant or data type is not valid", errors=errors)
    return DATA_TYPES[data_type]


def check_header(header: list[str], data_type: DataType) -> list[str]:
    """The ignored columns; a missing required column (or a duplicated name) is a 422."""
    names = [h.strip() for h in header]
    missing = [c for c in data_type.required if c not in names]
    if missing:
        raise Unprocessable(
            f"the file lacks required columns: {', '.join(missing)}",
            errors=[{"field": c, "reason": "required column missing"} for c in missing],
        )
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise Unprocessable(
            "the header repeats column names",
            errors=[{"field": c, "reason": "repeated column"} for c in repeated],
        )
    return [n for n in names if n not in data_type.columns]


async def run_upload(
    *,
    spooled: Spooled,
    tenant: str,
    data_type: DataType,
    lake: Lake,
    settings: IngestSettings,
    key_id: str | None,
) -> UploadReport:
    # pandas and pandera load on the first upload, not with the API
    from services.ingest.csv_upload import pipeline

    header = pipeline.read_header(spooled.path)
    ignored = check_header(header, data_type)  # before anything is stored or landed
    upload_id = uuid.uuid4().hex
    now = datetime.now(UTC)
    floor = datetime.combine(settings.ingest_csv_timestamp_floor, datetime.min.time(), UTC)
    upload = pipeline.Upload(
        lake=lake,
        path=spooled.path,
        header=header,
        tenant=tenant,
        data_type=data_type,
        upload_id=upload_id,
        floor=floor,
        ceiling=now + timedelta(seconds=settings.ingest_csv_future_skew_s),
        chunk_rows=settings.ingest_csv_chunk_rows,
    )
    async with get_engine().begin() as conn:
        await repository.insert_upload(
            conn,
            upload_id=upload_id,
            tenant=tenant,
            data_type=data_type.name,
            sha256=spooled.sha256,
            size=spooled.bytes,
            key_id=key_id,
        )
    counts = {"valid": 0, "inserted": 0, "updated": 0, "rejected": 0, "dead_letters": 0}
    status, detail = "landed", None
    started = time.monotonic()
    try:
        # one writer per tenant table at a time, held for the whole upload
        async with get_engine().begin() as lock:
            await repository.lock_table(lock, tenant, data_type.name)
            chunks = upload.chunks()
            while (outcome := await anyio.to_thread.run_sync(_next, chunks)) is not None:
                counts["valid"] += outcome.valid
                counts["inserted"] += outcome.inserted
                counts["updated"] += outcome.updated
                counts["rejected"] += len(outcome.rejected)
                # landed chunks stay landed: a dead-letter failure is counted, not fatal
                if await deadletter.try_record(_dead_letters(outcome.rejected, upload, key_id)):
                    counts["dead_letters"] += len(outcome.rejected)
    except pa.ArrowInvalid:
        # the file stops parsing (e.g. a quote never closed): the chunks before stay landed,
        # and landing is idempotent, so the fixed file can simply be uploaded again
        status, detail = "failed", "the CSV stops parsing after the rows counted here"
    except BaseException as exc:
        status, detail = "failed", f"internal error: {type(exc).__name__}"
        log.error("csv_upload_failed", upload_id=upload_id, error_type=type(exc).__name__)
        with anyio.CancelScope(shield=True):
            await _finish(
                upload,
                spooled=spooled,
                counts=counts,
                ignored=ignored,
                status=status,
                detail=detail,
            )
        raise
    finally:
        await anyio.to_thread.run_sync(upload.quarantine.close)
    report = await _finish(
        upload, spooled=spooled, counts=counts, ignored=ignored, status=status, detail=detail
    )
    await anyio.to_thread.run_sync(_assets_written, upload, counts)  # after the last commit
    metrics.UPLOAD_SECONDS.labels(data_type.name).observe(time.monotonic() - started)
    return report


async def _finish(
    upload: pipeline.Upload,
    *,
    spooled: Spooled,
    counts: dict[str, int],
    ignored: list[str],
    status: str,
    detail: str | None,
) -> UploadReport:
    upload_id = upload.upload_id
    report = _report(
        upload, spooled=spooled, counts=counts, ignored=ignored, status=status, detail=detail
    )
    in_file_duplicates = sum(r.rows for r in report.rules if r.rule == "duplicate")
    async with get_engine().begin() as conn:
        await repository.finish_upload(conn, upload_id, status, report.model_dump(mode="json"))
        await quality.record(  # per tenant and data type, like the logs' per service
            conn,
            report.tenant,
            report.data_type,
            accepted=report.rows_landed + report.rows_updated,
            duplicate=report.rows_already_landed + in_file_duplicates,
            rejected=max(0, report.rows_rejected - in_file_duplicates),
        )
    _count(report)
    log.info(
        "csv_upload",
        upload_id=upload_id,
        data_type=report.data_type,
        status=status,
        rows=report.rows_total,
        rejected=report.rows_rejected,
    )
    return report


def _assets_written(upload: pipeline.Upload, counts: dict[str, int]) -> None:
    """Tell the catalog about the tenant table and the quarantine folder this upload wrote
    (in a thread: the Redis client blocks)."""
    written: list[tuple[str, int | None]] = []
    if counts["inserted"] + counts["updated"]:
        table = tables.table_path(upload.tenant, upload.data_type.name)
        asset_written(table, service="ingest")
        written.append((table, None))  # its version is not tracked by the upload
    if upload.quarantine.rows:  # raw/quarantine/<tenant>/<data_type>/<upload>.parquet
        asset_written(upload.quarantine.path.rsplit("/", 1)[0], service="ingest")
        written.append((upload.quarantine.path, None))
    if written:
        run_event(
            run_id_for("ingest.csv_upload", upload.upload_id), job="ingest.csv_upload",
            service="ingest", state="COMPLETE", outputs=written,
            facets={"tenant": upload.tenant, "data_type": upload.data_type.name},
        )  # fmt: skip


def _next(chunks: Iterator[pipeline.ChunkOutcome]) -> pipeline.ChunkOutcome | None:
    return next(chunks, None)


def _dead_letters(
    rejected: list[dict[str, Any]], upload: pipeline.Upload, key_id: str | None
) -> list[deadletter.DeadLetterIn]:
    out = []
    for r in rejected:
        payload: dict[str, Any] | str
        if r["values"] is None:
            payload = r["raw_text"]
        else:
            payload = {
                "tenant": upload.tenant,
                "data_type": upload.data_type.name,
                "upload_id": upload.upload_id,
                "row_number": r["row_number"],
                **r["values"],
            }
        out.append(
            deadletter.DeadLetterIn(
                source="csv",
                payload=payload,
                reason=f"CSV upload {upload.upload_id} row {r['row_number']}: {r['reason']}",
                field=r["column"],
                error_kind=DEAD_LETTER_KIND.get(r["rule"], deadletter.INVALID),
                key_id=key_id,
            )
        )
    return out


def _report(
    upload: pipeline.Upload,
    *,
    spooled: Spooled,
    counts: dict[str, int],
    ignored: list[str],
    status: str,
    detail: str | None,
) -> UploadReport:
    order = {rule: i for i, rule in enumerate(RULES)}
    rule_reports = [
        RuleReport(rule=rule, column=column, rows=t.rows, sample_rows=t.sample_rows)
        for (rule, column), t in sorted(upload.tally.items(), key=lambda kv: order[kv[0][0]])
    ]
    return UploadReport(
        upload_id=upload.upload_id,
        tenant=upload.tenant,
        data_type=upload.data_type.name,
        status=status,
        bytes=spooled.bytes,
        sha256=spooled.sha256,
        rows_total=upload.rows_total,
        rows_valid=counts["valid"],
        rows_landed=counts["inserted"],
        rows_updated=counts["updated"],
        rows_already_landed=counts["valid"] - counts["inserted"] - counts["updated"],
        rows_rejected=counts["rejected"],
        rules=rule_reports,
        ignored_columns=ignored,
        table=tables.table_path(upload.tenant, upload.data_type.name),
        quarantine=upload.quarantine.path if upload.quarantine.rows else None,
        dead_letters=counts["dead_letters"],
        detail=detail,
    )


def _count(report: UploadReport) -> None:
    name = report.data_type
    metrics.ROWS.labels(name, "landed").inc(report.rows_landed)
    metrics.ROWS.labels(name, "updated").inc(report.rows_updated)
    metrics.ROWS.labels(name, "already_landed").inc(report.rows_already_landed)
    metrics.ROWS.labels(name, "rejected").inc(report.rows_rejected)
    for r in report.rules:
        metrics.RULE_FAILURES.labels(name, r.rule).inc(r.rows)
