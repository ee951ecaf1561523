"""Stream a spooled CSV through validation into the lake, one chunk at a time (sync: callers
run each step in a thread). Memory is bounded by the chunk size, not the file size."""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from libs.common.lake import Lake
from libs.common.subjects import subject_key
from services.ingest.csv_upload import rules, tables
from services.ingest.csv_upload.datatypes import DataType

SAMPLE_ROWS = 10
READ_BLOCK_BYTES = 1 << 20


def read_header(path: Path) -> list[str]:
    """Column names from the first line (quotes and a UTF-8 BOM handled)."""
    with path.open(encoding="utf-8-sig", newline="") as f:
        return next(csv.reader(f), [])


@dataclass
class RuleTally:
    rows: int = 0
    sample_rows: list[int] = field(default_factory=list)


@dataclass
class ChunkOutcome:
    rows: int
    valid: int
    inserted: int
    updated: int
    rejected: list[dict[str, Any]]  # one per rejected row: row_number, reason, rule, column, values


def _digest(parts: str) -> str:
    return hashlib.sha256(parts.encode()).hexdigest()[:32]


class Upload:
    """One upload's pass over its file. `chunks()` yields each chunk's outcome after landing
    it; `tally` and `malformed` accumulate for the report."""

    def __init__(
        self,
        *,
        lake: Lake,
        path: Path,
        header: list[str],
        tenant: str,
        data_type: DataType,
        upload_id: str,
        floor: datetime,
        ceiling: datetime,
        chunk_rows: int,
    ) -> None:
        self.lake = lake
        self.path = path
        self.raw_header = header
        self.header = [h.strip() for h in header]
        self.tenant = tenant
        self.data_type = data_type
        self.upload_id = upload_id
        self.chunk_rows = chunk_rows
        self.schema = rules.schema_for(
            data_type,
            floor=floor,
            ceiling=ceiling,
            allow_contact_ids=lake.settings.allow_contact_user_ids,
        )
        self.present = [c for c in data_type.columns if c in self.header]
        self.tally: dict[tuple[str, str], RuleTally] = {}
        self.rows_total = 0
        self.quarantine = tables.Quarantine(
            lake, tables.quarantine_path(tenant, data_type.name, upload_id), self.present
        )
        self._skipped: list[tuple[int, str]] = []  # malformed lines not yet reported
        self._unnumbered: list[str] = []  # malformed text the reader could not number
        self._skipped_done = 0
        self._parsed = 0

    # --- reading ---------------------------------------------------------------------------
    def _on_invalid_row(self, row: Any) -> str:
        if row.number is None or row.number < 1:  # e.g. a quote never closed, to the end
            self._unnumbered.append(str(row.text))
        else:
            self._skipped.append((int(row.number) - 1, str(row.text)))  # counts the header
        return "skip"

    def _batches(self) -> Iterator[pa.Table]:
        reader = pacsv.open_csv(
            self.path,
            read_options=pacsv.ReadOptions(block_size=READ_BLOCK_BYTES, use_threads=False),
            parse_options=pacsv.ParseOptions(invalid_row_handler=self._on_invalid_row),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in self.raw_header},
                include_columns=[self.raw_header[self.header.index(c)] for c in self.present],
                strings_can_be_null=True,
                null_values=[""],
            ),
        )
        pending: list[pa.RecordBatch] = []
        size = 0
        for batch in reader:
            pending.append(batch)
            size += batch.num_rows
            if size >= self.chunk_rows:
                yield pa.Table.from_batches(pending)
                pending, size = [], 0
        if pending:
            yield pa.Table.from_batches(pending)

    def _row_numbers(self, n: int) -> np.ndarray:
        """File row numbers (1 = first data row) of the next n parsed rows, counting the
        malformed rows the reader skipped."""
        q = np.arange(self._parsed + 1, self._parsed + n + 1)
        self._parsed += n
        skipped = np.array(sorted(r for r, _ in self._skipped), dtype=np.int64)
        shift = skipped - self._skipped_done - np.arange(len(skipped))
        return q + self._skipped_done + np.searchsorted(shift, q, side="right")

    # --- the pass --------------------------------------------------------------------------
    def chunks(self) -> Iterator[ChunkOutcome]:
        for table in self._batches():
            rows = self._row_numbers(table.num_rows)
            outcome = self._process(table, rows)
            yield outcome
        malformed = self._take_malformed(upto=None)
        if malformed:
            yield ChunkOutcome(len(malformed), 0, 0, 0, malformed)

    def _take_malformed(self, upto: int | None) -> list[dict[str, Any]]:
        done = [(r, t) for r, t in self._skipped if upto is None or r <= upto]
        self._skipped = [(r, t) for r, t in self._skipped if upto is not None and r > upto]
        self._skipped_done += len(done)
        rows: list[tuple[int | None, str]] = list(sorted(done))
        if upto is None:
            rows += [(None, text) for text in self._unnumbered]
        self.rows_total += len(rows)
        out = []
        for row, text in rows:
            self._count("malformed_row", "*", row)
            out.append(
                {
                    "row_number": row,
                    "reason": "malformed_row:*",
                    "rule": "malformed_row",
                    "column": None,
                    "values": None,
                    "raw_text": text,
                }
            )
        if out:
            self.quarantine.write(
                pa.table(
                    {
                        "row_number": [r["row_number"] for r in out],
                        "reason": [r["reason"] for r in out],
                        "raw_text": [r["raw_text"] for r in out],
                    }
                )
            )
        return out

    def _count(self, rule: str, column: str, row: int | None) -> None:
        tally = self.tally.setdefault((rule, column), RuleTally())
        tally.rows += 1
        if row is not None and len(tally.sample_rows) < SAMPLE_ROWS:
            tally.sample_rows.append(row)

    def _process(self, table: pa.Table, rows: np.ndarray) -> ChunkOutcome:
        frame = table.to_pandas()
        frame.columns = self.present
        frame.index = pd.Index(rows, name="row_number")
        self.rows_total += len(frame)
        frame[rules.ROW_KEY] = self._row_keys(frame)
        failed = rules.failures(self.schema, frame, self.data_type.key).sort_values("row")
        for rule, column, row in zip(failed["rule"], failed["column"], failed["row"], strict=True):
            self._count(rule, column, int(row))
        bad = failed.assign(reason=failed["rule"] + ":" + failed["column"])
        reasons = bad.groupby("row")["reason"].agg(";".join)
        rejected_frame = frame.loc[reasons.index, self.present]
        valid = frame.drop(index=reasons.index)
        merged = tables.Merged(0, 0)
        if len(valid):
            merged = tables.merge_rows(
                self.lake, self.tenant, self.data_type.name, self._landing(valid), self.upload_id
            )
        rejected: list[dict[str, Any]] = []
        if len(reasons):
            quarantined = rejected_frame.astype(object).where(rejected_frame.notna(), None)
            quarantined.insert(0, "reason", reasons.to_numpy())
            self.quarantine.write(
                pa.Table.from_pandas(quarantined.reset_index(), preserve_index=False)
            )
            first = bad.drop_duplicates("row").set_index("row")
            for row, values in zip(reasons.index, quarantined.to_dict("records"), strict=True):
                reason = values.pop("reason")
                rejected.append(
                    {
                        "row_number": int(row),
                        "reason": reason,
                        "rule": first.at[row, "rule"],
                        "column": first.at[row, "column"],
                        "values": values,
                        "raw_text": None,
                    }
                )
        rejected += self._take_malformed(upto=int(rows[-1]))
        return ChunkOutcome(len(frame), len(valid), merged.inserted, merged.updated, rejected)

    # --- derived columns -------------------------------------------------------------------
    def _row_keys(self, frame: pd.DataFrame) -> list[str]:
        """Hash of the tenant and the row's natural key (timestamps normalized to UTC
        microseconds); a row whose key does not parse gets a unique placeholder."""
        parts: list[pd.Series] = []
        for name in self.data_type.key:
            column = frame[name]
            if name in self.data_type.timestamps:
                parsed = rules.parse_timestamps(column)
                column = parsed.dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ").astype(object)
            parts.append(column)
        keys: list[str] = []
        for row, values in zip(frame.index, zip(*parts, strict=True), strict=True):
            if any(v is None or v is pd.NA or v != v for v in values):  # noqa: PLR0124 - NaN
                keys.append(f"!{row}")
            else:
                keys.append(_digest(self.tenant + "\x1f" + "\x1f".join(map(str, values))))
        return keys

    def _landing(self, valid: pd.DataFrame) -> pa.Table:
        now = pd.Timestamp.now(tz="UTC")
        out: dict[str, Any] = {"row_key": valid[rules.ROW_KEY].to_numpy()}
        if self.data_type.name == "interactions":
            event_time = rules.parse_timestamps(valid["timestamp"])
            out |= {
                "user_id": valid["user_id"].to_numpy(),
                "subject_key": [subject_key(u, self.lake.settings) for u in valid["user_id"]],
                "item_id": valid["item_id"].to_numpy(),
                "interaction_type": valid["interaction_type"].to_numpy(),
                "event_time": event_time.to_numpy(),
                "event_date": event_time.dt.date.to_numpy(),
                "rating": self._numbers(valid, "rating"),
            }
        else:
            created = (
                rules.parse_timestamps(valid["created_at"])
                if "created_at" in valid
                else pd.Series(pd.NaT, index=valid.index, dtype="datetime64[us, UTC]")
            )
            text = {c: self._texts(valid, c) for c in ("item_id", "category", "title")}
            price = self._numbers(valid, "price")
            content = [
                _digest("\x1f".join(map(str, v)))
                for v in zip(text["category"], text["title"], price, created, strict=True)
            ]
            out |= text | {
                "price": price,
                "created_at": created.to_numpy(),
                "content_hash": content,
            }
        out |= {"upload_id": [self.upload_id] * len(valid), "landed_at": [now] * len(valid)}
        return pa.table(
            {
                k: pa.array(
                    v, type=tables.SPECS[self.data_type.name].schema.field(k).type, from_pandas=True
                )
                for k, v in out.items()
            }
        )

    @staticmethod
    def _numbers(frame: pd.DataFrame, name: str) -> np.ndarray:
        if name not in frame:
            return np.full(len(frame), np.nan)
        numbers: np.ndarray = rules.parse_numbers(frame[name]).astype("float64").to_numpy()
        return numbers

    @staticmethod
    def _texts(frame: pd.DataFrame, name: str) -> list[str | None]:
        if name not in frame:
            return [None] * len(frame)
        return [None if v is None or v != v else str(v) for v in frame[name]]  # noqa: PLR0124
