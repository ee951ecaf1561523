"""The lake's storage report (a local lake): size and small files per zone and asset, a
compaction suggested for an asset of many small files, a lifecycle rule for a zone that is
mostly old, and the `mindlake catalog storage` command printing both."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import write_deltalake
from typer.testing import CliRunner

from libs.common.lake import Lake
from libs.common.settings import CommonSettings
from services.catalog.assets.cli import app
from services.catalog.assets.storage import storage_report


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    lake = Lake(CommonSettings(lake_root=f"file://{tmp_path}"))
    for i in range(6):  # six appends: six small data files
        write_deltalake(lake.uri("raw/pulled/partner"), pa.table({"n": [i]}), mode="append")
    lake.write_bytes("backups/consent_records/2026-01-01_consent_backup.json.gz", b"x" * 5000)
    lake.write_bytes("backups/consent_records/2026-12-01_consent_backup.json.gz", b"y" * 100)
    old = (datetime.now(UTC) - timedelta(days=200)).timestamp()
    os.utime(tmp_path / "backups/consent_records/2026-01-01_consent_backup.json.gz", (old, old))
    return lake


def test_zones_assets_and_suggestions(lake: Lake) -> None:
    report = storage_report(lake, compact_min=5, cold_days=90)
    pulled = report.assets["raw/pulled/partner"]
    assert pulled.small_files == 6 and pulled.files > 6  # the log's files count, not as small
    assert report.zones["raw"].bytes == pulled.bytes
    backups = report.zones["backups"]
    assert (backups.files, backups.bytes, backups.cold_bytes) == (2, 5100, 5000)
    assert report.suggestions == [
        "compact raw/pulled/partner: 6 small files; delta-rs `optimize.compact()` "
        "(raw/events: ingest's `ingest.compact`)",
        "lifecycle backups/: 98% of its bytes are older than 90 days; an S3 lifecycle rule can "
        "move them to an infrequent-access tier",
    ]
    assert storage_report(lake, compact_min=7, cold_days=365).suggestions == []


def test_the_command_prints_the_report(
    lake: Lake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from services.catalog.config import get_catalog_settings

    monkeypatch.setenv("MINDLAKE_LAKE_ROOT", f"file://{tmp_path}")
    get_catalog_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["storage", "--compact-min", "5"], env={"COLUMNS": "200"})
    finally:
        get_catalog_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "raw/pulled/partner" in result.output and "compact raw/pulled/partner" in result.output
    assert "lifecycle backups/" in result.output
