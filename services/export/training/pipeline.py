"""The AI training export, raw/events to finished files:

read the services' partitions of the date range (one table version) -> consent
(`ai_training`, one bulk query) -> decrypt bodies -> pair turns -> crisis filter -> PII
re-scan -> quality >= minimum -> exact and near-duplicate removal -> split by user -> write
JSONL.gz (+ Parquet) -> manifest.

Consent is checked before anything is decrypted, so `no_consent` counts events (a
non-consenting user's text is never opened), and so does `incomplete` (turns that made no
pair, or whose body could not be read: an erased user's key is gone); the other reasons
count pairs. `pii_scrubbed` counts pairs the re-scan changed (those it then dropped for
having nothing left are in `pii_dropped` too). Pairs are processed in (time, event ids)
order, so ties, dedupe winners and file order are the same every run. CPU-bound and in
memory: run it in a worker, not in the API process.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.common.consent import query_allowed
from libs.common.contracts import ConsentPurpose
from libs.common.crypto import DataKeys
from libs.common.lake import Lake, read_delta
from libs.common.lake_crypto import decrypt_table, keys_for
from libs.common.settings import CommonSettings
from services.export.training import manifest as manifests
from services.export.training.crisis import is_crisis
from services.export.training.dedupe import Deduper
from services.export.training.pairs import Pair, pair_rows
from services.export.training.quality import score
from services.export.training.rescan import policy, rescan, scrubber_for, useful
from services.export.training.split import is_validation
from services.export.training.tags import tags_for
from services.export.training.writer import Record, Written, gzip_jsonl, parquet_bytes, write

PREFIX = "processed/training-data"
DEFAULT_SERVICES = ["lyfbot-service", "ai-service"]
REASONS = (
    "no_consent",
    "crisis",
    "pii_dropped",
    "low_quality",
    "duplicate",
    "near_duplicate",
    "incomplete",
)
_COLUMNS = ["event_id", "service", "user_id", "subject_key", "event_time", "body"]

Progress = Callable[[str, int, int], None]
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(kw_only=True)
class ExportSpec:
    start: date
    end: date  # inclusive
    services: list[str] = field(default_factory=lambda: list(DEFAULT_SERVICES))
    min_quality: float = 0.7
    validation_ratio: float = 0.1
    formats: tuple[str, ...] = ("jsonl",)  # or ("jsonl", "parquet")
    export_id: str
    created_at: datetime  # in the file names: pass it in, so a rebuild names files alike


@dataclass
class ExportCounts:
    records_in: int = 0
    pairs: int = 0
    out_train: int = 0
    out_validation: int = 0
    dropped: dict[str, int] = field(default_factory=lambda: dict.fromkeys(REASONS, 0))

    def as_dict(self, *, pii_scrubbed: int) -> dict[str, Any]:
        """The counts as the manifest and the export's row hold them."""
        return {
            "records_in": self.records_in,
            "pairs": self.pairs,
            "out_train": self.out_train,
            "out_validation": self.out_validation,
            "dropped": dict(self.dropped),
            "pii_scrubbed": pii_scrubbed,
        }


@dataclass
class ExportResult:
    # "train_jsonl", "validation_jsonl", ["train_parquet", "validation_parquet"], "manifest"
    paths: dict[str, str]
    counts: ExportCounts
    pii_scrubbed: int
    average_quality: float
    # subject_key -> [(JSONL path, 1-based line)]: which users fed which lines (lineage)
    subjects: dict[str, list[tuple[str, int]]]
    manifest: dict[str, Any]


def base_name(spec: ExportSpec) -> str:
    return f"{PREFIX}/ai_training_data_{spec.created_at:%Y%m%dT%H%M%S}_{spec.export_id}"


