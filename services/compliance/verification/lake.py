"""The verification scan's lake part: every object under the root, data files and table
logs alike. Parquet is searched column by column, encrypted values decrypted with their row's
user's key; JSON, CSV, logs and anything else as bytes; gzip, bzip2, xz and zip opened."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import zipfile
from collections import deque
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from libs.common.crypto import PREFIX
from libs.common.lake import Lake
from libs.common.lake_crypto import SUBJECT_COLUMN, Decryptor
from services.compliance.verification.needles import Matcher
from services.compliance.verification.report import (
    HitKey,
    ScanReport,
    as_text,
    search_bytes,
    search_column,
)

MAX_NESTING = 3  # archives inside archives opened this deep
READ_THREADS = 8  # lake objects fetched in parallel
READ_AHEAD = 16  # fetched objects waiting to be searched (bounds memory)


class LakeScan:
    def __init__(
        self, matcher: Matcher, lake: Lake, keys: Mapping[str, bytes], exclude: tuple[str, ...]
    ) -> None:
        self.matcher, self.lake, self.exclude = matcher, lake, exclude
        self.own = matcher.needles.subject_key
        self.report = ScanReport()
        self.decryptor = Decryptor(keys)  # its ciphers serve the whole scan

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
        """Encrypted values opened with their row's key (libs.common.lake_crypto); one that
        cannot be (no key: an erased user's; the wrong row) becomes null and is counted."""
        sealed = pc.fill_null(pc.starts_with(values, PREFIX), False)
        n_sealed = int(pc.sum(sealed).as_py() or 0)
        if not n_sealed:
            return values
        if subjects is None:
            self.report.undecryptable += n_sealed
            return pc.if_else(sealed, pa.scalar(None, values.type), values)
        opened = self.decryptor.column(values, subjects).combine_chunks()
        still_sealed = pc.and_(sealed, pc.is_null(opened))
        self.report.undecryptable += int(pc.sum(still_sealed).as_py() or 0)
        return opened.cast(values.type)
