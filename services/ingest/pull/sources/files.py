"""Pull from a file drop: new files matching a glob under a lake prefix or a local folder.

Files are taken by path, each once (a rewritten file of the same name is not read again).
JSON Lines, a JSON array (or one object) and CSV (every value a string) are read.
"""

from __future__ import annotations

import csv
import io
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import orjson

from libs.common.lake import Lake
from libs.common.settings import CommonSettings
from services.ingest.pull.fetched import Fetched, SourceFailed

FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv"}


def file_store(source: dict[str, Any], lake: Lake, settings: CommonSettings) -> tuple[Lake, str]:
    """(store, prefix): the lake itself, or a local folder allowed by the settings."""
    if source.get("location", "lake") == "lake":
        return lake, source["path"].strip("/")
    folder = Path(source["path"]).expanduser().resolve()
    allowed = [Path(p).expanduser().resolve() for p in local_roots(settings)]
    if not any(folder == root or root in folder.parents for root in allowed):
        raise SourceFailed("the local folder is not under MINDLAKE_INGEST_PULL_LOCAL_ROOTS")
    return Lake(settings.model_copy(update={"lake_root": str(folder)})), ""


def local_roots(settings: CommonSettings) -> list[str]:
    raw = str(getattr(settings, "ingest_pull_local_roots", "") or "")
    return [p.strip() for p in raw.split(",") if p.strip()]


def parse(data: bytes, fmt: str) -> list[dict[str, Any]]:
    if fmt == "csv":
        return [dict(row) for row in csv.DictReader(io.StringIO(data.decode("utf-8-sig")))]
    if fmt == "jsonl":
        values = [orjson.loads(line) for line in data.splitlines() if line.strip()]
    else:
        loaded = orjson.loads(data)
        values = loaded if isinstance(loaded, list) else [loaded]
    return [v if isinstance(v, dict) else {"value": v} for v in values]


def fetch_files(
    source: dict[str, Any],
    taken: set[str],
    *,
    lake: Lake,
    settings: CommonSettings,
    max_files: int,
    max_rows: int,
) -> Fetched:
    store, prefix = file_store(source, lake, settings)
    try:
        listed = store.list(prefix)
    except Exception as exc:
        raise SourceFailed(f"cannot list the drop folder ({type(exc).__name__})") from None
    base = f"{prefix}/" if prefix else ""
    candidates = sorted(
        o.path
        for o in listed
        if o.path.startswith(base)
        and "/_delta_log/" not in o.path
        and fnmatchcase(o.path[len(base) :].rsplit("/", 1)[-1], source.get("pattern", "*"))
        and o.path[len(base) :] not in taken
    )
    fetched = Fetched()
    for path in candidates[:max_files]:
        name = path[len(base) :]
        fmt = source.get("format", "auto")
        if fmt == "auto":
            fmt = FORMATS.get(Path(name).suffix.lower(), "")
            if not fmt:
                raise SourceFailed(f"cannot tell the format of {name}: set 'format'")
        try:
            records = parse(store.read_bytes(path), fmt)
        except Exception as exc:
            raise SourceFailed(f"cannot read {name} as {fmt} ({type(exc).__name__})") from None
        if fetched.files and len(fetched.records) + len(records) > max_rows:
            break  # the rest waits for the next run; one file is never split
        fetched.files.append(name)
        fetched.records.extend(records)
        fetched.positions.extend(f"{name}:{i + 1}" for i in range(len(records)))
    return fetched