async def run_training_export(
    spec: ExportSpec,
    *,
    lake: Lake,
    engine: AsyncEngine,
    settings: CommonSettings,
    progress: Progress | None = None,
) -> ExportResult:
    def report(stage: str, done: int, total: int) -> None:
        if progress is not None:
            progress(stage, done, total)

    if spec.formats not in (("jsonl",), ("jsonl", "parquet")):
        raise ValueError("formats must be ('jsonl',) or ('jsonl', 'parquet')")
    if not 0.0 <= spec.validation_ratio < 1.0:
        raise ValueError("validation_ratio must be in [0, 1)")

    with gc_paused():
        return await _run(spec, lake=lake, engine=engine, settings=settings, report=report)


@contextmanager
def gc_paused() -> Iterator[None]:
    """The export makes millions of short-lived objects and no reference cycles: the cyclic
    collector would traverse them again and again (a third of the pairing time)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


async def _run(
    spec: ExportSpec, *, lake: Lake, engine: AsyncEngine, settings: CommonSettings, report: Progress
) -> ExportResult:
    counts = ExportCounts()
    rows, version = read_raw(lake, spec)
    counts.records_in = rows.num_rows
    report("read", rows.num_rows, rows.num_rows)

    allowed: list[str] = []
    async with engine.connect() as conn:
        user_ids = sorted(set(pc.unique(rows.column("user_id")).to_pylist()))
        snapshot_at = (await conn.execute(text("SELECT clock_timestamp()"))).scalar_one()
        if user_ids:
            allowed = await query_allowed(conn, user_ids, ConsentPurpose.AI_TRAINING)
        # Consent before decryption: a non-consenting user's text is never opened for training.
        consented = pc.is_in(rows.column("user_id"), pa.array(sorted(allowed), pa.string()))
        counts.dropped["no_consent"] = rows.num_rows - (pc.sum(consented).as_py() or 0)
        rows = rows.filter(consented)
        keys = await keys_for(conn, rows, DataKeys(settings))
    rows = decrypt_table(rows, keys, ["body"])
    report("decrypt", rows.num_rows, rows.num_rows)

    pairs, counts.dropped["incomplete"] = pair_rows(rows)
    del rows
    counts.pairs = len(pairs)
    report("pair", len(pairs), len(pairs))

    kept = screen(pairs, counts)
    del pairs

    scrubbed = rescan(
        scrubber_for(settings),
        (t for p in kept for t in (p.prompt, p.completion)),
        lambda done, total: report("pii", done, total),
    )
    train, validation, pii_scrubbed = select(spec, kept, scrubbed, counts)
    report("select", len(train) + len(validation), len(kept))

    counts.out_train, counts.out_validation = len(train), len(validation)
    files, subjects = write_sides(lake, spec, train, validation, report)
    scores = [r.quality_score for r, _ in train] + [r.quality_score for r, _ in validation]
    average = round(sum(scores) / len(scores), 4) if scores else 0.0
    manifest = manifests.build(
        export_id=spec.export_id,
        created_at=spec.created_at,
        start=spec.start,
        end=spec.end,
        services=spec.services,
        min_quality=spec.min_quality,
        validation_ratio=spec.validation_ratio,
        formats=spec.formats,
        raw_events_version=version,
        consent_snapshot_at=snapshot_at,
        pii_policy=policy(settings),
        counts={**counts.as_dict(pii_scrubbed=pii_scrubbed), "average_quality": average},
        files=files,
    )
    manifest_path = f"{base_name(spec)}.manifest.json"
    lake.write_bytes(manifest_path, manifests.dumps(manifest))
    paths = {name: w.path for name, w in files.items()} | {"manifest": manifest_path}
    return ExportResult(paths, counts, pii_scrubbed, average, subjects, manifest)


def read_raw(lake: Lake, spec: ExportSpec) -> tuple[pa.Table, int | None]:
    """The services' rows in the date range, from one table version (a partition filter)."""
    table = lake.delta_table(manifests.RAW_EVENTS)
    empty = pa.table({c: pa.array([], pa.string()) for c in _COLUMNS})
    if table is None:
        return empty, None
    where = (
        pc.field("service").isin(spec.services)
        & (pc.field("event_date") >= pa.scalar(spec.start, pa.date32()))
        & (pc.field("event_date") <= pa.scalar(spec.end, pa.date32()))
    )
    return read_delta(table, _COLUMNS, partitions=where), table.version()


