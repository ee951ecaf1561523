"""`mindlake export`: an AI training export from the command line, with a progress bar.

Loaded by libs/common/cli.py through the `mindlake.commands` entry point. Runs the export in
this process (the same code as the worker) or, with `--queue`, leaves it to the workers.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from libs.common.contracts import TaskName
from libs.common.db import one_shot_engine
from libs.common.lake import Lake
from services.export.config import ExportSettings
from services.export.jobs import repository
from services.export.jobs.runner import run_export, spec_body

app = typer.Typer(help="Training-data exports.")
console = Console(stderr=True)


def _day(value: str | None, name: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter("use YYYY-MM-DD", param_hint=name) from None


def _range(start: str | None, end: str | None, last_days: int | None) -> tuple[date, date]:
    if last_days is not None:
        if start or end:
            raise typer.BadParameter("give --last-days or --start-date/--end-date, not both")
        today = datetime.now(UTC).date()
        return today - timedelta(days=last_days), today - timedelta(days=1)
    first, last = _day(start, "--start-date"), _day(end, "--end-date")
    if first is None:
        raise typer.BadParameter("give --start-date (and --end-date) or --last-days")
    last = last or first
    if last < first:
        raise typer.BadParameter("--end-date is before --start-date")
    return first, last


async def _create(settings: ExportSettings, spec: dict[str, Any]) -> uuid.UUID:
    engine = one_shot_engine(settings.database_url)
    try:
        async with engine.begin() as conn:
            return await repository.create(conn, spec=spec, requested_by="cli")
    finally:
        await engine.dispose()


async def _run(settings: ExportSettings, export_id: uuid.UUID) -> dict[str, Any] | None:
    engine = one_shot_engine(settings.database_url)
    columns = (
        TextColumn("{task.description:<10}"),
        BarColumn(),
        TextColumn("{task.completed:,.0f}/{task.total:,.0f}"),
        TimeElapsedColumn(),
    )
    try:
        with Progress(*columns, console=console, transient=False) as bar:
            task = bar.add_task("start", total=1)

            def on_progress(stage: str, done: int, total: int) -> None:
                bar.update(task, description=stage, completed=done, total=max(total, 1))

            return await run_export(
                export_id,
                engine=engine,
                lake=Lake(settings),
                settings=settings,
                progress=on_progress,
            )
    finally:
        await engine.dispose()


@app.callback(invoke_without_command=True)
def export(  # noqa: PLR0917 - typer options
    start_date: Annotated[str | None, typer.Option(help="First day, YYYY-MM-DD (UTC)")] = None,
    end_date: Annotated[
        str | None, typer.Option(help="Last day, inclusive (default: start)")
    ] = None,
    last_days: Annotated[
        int | None, typer.Option(min=1, max=366, help="The N days before today")
    ] = None,
    services: Annotated[
        str | None, typer.Option(help="Comma-separated, default lyfbot-service,ai-service")
    ] = None,
    min_quality: Annotated[
        float | None, typer.Option(min=0.0, max=1.0, help="Default MINDLAKE_EXPORT_MIN_QUALITY")
    ] = None,
    parquet: Annotated[bool, typer.Option(help="Write Parquet beside the JSONL")] = False,
    queue: Annotated[bool, typer.Option(help="Queue it for the workers instead")] = False,
) -> None:
    """Export prompt/completion pairs for fine-tuning: prints the job as JSON when done."""
    settings = ExportSettings()
    first, last = _range(start_date, end_date, last_days)
    names = [s.strip() for s in services.split(",") if s.strip()] if services else None
    spec = spec_body(
        settings,
        start=first,
        end=last,
        services=names,
        min_quality=min_quality,
        formats=["jsonl", "parquet"] if parquet else ["jsonl"],
    )
    export_id = asyncio.run(_create(settings, spec))
    if queue:
        from services.export.worker import celery_app

        celery_app.send_task(
            TaskName.EXPORT_RUN, args=[str(export_id)], expires=settings.celery_task_expires_s
        )
        console.print(f"queued export {export_id}: GET /v1/exports/{export_id}")
        print(orjson.dumps({"id": str(export_id), "status": "queued"}).decode())  # noqa: T201
        return
    try:
        row = asyncio.run(_run(settings, export_id))
    except Exception as exc:
        console.print(f"[red]export {export_id} failed:[/red] {type(exc).__name__}: {exc}")
        raise typer.Exit(1) from exc
    assert row is not None
    counts = row["counts"] or {}
    console.print(
        f"[green]export {export_id} done[/green]: {counts.get('out_train', 0)} train,"
        f" {counts.get('out_validation', 0)} validation, average quality"
        f" {row['average_quality']}"
    )
    summary = {k: row[k] for k in ("id", "status", "paths", "counts", "average_quality")}
    print(orjson.dumps(summary, default=str).decode())  # noqa: T201 - the result, on stdout
