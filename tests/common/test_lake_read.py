"""Reading a Delta table after delta-rs rewrote files (string_view columns) still filters."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from deltalake import write_deltalake

from libs.common.lake import Lake, read_delta
from libs.common.settings import CommonSettings


def test_read_delta_filters_on_strings_after_a_delete(tmp_path: Path) -> None:
    lake = Lake(CommonSettings(lake_root=f"file://{tmp_path}"))
    rows = pa.table({"who": ["a", "b", "c"] * 10, "n": list(range(30))})
    write_deltalake(lake.uri("t"), rows)
    table = lake.delta_table("t")
    assert table is not None
    table.delete("n = 4")  # rewrites the file: its strings come back as string_view
    table = lake.delta_table("t")
    assert table is not None
    with pytest.raises(pa.ArrowNotImplementedError):  # what read_delta works around
        table.to_pyarrow_dataset().to_table(filter=pc.field("who") == "a")
    found = read_delta(table, ["who", "n"], pc.field("who") == "b")
    assert found.schema.field("who").type == pa.string()
    assert sorted(found["n"].to_pylist()) == [n for n in range(30) if n % 3 == 1 and n != 4]
