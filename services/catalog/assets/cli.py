"""`mindlake catalog`: reconcile the lake into the catalog in this process (with progress) and
list the assets."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from libs.common.db import one_shot_engine
from libs.common.lake import Lake
from services.catalog.assets import repository, service
from services.catalog.assets.storage import COLD_DAYS, COMPACT_MIN, SMALL_BYTES, storage_report
from services.catalog.config import get_catalog_settings

app = typer.Typer(
    help="The catalog of lake assets: reconcile, list, storage report.", no_args_is_help=True
)
console = Console()
SHORT = {"clear": "clear", "keyed_hash": "keyed", "encrypted_per_user": "encrypted",
         "scrubbed_free_text": "scrubbed"}  # fmt: skip


def privacy_summary(columns: list[dict[str, Any]]) -> str:
    """`body encrypted, subject_key keyed, user_id clear (personal)`: the non-plain columns."""
    shown = [f"{c['name']} {SHORT[c['privacy']]}" + (" (personal)" if c["personal"] else "")
             for c in columns if c["privacy"] != "clear" or c["personal"]]  # fmt: skip
    return ", ".join(shown) or "-"


def assets_table(rows: list[dict[str, Any]]) -> Table:
    grid = Table("asset", "format", "version", "rows", "files", "purpose", "privacy")
    for r in rows:
        grid.add_row(
            r["location"], r["storage_format"], "-" if r["version"] is None else str(r["version"]),
            "-" if r["rows"] is None else f"{r['rows']:,}", str(r["files"]),
            r["purpose"] or "-", privacy_summary(r["columns"]),
        )  # fmt: skip
    return grid


@app.command()
def reconcile() -> None:
    """Find every asset in the lake, inspect it and record it; mark the vanished missing."""
    settings = get_catalog_settings()

    async def run() -> dict[str, int]:
        engine = one_shot_engine(settings.database_url)
        try:
            with Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                          console=console, transient=True) as bar:  # fmt: skip
                task = bar.add_task("inspecting the lake's assets", total=None)
                counts = await service.reconcile(
                    engine=engine, lake=Lake(settings), settings=settings,
                    progress=lambda location: bar.update(task, advance=1, description=location),
                )  # fmt: skip
            return counts
        finally:
            await engine.dispose()

    counts = asyncio.run(run())
    console.print(f"{counts['assets']} assets recorded, {counts['failed']} unreadable, "
                  f"{counts['missing']} marked missing")  # fmt: skip


@app.command("list")
def list_assets(
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 200,
) -> None:
    """The catalog's assets with their format, version, counts and privacy classes."""
    settings = get_catalog_settings()

    async def run() -> list[dict[str, Any]]:
        engine = one_shot_engine(settings.database_url)
        try:
            async with engine.connect() as conn:
                return await repository.listing(conn, limit=limit, offset=0)
        finally:
            await engine.dispose()

    console.print(assets_table(asyncio.run(run())))


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB"):
        if n < 1024:
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n:,.1f} GiB"


SmallMib = Annotated[int, typer.Option(min=1, help="a data file under this many MiB is small")]
CompactMin = Annotated[int, typer.Option(min=1, help="small files that suggest a compaction")]
ColdDays = Annotated[int, typer.Option(min=1, help="age in days that suggests a colder tier")]


@app.command()
def storage(
    small_mib: SmallMib = SMALL_BYTES // 2**20,
    compact_min: CompactMin = COMPACT_MIN,
    cold_days: ColdDays = COLD_DAYS,
) -> None:
    """Size and small files per zone and per asset, with compaction and lifecycle suggestions."""
    lake = Lake(get_catalog_settings())
    with Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                  console=console, transient=True) as bar:  # fmt: skip
        task = bar.add_task("listing the lake", total=None)
        report = storage_report(
            lake, small_bytes=small_mib * 2**20, compact_min=compact_min, cold_days=cold_days,
            progress=lambda n: bar.update(task, description=f"listed {n:,} objects"),
        )  # fmt: skip
    for title, rows in (("zone", report.zones), ("asset", report.assets)):
        grid = Table(title, "files", "size", "small files", f"older than {cold_days} d")
        for name, usage in sorted(rows.items(), key=lambda item: -item[1].bytes):
            grid.add_row(name, f"{usage.files:,}", _size(usage.bytes), f"{usage.small_files:,}",
                         _size(usage.cold_bytes))  # fmt: skip
        console.print(grid)
    for line in report.suggestions or ["nothing to suggest: no asset has many small files, "
                                       "no zone is mostly cold"]:  # fmt: skip
        console.print(f"- {line}")
