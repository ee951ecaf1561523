"""The verification scan: after the purge, look everywhere for what the erased user left.

Searched: every object under the lake root (data files and table logs alike: Parquet column by
column, encrypted values decrypted with their row's user's key; JSON, CSV, logs and anything
else as bytes; gzip, bzip2, xz and zip opened), every table of every non-system Postgres schema
(streamed with COPY, so a big table costs one sequential read), and every Redis key of the
configured db (Celery/kombu messages' base64 bodies decoded). All needles are searched in one
pass over the bytes (services/compliance/needles.py).

A sentence of the user's found in a row that belongs to another subject (its `subject_key`
differs) is shared content, such as a greeting many users send: reported apart, not a trace.
The report names needles by index, never by text, and redacts needle text from the places
it names (a key or path that holds an id).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import bz2
import contextlib
import gzip
import io
import logging
import lzma
import time
import zipfile
import zlib
from collections import defaultdict, deque
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.common.crypto import NONCE_BYTES, PREFIX
from libs.common.lake import Lake
from libs.common.lake_crypto import SUBJECT_COLUMN
from services.compliance.needles import Matcher, Needles

log = logging.getLogger(__name__)

MAX_NESTING = 3  # archives inside archives opened this deep
COPY_CHUNK = 8 << 20  # Postgres rows searched per 8 MB of COPY output
REDIS_PAGE = 500
READ_THREADS = 8  # lake objects fetched in parallel
READ_AHEAD = 16  # fetched objects waiting to be searched (bounds memory)
SYSTEM_SCHEMAS = ("pg_catalog", "information_schema")


@dataclass(frozen=True)
class HitKey:
    where: str  # lake:<path>, pg:<schema.table>, redis:<key> (needle text redacted)
    column: str | None  # a Parquet column, "(path)", "(key)"
    kind: str  # identifier | sentence | subject_key (a lake row of the erased subject)
    index: int  # the needle's index in Needles
    shared: bool  # a sentence in another subject's row


@dataclass
class ScanReport:
    objects: int = 0
    bytes: int = 0
    parquet_rows: int = 0
    skipped_objects: int = 0
    pg_tables: int = 0
    pg_rows: int = 0
    redis_keys: int = 0
    undecryptable: int = 0
    seconds: float = 0.0
    needles: dict[str, int] = field(default_factory=dict)
    counts: dict[HitKey, int] = field(default_factory=lambda: defaultdict(int))
    errors: list[str] = field(default_factory=list)  # places that could not be searched

    @property
    def hits(self) -> list[tuple[HitKey, int]]:
        return sorted(self.counts.items(), key=lambda kv: (kv[0].where, str(kv[0].column)))

    @property
    def traces(self) -> list[tuple[HitKey, int]]:
        """The hits that count: anything of the user's but shared sentences. A sentence found
        in another subject's row is not theirs alone, so none of its hits count, also where a
        copy names no one (a training export's line, a report)."""
        shared = set(self.shared_sentences)
        return [
            (k, n)
            for k, n in self.hits
            if not k.shared and not (k.kind == "sentence" and k.index in shared)
        ]

    @property
    def shared_sentences(self) -> list[int]:
        return sorted({k.index for k in self.counts if k.shared})

    @property
    def clean(self) -> bool:
        return not self.traces and not self.errors

    def merge(self, other: ScanReport) -> None:
        for name in ("objects", "bytes", "parquet_rows", "skipped_objects", "pg_tables"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for name in ("pg_rows", "redis_keys", "undecryptable"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for key, n in other.counts.items():
            self.counts[key] += n
        self.errors += other.errors

    def to_dict(self) -> dict[str, Any]:
        def hit(key: HitKey, n: int) -> dict[str, Any]:
            return {"where": key.where, "column": key.column, "kind": key.kind,
                    "needle": key.index, "count": n}  # fmt: skip

        return {
            "clean": self.clean,
            "needles": self.needles,
            "scanned": {
                "lake_objects": self.objects,
                "lake_bytes": self.bytes,
                "parquet_rows": self.parquet_rows,
                "skipped_objects": self.skipped_objects,
                "pg_tables": self.pg_tables,
                "pg_rows": self.pg_rows,
                "redis_keys": self.redis_keys,
            },
            "undecryptable_values": self.undecryptable,
            "traces": [hit(k, n) for k, n in self.traces],
            "shared": [hit(k, n) for k, n in self.hits if k.shared],
            "shared_sentences": self.shared_sentences,
            "errors": self.errors,
            "seconds": round(self.seconds, 3),
        }


async def scan(
    needles: Needles,
    *,
    lake: Lake,
    engine: AsyncEngine | None,
    redis: Redis[Any] | None,
    keys: Mapping[str, bytes],
    exclude_prefixes: Sequence[str] = (),
) -> ScanReport:
    """Search the lake, Postgres and Redis for the needles. `keys`: every live data key by
    subject_key (the erased user's is gone: their leftover values count as undecryptable).
    `exclude_prefixes`: lake prefixes not searched (the request's own sealed working files).
    A store given as None is not searched."""
    started = time.monotonic()
    matcher = Matcher(needles)
    report = ScanReport(
        needles={"identifiers": len(needles.identifiers), "sentences": len(needles.sentences)}
    )
    parts: list[Any] = [
        asyncio.to_thread(LakeScan(matcher, lake, keys, tuple(exclude_prefixes)).run)
    ]
    if engine is not None:
        parts.append(scan_postgres(matcher, engine))
    if redis is not None:
        parts.append(scan_redis(matcher, redis))
    for part in await asyncio.gather(*parts):
        report.merge(part)
    report.seconds = time.monotonic() - started
    log.info(
        "trace scan done",
        extra={"traces": len(report.traces), "objects": report.objects,
               "parquet_rows": report.parquet_rows, "pg_tables": report.pg_tables,
               "redis_keys": report.redis_keys, "seconds": round(report.seconds, 1)},
    )  # fmt: skip
    return report


# --- searching bytes -------------------------------------------------------------------------
def search_bytes(
    matcher: Matcher, report: ScanReport, where: str, data: bytes, column: str | None = None
) -> None:
    """Hits in a blob without rows (JSON, CSV, a log, a Redis value): each occurrence counts."""
    for m in matcher.find(data.lower()):
        report.counts[HitKey(where, column, m.form.kind, m.form.index, False)] += 1


def search_column(
    matcher: Matcher, values: pa.Array, subjects: pa.Array | None, own: str
) -> dict[tuple[str, int, bool], int]:
    """Rows of a string column holding each needle, by (kind, index, shared). The column's
    values sit end to end in one buffer: one search over it, then matches mapped to rows."""
    lowered = pc.ascii_lower(values)
    buffers = lowered.buffers()
    if len(lowered) == 0 or buffers[2] is None:
        return {}
    width = np.int64 if pa.types.is_large_string(lowered.type) else np.int32
    offsets = np.frombuffer(buffers[1], dtype=width)[
        lowered.offset : lowered.offset + len(lowered) + 1
    ]
    data = memoryview(buffers[2]).cast("B")[: int(offsets[-1])]
    seen: set[tuple[int, str, int]] = set()
    for m in matcher.find(data, tokens=False):
        row = int(np.searchsorted(offsets, m.start, side="right")) - 1
        if row < 0 or row >= len(lowered):
            continue
        lo, hi = int(offsets[row]), int(offsets[row + 1])
        if m.end > hi:
            continue  # runs into the next value
        if m.form.kind == "identifier" and not matcher.is_token(data, m.start, m.end, lo, hi):
            continue
        seen.add((row, m.form.kind, m.form.index))
    counts: dict[tuple[str, int, bool], int] = defaultdict(int)
    for row, kind, index in seen:
        subject = subjects[row].as_py() if subjects is not None else None
        counts[(kind, index, kind == "sentence" and bool(subject) and subject != own)] += 1
    return counts


def as_text(column: pa.Array) -> pa.Array | None:
    """A column as plain strings to search, or None when it can hold no needle."""
    t = column.type
    if pa.types.is_dictionary(t):
        return as_text(column.cast(t.value_type))
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return column
    if pa.types.is_string_view(t):
        return column.cast(pa.large_string())
    if pa.types.is_binary(t) or pa.types.is_fixed_size_binary(t):
        return column.cast(pa.binary()).view(pa.string())
    if pa.types.is_large_binary(t) or pa.types.is_binary_view(t):
        return column.cast(pa.large_binary()).view(pa.large_string())
    if pa.types.is_integer(t):
        return column.cast(pa.string())  # a phone number kept as a number
    if pa.types.is_nested(t):
        # Delta checkpoints' actions: each row as JSON text
        rows = [
            None if v is None else orjson.dumps(v, default=str).decode() for v in column.to_pylist()
        ]
        return pa.array(rows, pa.large_string())
    return None


# --- the lake --------------------------------------------------------------------------------
class LakeScan:
    def __init__(
        self, matcher: Matcher, lake: Lake, keys: Mapping[str, bytes], exclude: tuple[str, ...]
    ) -> None:
        self.matcher, self.lake, self.keys, self.exclude = matcher, lake, keys, exclude
        self.own = matcher.needles.subject_key
        self.report = ScanReport()
        self.ciphers: dict[str, AESGCM | None] = {}

    def run(self) -> ScanReport:
        """Objects are fetched ahead by a few threads (an S3 GET waits tens of ms, and a lake
        of small flushed files has thousands) and searched one at a time, in listing order."""
        objects = []
        for obj in self.lake.list():
            if obj.path.startswith(self.exclude):
                self.report.skipped_objects += 1
            else:
                objects.append(obj.path)
        with ThreadPoolExecutor(max_workers=READ_THREADS) as pool:
            ahead: deque[tuple[str, Future[bytes]]] = deque()
            for path in objects:
                ahead.append((path, pool.submit(self.lake.read_bytes, path)))
                if len(ahead) > READ_AHEAD:
                    self.object(*ahead.popleft())
            while ahead:
                self.object(*ahead.popleft())
        return self.report

    def object(self, path: str, read: Future[bytes]) -> None:
        where = "lake:" + self.matcher.redact(path)
        self.report.objects += 1
        search_bytes(self.matcher, self.report, where, path.encode(), "(path)")
        try:
            data = read.result()
        except Exception as exc:  # an unreadable object is reported, not fatal
            self.report.errors.append(f"{where}: {type(exc).__name__}")
            return
        self.report.bytes += len(data)
        self.blob(where, path, data, 0)

    def blob(self, where: str, name: str, data: bytes, depth: int) -> None:
        lower = name.lower()
        try:
            if len(data) >= 8 and data[:4] == b"PAR1" and data[-4:] == b"PAR1":
                return self.parquet(where, data)
            if depth < MAX_NESTING:
                if data[:2] == b"\x1f\x8b":
                    stem = name[:-3] if lower.endswith(".gz") else name
                    return self.blob(where, stem, gzip.decompress(data), depth + 1)
                if data[:3] == b"BZh":
                    return self.blob(
                        where, name.removesuffix(".bz2"), bz2.decompress(data), depth + 1
                    )
                if data[:6] == b"\xfd7zXZ\x00":
                    return self.blob(
                        where, name.removesuffix(".xz"), lzma.decompress(data), depth + 1
                    )
                if data[:4] == b"PK\x03\x04":
                    return self.zip(where, data, depth)
        except Exception as exc:  # a file that does not parse is searched raw
            self.report.errors.append(f"{where}: unreadable {type(exc).__name__}, searched raw")
        search_bytes(self.matcher, self.report, where, data)

    def zip(self, where: str, data: bytes, depth: int) -> None:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for info in archive.infolist():
                if not info.is_dir():
                    member = f"{where}!{self.matcher.redact(info.filename)}"
                    self.blob(member, info.filename, archive.read(info), depth + 1)

    def parquet(self, where: str, data: bytes) -> None:
        parquet = pq.ParquetFile(pa.BufferReader(data))
        for group in range(parquet.num_row_groups):
            self.table(where, parquet.read_row_group(group))

    def table(self, where: str, table: pa.Table) -> None:
        self.report.parquet_rows += table.num_rows
        subjects = None
        if SUBJECT_COLUMN in table.column_names:
            subjects = as_text(table.column(SUBJECT_COLUMN).combine_chunks())
            own_rows = (
                0 if subjects is None else int(pc.sum(pc.equal(subjects, self.own)).as_py() or 0)
            )
            if own_rows:  # a row of the erased subject left in the lake
                key = HitKey(where, SUBJECT_COLUMN, "subject_key", 0, False)
                self.report.counts[key] += own_rows
        for name in table.column_names:
            if name == SUBJECT_COLUMN and subjects is not None:
                continue  # keyed hashes: no needle in them
            values = as_text(table.column(name).combine_chunks())
            if values is None:
                continue
            values = self.decrypted(values, subjects)
            for (kind, index, shared), n in search_column(
                self.matcher, values, subjects, self.own
            ).items():
                self.report.counts[HitKey(where, name, kind, index, shared)] += n

    def decrypted(self, values: pa.Array, subjects: pa.Array | None) -> pa.Array:
        """Encrypted values opened with their row's key (libs.common.lake_crypto's format);
        one that cannot be (no key: an erased user's; the wrong row) becomes null and is
        counted. Ciphers are kept for the whole scan: a file holds thousands of users, and
        building them per file costs more than the decryption."""
        sealed = pc.fill_null(pc.starts_with(values, PREFIX), False)
        n_sealed = int(pc.sum(sealed).as_py() or 0)
        if not n_sealed:
            return values
        if subjects is None:
            self.report.undecryptable += n_sealed
            return pc.if_else(sealed, pa.scalar(None, values.type), values)
        tokens = pc.utf8_slice_codeunits(values.filter(sealed), len(PREFIX)).to_pylist()
        owners = subjects.filter(sealed).to_pylist()
        plain: list[str | None] = []
        a2b = binascii.a2b_base64
        for token, owner in zip(tokens, owners, strict=True):
            cipher = self._cipher(owner)
            if cipher is None:
                plain.append(None)
                continue
            raw = a2b(token)
            try:
                plain.append(
                    cipher.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], owner.encode()).decode()
                )
            except (InvalidTag, ValueError):
                plain.append(None)
        self.report.undecryptable += plain.count(None)
        opened = pa.array(plain, values.type)
        return pc.replace_with_mask(values, sealed, opened)

    def _cipher(self, subject: str | None) -> AESGCM | None:
        if subject is None:
            return None
        if subject not in self.ciphers:
            key = self.keys.get(subject)
            self.ciphers[subject] = AESGCM(key) if key is not None else None
        return self.ciphers[subject]


# --- Postgres --------------------------------------------------------------------------------
TABLES = text(
    """
    SELECT n.nspname, c.relname,
           EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid
                   AND a.attname = 'subject_key' AND NOT a.attisdropped) AS has_subject
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p', 'm') AND NOT c.relispartition AND c.relispopulated
      AND n.nspname NOT IN ('pg_catalog', 'information_schema')
      AND n.nspname NOT LIKE 'pg\\_%'
    ORDER BY 1, 2
    """
)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class CopySink:
    """Searches one table's COPY output line by line (a row per line: COPY escapes newlines);
    each line is `subject_key<TAB>row text`."""

    def __init__(self, matcher: Matcher, report: ScanReport, where: str) -> None:
        self.matcher, self.report, self.where = matcher, report, where
        self.own = matcher.needles.subject_key.encode()
        self.pending = bytearray()

    async def feed(self, chunk: bytes) -> None:
        self.pending += chunk
        if len(self.pending) >= COPY_CHUNK:
            cut = self.pending.rfind(b"\n") + 1
            self.search(bytes(self.pending[:cut]))
            del self.pending[:cut]

    def close(self) -> None:
        if self.pending:
            self.search(bytes(self.pending))
            self.pending.clear()

    def search(self, block: bytes) -> None:
        self.report.pg_rows += block.count(b"\n")
        lower = block.lower()
        seen: set[tuple[int, str, int, bool]] = set()
        for m in self.matcher.find(lower):
            lo = lower.rfind(b"\n", 0, m.start) + 1
            hi = lower.find(b"\n", m.start)
            hi = len(lower) if hi < 0 else hi
            if m.end > hi:
                continue
            if m.form.kind == "identifier" and not self.matcher.is_token(
                lower, m.start, m.end, lo, hi
            ):
                continue
            subject = block[lo : block.find(b"\t", lo)]
            shared = m.form.kind == "sentence" and bool(subject) and subject != self.own
            seen.add((lo, m.form.kind, m.form.index, shared))
        for _, kind, index, shared in seen:
            self.report.counts[HitKey(self.where, None, kind, index, shared)] += 1


async def scan_postgres(matcher: Matcher, engine: AsyncEngine) -> ScanReport:
    report = ScanReport()
    async with engine.connect() as conn:
        tables = (await conn.execute(TABLES)).all()
        raw = await conn.get_raw_connection()
        pg = raw.driver_connection
        assert pg is not None
        for schema, name, has_subject in tables:
            where = f"pg:{schema}.{name}"
            alias = "mindlake_scan_row"
            subject = f"coalesce({alias}.subject_key::text, '')" if has_subject else "''"
            query = (
                f"SELECT {subject}, {alias}::text FROM {_quote(schema)}.{_quote(name)} AS {alias}"  # noqa: S608 - quoted names from the catalog
            )
            sink = CopySink(matcher, report, where)
            await pg.execute("SAVEPOINT trace_scan")  # a failed table spoils no other
            try:
                await pg.copy_from_query(query, output=sink.feed)
            except Exception as exc:  # a table that cannot be read is reported
                await pg.execute("ROLLBACK TO SAVEPOINT trace_scan")
                report.errors.append(f"{where}: {type(exc).__name__}")
                continue
            await pg.execute("RELEASE SAVEPOINT trace_scan")
            sink.close()
            report.pg_tables += 1
    return report


# --- Redis -----------------------------------------------------------------------------------
def _bytes(value: Any) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()


def message_bodies(item: bytes) -> list[bytes]:
    """The decoded bodies of the Celery/kombu message envelopes in a Redis value: a queued
    message (`{"body": ..., "properties": {"body_encoding": "base64"}}`) or an unacked one
    (`[envelope, exchange, routing_key]`)."""
    if b'"body"' not in item or item[:1] not in (b"{", b"["):
        return []
    try:
        value = orjson.loads(item)
    except orjson.JSONDecodeError:
        return []
    envelopes = value if isinstance(value, list) else [value]
    bodies = []
    for envelope in envelopes:
        if not isinstance(envelope, dict) or not isinstance(envelope.get("body"), str):
            continue
        body = envelope["body"].encode()
        if (envelope.get("properties") or {}).get("body_encoding") == "base64":
            with contextlib.suppress(binascii.Error, ValueError):
                body = base64.b64decode(body)
        if (envelope.get("headers") or {}).get("compression"):
            with contextlib.suppress(zlib.error):
                body = zlib.decompress(body)
        bodies.append(body)
    return bodies


async def _items(redis: Redis[Any], key: bytes, kind: str) -> list[bytes]:
    if kind == "list":
        out: list[bytes] = []
        for start in range(0, await redis.llen(key), REDIS_PAGE):
            out += [_bytes(v) for v in await redis.lrange(key, start, start + REDIS_PAGE - 1)]
        return out
    if kind == "hash":
        return [_bytes(x) async for pair in redis.hscan_iter(key, count=REDIS_PAGE) for x in pair]
    if kind == "set":
        return [_bytes(v) async for v in redis.sscan_iter(key, count=REDIS_PAGE)]
    if kind == "zset":
        return [_bytes(m) async for m, _ in redis.zscan_iter(key, count=REDIS_PAGE)]
    if kind == "stream":
        entries = await redis.xrange(key)
        return [_bytes(x) for _, fields in entries for pair in fields.items() for x in pair]
    return []


async def scan_redis(matcher: Matcher, redis: Redis[Any]) -> ScanReport:
    report = ScanReport()
    cursor: int = 0
    while True:
        cursor, page = await redis.scan(cursor, count=REDIS_PAGE)
        page = [_bytes(key) for key in page]
        async with redis.pipeline(transaction=False) as pipe:
            for key in page:
                pipe.type(key)
            kinds = [_bytes(kind).decode() for kind in await pipe.execute()]
        strings = [key for key, kind in zip(page, kinds, strict=True) if kind == "string"]
        async with redis.pipeline(transaction=False) as pipe:
            for key in strings:
                pipe.get(key)
            values = dict(zip(strings, await pipe.execute(), strict=True))  # one round trip
        for key, kind in zip(page, kinds, strict=True):
            report.redis_keys += 1
            where = "redis:" + matcher.redact(key.decode(errors="replace"))
            search_bytes(matcher, report, where, key, "(key)")
            if kind == "string":
                items = [] if values.get(key) is None else [_bytes(values[key])]
            else:
                items = await _items(redis, key, kind)
            for item in items:
                search_bytes(matcher, report, where, item)
                for body in message_bodies(item):
                    search_bytes(matcher, report, where, body, "(message body)")
        if cursor == 0:
            return report
