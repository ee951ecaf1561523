"""`mindlake embedding`: backups, restore, and a sync or reconcile run in this process."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from libs.common.db import one_shot_engine
from libs.common.errors import ServiceError
from libs.common.lake import Lake
from services.embedding.backup import files
from services.embedding.backup.restore import find, opened_rows, rebuild
from services.embedding.backup.tasks import backup_all
from services.embedding.config import get_embedding_settings
from services.embedding.vectors.store import qdrant

app = typer.Typer(help="Embeddings: backups, restore, runs.", no_args_is_help=True)
console = Console()


def _engine_run(work: Any) -> Any:
    async def go() -> Any:
        engine = one_shot_engine()
        try:
            return await work(engine)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(go())
    except ServiceError as exc:
        console.print(f"[red]{exc.detail}[/red]")
        raise typer.Exit(1) from None


@app.command()
def backups() -> None:
    """The backups in the lake, oldest first."""
    settings = get_embedding_settings()
    grid = Table("model", "date", "collection", "path")
    for b in files.list_backups(Lake(settings), settings.embedding_backup_prefix):
        grid.add_row(b.model, b.day, b.collection, b.path)
    console.print(grid)


@app.command()
def backup() -> None:
    """Back every collection up now (what the daily job does)."""
    settings = get_embedding_settings()
    written = _engine_run(lambda engine: backup_all(engine, Lake(settings), settings))
    for collection, result in written.items():
        console.print(f"{collection}: {result['points']} points -> {result['path']}")


@app.command()
def restore(
    model: Annotated[str, typer.Option(help="e.g. all-minilm-l6-v2")],
    date: Annotated[str | None, typer.Option(help="YYYY-MM-DD; default: the newest")] = None,
) -> None:
    """Rebuild a model's collection from a backup, without re-embedding."""
    settings = get_embedding_settings()
    lake = Lake(settings)

    async def work(engine: Any) -> tuple[int, int, str]:
        chosen = find(lake, settings, model, date)
        rows, skipped = await opened_rows(engine, lake, settings, chosen)
        with qdrant(settings, lock_timeout_s=settings.embedding_qdrant_lock_timeout_s) as client:
            rebuild(client, chosen.collection, rows)
        return len(rows), skipped, f"{chosen.collection} from {chosen.path}"

    restored, skipped, what = _engine_run(work)
    console.print(f"restored {restored} points into {what}; {skipped} rows of erased users skipped")
