"""An upload's records, read as a stream: CSV rows, JSON items, text lines.

A file that cannot be read raises FileRejected with a fixed reason that names the problem and
where it is (a line or byte offset), never the content.

JSON exports come in two shapes: a list of records, or an object whose arrays hold records
(`{"profile": {...}, "posts": [...], "friends": [...]}`). Items of a top-level array are
records; so is each item of an array under a top-level key (with that key as its `_section`),
and each object under a top-level key; top-level scalars are gathered into one `profile`
record.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterable, Iterator
from typing import Any, cast

import ijson

Record = dict[str, Any]
KINDS = ("csv", "json", "jsonl", "text")
_EXTENSIONS = {".csv": "csv", ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl"}
_EXTENSIONS |= {".txt": "text", ".md": "text", ".text": "text"}
_MEDIA = {"text/csv": "csv", "application/csv": "csv", "application/json": "json"}
_MEDIA |= {"application/x-ndjson": "jsonl", "application/jsonl": "jsonl", "text/plain": "text"}
MAX_FIELD_CHARS = 2000  # a longer value is cut: a record is a line of an export, not a book


class FileRejected(Exception):
    """The file cannot be processed; `reason` says why in words safe to show and store."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def kind_of(name: str, media_type: str | None) -> str | None:
    """The kind from the name's extension, else the media type; None: sniff the content."""
    lower = name.lower()
    for ext, kind in _EXTENSIONS.items():
        if lower.endswith(ext):
            return kind
    media = (media_type or "").split(";")[0].strip().lower()
    return _MEDIA.get(media)


class _Utf8Checked(io.RawIOBase):
    """The upload's frames as a file, checked to be UTF-8 on the way (one reason for all kinds)."""

    def __init__(self, frames: Iterable[bytes]) -> None:
        self._frames = iter(frames)
        self._pending = b""
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self.offset = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            frame = next(self._frames, None)
            if frame is None:
                self._check(b"", final=True)
                return 0
            self._check(frame, final=False)
            self._pending = frame
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def _check(self, data: bytes, *, final: bool) -> None:
        try:
            self._decoder.decode(data, final=final)
        except UnicodeDecodeError as exc:
            raise FileRejected(f"not UTF-8 text (byte {self.offset + exc.start})") from exc
        self.offset += len(data)


def records(frames: Iterable[bytes], kind: str | None, *, limit: int) -> Iterator[Record]:
    """The file's records, at most `limit`; FileRejected if it is empty or unreadable."""
    raw = io.BufferedReader(cast(Any, _Utf8Checked(frames)), buffer_size=1 << 16)
    head = raw.peek(4096)[:4096]
    if head.startswith(codecs.BOM_UTF8):
        raw.read(len(codecs.BOM_UTF8))
        head = head[len(codecs.BOM_UTF8) :]
    if not head.strip():
        raise FileRejected("the file is empty")
    kind = kind or _sniff(head)
    reader = {"csv": _csv, "json": _json, "jsonl": _jsonl, "text": _text}[kind]
    count = 0
    for record in reader(raw):
        yield record
        count += 1
        if count >= limit:
            return
    if count == 0:
        raise FileRejected("the file holds no records")


def _sniff(head: bytes) -> str:
    first = head.lstrip()[:1]
    if first in (b"{", b"["):
        lines = head.strip().splitlines()
        return (
            "jsonl" if len(lines) > 1 and all(x.strip()[:1] == b"{" for x in lines[:3]) else "json"
        )
    try:
        dialect = csv.Sniffer().sniff(head.decode("utf-8", errors="ignore"), delimiters=",;\t|")
        return "csv" if dialect.delimiter else "text"
    except csv.Error:
        return "text"


def _text_stream(raw: io.BufferedReader) -> io.TextIOWrapper:
    return io.TextIOWrapper(raw, encoding="utf-8", newline="")


def _cut(value: str) -> str:
    return value.replace("\x00", "")[:MAX_FIELD_CHARS]


