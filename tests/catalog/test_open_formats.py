"""The lake is readable by the tools people use, with no MindLake code on the read path:
DuckDB with its `delta` extension (the PyPI package duckdb-extension-delta, loaded from
its wheel) and polars read `raw/events` and a training export as MindLake wrote them."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import duckdb
import orjson
import polars as pl
import pytest

from libs.common.lake import Lake
from tests.catalog.lake_samples import write_lake

pytestmark = pytest.mark.parametrize("lake_settings", ["local"], indirect=True)


def delta_extension() -> str:
    """The extension file the PyPI package ships for this DuckDB version."""
    import duckdb_extension_delta  # the wheel: the extension file, nothing to import at run

    folder = Path(duckdb_extension_delta.__file__).parent / "extensions"
    found = sorted(folder.glob(f"v{duckdb.__version__}/delta.duckdb_extension"))
    assert found, f"no delta extension for DuckDB {duckdb.__version__} in {folder}"
    return str(found[0])


def test_duckdb_and_polars_read_raw_events_and_an_export(lake_settings: Any) -> None:
    lake = Lake(lake_settings)
    write_lake(lake)
    events = lake.uri("raw/events")

    con = duckdb.connect(config={"allow_unsigned_extensions": True})
    con.load_extension(delta_extension())
    rows = con.execute(
        "SELECT service, count(*) FROM delta_scan(?) GROUP BY service ORDER BY service",
        [events],
    ).fetchall()
    assert rows == [("journal-service", 5), ("mood-service", 3)]
    sealed = con.execute("SELECT count(*) FROM delta_scan(?) WHERE body LIKE 'enc1:%'",
                         [events]).fetchone()  # fmt: skip
    assert sealed == (8,)  # the bodies are sealed per user: readable only with their keys

    frame = pl.read_delta(events)
    assert frame.height == 8
    assert frame.group_by("service").len().sort("service")["len"].to_list() == [5, 3]

    export = next(o.path for o in lake.list("processed/training-data") if o.path.endswith(".gz"))
    lines = gzip.decompress(lake.read_bytes(export)).splitlines()
    local = Path(lake.root) / export
    read = con.execute("SELECT prompt, completion FROM read_json_auto(?) ORDER BY prompt",
                       [str(local)]).fetchall()  # fmt: skip
    assert read == sorted((orjson.loads(x)["prompt"], orjson.loads(x)["completion"])
                          for x in lines)  # fmt: skip
    assert pl.read_ndjson(gzip.decompress(lake.read_bytes(export))).height == len(lines)