def select(
    spec: ExportSpec,
    pairs: list[Pair],
    scrubbed: dict[str, Any],
    counts: ExportCounts,
) -> tuple[list[tuple[Record, str]], list[tuple[Record, str]], int]:
    """PII outcome, quality, dedupe and split of consented, non-crisis pairs, in order."""
    train: list[tuple[Record, str]] = []
    validation: list[tuple[Record, str]] = []
    deduper = Deduper()
    pii_scrubbed = 0
    quality_cache: dict[tuple[str, str], float] = {}
    side_cache: dict[str, bool] = {}
    dropped = counts.dropped
    for pair in pairs:
        p, c = scrubbed[pair.prompt], scrubbed[pair.completion]
        if p.findings or c.findings:
            pii_scrubbed += 1
            if not (useful(p.text) and useful(c.text)):
                dropped["pii_dropped"] += 1
                continue
        prompt, completion = p.text, c.text
        q = quality_cache.get((prompt, completion))
        if q is None:
            q = quality_cache[(prompt, completion)] = score(prompt, completion)
        if q < spec.min_quality - 1e-9:
            dropped["low_quality"] += 1
            continue
        if (dup := deduper.check(prompt, completion)) is not None:
            dropped[dup] += 1
            continue
        source = pair.service.removesuffix("-service")
        record = Record(
            prompt,
            completion,
            source,
            EPOCH + timedelta(microseconds=pair.timestamp),
            q,
            tuple(tags_for(prompt, completion, pair.intent, source)),
        )
        validate = side_cache.get(pair.subject_key)
        if validate is None:
            validate = side_cache[pair.subject_key] = is_validation(
                pair.subject_key, spec.validation_ratio
            )
        (validation if validate else train).append((record, pair.subject_key))
    return train, validation, pii_scrubbed


def screen(pairs: list[Pair], counts: ExportCounts) -> list[Pair]:
    """The crisis filter (equal pairs are judged once)."""
    kept: list[Pair] = []
    crisis_cache: dict[tuple[str, str, str | None], bool] = {}
    for pair in pairs:
        key = (pair.prompt, pair.completion, pair.intent)
        hit = crisis_cache.get(key)
        if hit is None:
            hit = crisis_cache[key] = is_crisis(*key)
        if hit:
            counts.dropped["crisis"] += 1
            continue
        kept.append(pair)
    return kept


def write_sides(
    lake: Lake,
    spec: ExportSpec,
    train: list[tuple[Record, str]],
    validation: list[tuple[Record, str]],
    report: Progress,
) -> tuple[dict[str, Written], dict[str, list[tuple[str, int]]]]:
    """Both sides' files, and the lineage: subject_key -> [(JSONL path, line)]."""
    base = base_name(spec)
    files: dict[str, Written] = {}
    subjects: dict[str, list[tuple[str, int]]] = {}
    for side, chosen in (("train", train), ("validation", validation)):
        records = [r for r, _ in chosen]
        jsonl = write(lake, f"{base}_{side}.jsonl.gz", gzip_jsonl(records), len(records))
        files[f"{side}_jsonl"] = jsonl
        for line, (_, subject) in enumerate(chosen, start=1):
            subjects.setdefault(subject, []).append((jsonl.path, line))
        if "parquet" in spec.formats:
            files[f"{side}_parquet"] = write(
                lake, f"{base}_{side}.parquet", parquet_bytes(records), len(records)
            )
        report("write", len(files), 2 * len(spec.formats))
    return files, subjects