def _csv(raw: io.BufferedReader) -> Iterator[Record]:
    reader = csv.reader(_text_stream(raw), strict=True)
    try:
        header = next(reader, None)
        if not header or not any(h.strip() for h in header):
            raise FileRejected("the CSV has no header line")
        names = [_cut(h.strip()) or f"column_{i + 1}" for i, h in enumerate(header)]
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            if len(row) > len(names) + 1:
                raise FileRejected(
                    f"not parseable as CSV: line {reader.line_num} has {len(row)} fields, "
                    f"the header {len(names)}"
                )
            yield {n: _cut(v.strip()) for n, v in zip(names, row, strict=False) if v.strip()}
    except csv.Error as exc:
        raise FileRejected(f"not parseable as CSV: line {reader.line_num}: {exc}") from exc


def _text(raw: io.BufferedReader) -> Iterator[Record]:
    for line in _text_stream(raw):
        if line.strip():
            yield {"text": _cut(line.strip())}


def _jsonl(raw: io.BufferedReader) -> Iterator[Record]:
    for number, line in enumerate(_text_stream(raw), start=1):
        if not line.strip():
            continue
        try:
            value = next(ijson.items(io.BytesIO(line.encode()), "", use_float=True))
        except (ijson.JSONError, StopIteration) as exc:
            raise FileRejected(f"not parseable as JSON lines: line {number}") from exc
        yield as_record(value, None)


def as_record(value: Any, section: str | None) -> Record:
    """A JSON value as a flat record: nested keys joined with dots, lists as lists."""
    out: Record = {"_section": section} if section else {}
    _flatten(value if isinstance(value, dict) else {"value": value}, "", out, depth=0)
    return out


def _flatten(value: dict[str, Any], prefix: str, out: Record, *, depth: int) -> None:
    for key, item in value.items():
        name = _cut(f"{prefix}{key}")
        if isinstance(item, dict) and depth < 3:
            _flatten(item, f"{name}.", out, depth=depth + 1)
        elif isinstance(item, list):
            out[name] = [_cut(str(x)) for x in item[:50] if not isinstance(x, dict | list)]
        elif isinstance(item, str):
            out[name] = _cut(item)
        elif item is not None:
            out[name] = item if isinstance(item, bool | int | float) else _cut(str(item))


def _json(raw: io.BufferedReader) -> Iterator[Record]:
    try:
        yield from _json_records(ijson.parse(raw, use_float=True))
    except ijson.JSONError as exc:
        raise FileRejected("not parseable as JSON") from exc


def _json_records(events: Iterator[tuple[str, str, Any]]) -> Iterator[Record]:
    """Records at depth 1 of a top-level array, or depth 1-2 of a top-level object."""
    _, event, value = next(events)
    if event not in ("start_array", "start_map"):
        yield as_record(value, None)
        return
    top_array = event == "start_array"
    profile: Record = {}
    key: str | None = None
    depth = 1
    for _, event, value in events:
        if event == "map_key" and depth == 1:
            key = value
            continue
        in_section_array = not top_array and depth == 2
        if depth == 1 or in_section_array:
            if event in ("start_map", "start_array"):
                if not top_array and depth == 1 and event == "start_array":
                    depth += 1  # the section's array: its items are the records
                    continue
                yield as_record(_build(event, events), None if top_array else key)
                continue
            if event == "end_array" and in_section_array:
                depth -= 1
                continue
            if event in ("end_array", "end_map"):
                break
            if top_array or in_section_array:
                yield as_record(value, None if top_array else key)
            elif key is not None:
                profile[key] = value
    if profile:
        yield as_record(profile, "profile")


def _build(first: str, events: Iterator[tuple[str, str, Any]]) -> Any:
    builder = ijson.ObjectBuilder()
    builder.event(first, None)
    depth = 1
    for _, event, value in events:
        builder.event(event, value)
        if event in ("start_map", "start_array"):
            depth += 1
        elif event in ("end_map", "end_array"):
            depth -= 1
            if depth == 0:
                return builder.value
    raise FileRejected("not parseable as JSON: it ends inside a value")
