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
from services.catalog.config import get_catalog_settings

app = typer.Typer(help="The catalog of lake assets: reconcile, list.", no_args_is_help=True)
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
