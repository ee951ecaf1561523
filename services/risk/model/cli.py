"""`mindlake risk`: train a model in this process (on the lake, or on a synthetic cohort) and
list the model versions."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from libs.common.db import one_shot_engine
from libs.common.lake import Lake
from services.risk.config import RiskSettings, get_risk_settings
from services.risk.model import registry
from services.risk.model.cohort import CohortSpec, simulate
from services.risk.model.synthetic_features import features_and_labels
from services.risk.model.train import TrainingError, train, train_on_table
from services.risk.models import ModelRow

app = typer.Typer(help="Risk model: train, list versions.", no_args_is_help=True)
console = Console()
METRICS = ("roc_auc", "pr_auc", "brier", "brier_no_skill", "recall_at_high", "precision_at_high")


def report_table(report: dict[str, Any]) -> Table:
    """The held-out metrics of the candidate, the rule baseline and the champion, side by side."""
    held = report["split"]["holdout"]
    grid = Table(
        "metric",
        "candidate",
        "rule baseline",
        "champion",
        title=f"held out: {held['first_day']} to {held['last_day']}, "
        f"{held['rows']} rows, {held['positives']} positives",
    )
    champion = report.get("champion") or {}
    for name in METRICS:
        cells = [report["candidate"], report["baseline"], champion]
        grid.add_row(name, *(f"{c[name]:.3f}" if name in c else "-" for c in cells))
    return grid


async def _run(settings: RiskSettings, synthetic: bool, spec: CohortSpec) -> dict[str, Any]:
    engine = one_shot_engine()
    lake = Lake(settings)
    try:
        with console.status("training") as status:

            def progress(stage: str) -> None:
                status.update(f"training: {stage}")

            if not synthetic:
                return await train(engine, lake, settings, trigger="cli", progress=progress)
            status.update("training: synthetic cohort")
            table, labels = await asyncio.to_thread(
                lambda: features_and_labels(simulate(spec), settings.risk_horizon_days, settings)
            )
            sources = {"synthetic": True, "users": spec.users, "days": spec.days}
            return await train_on_table(
                engine,
                lake,
                settings,
                table,
                labels,
                trigger="cli",
                sources=sources,
                progress=progress,
            )
    finally:
        await engine.dispose()


@app.command("train")
def train_command(
    synthetic: Annotated[
        bool, typer.Option(help="Train on a generated SYNTHETIC cohort instead of the lake")
    ] = False,
    users: Annotated[int, typer.Option(min=20, max=20000, help="Synthetic cohort size")] = 400,
    days: Annotated[int, typer.Option(min=90, max=730, help="Synthetic cohort length")] = 180,
    seed: Annotated[int, typer.Option(help="Synthetic cohort seed")] = 0,
    report: Annotated[bool, typer.Option(help="Also print the whole report as JSON")] = False,
) -> None:
    """Train a candidate now, judge it against the rule baseline and the champion on the same
    held-out window, and promote it if it earned it (a training_jobs row either way)."""
    settings = get_risk_settings()
    spec = CohortSpec(users=users, days=days, seed=seed)
    try:
        result = asyncio.run(_run(settings, synthetic, spec))
    except (TrainingError, ValueError) as exc:  # TrainingError, SplitError: counts only
        console.print(f"[red]training failed: {exc}[/red]")
        raise typer.Exit(1) from None
    console.print(report_table(result))
    verdict = "promoted to champion" if result["promoted"] else "not promoted"
    console.print(f"model {result['version']}: {verdict} ({result['calibration']} calibration)")
    if result.get("not_promoted_because"):
        console.print(result["not_promoted_because"])
    if report:
        console.print_json(json.dumps(result))


@app.command("models")
def models_command() -> None:
    """The model versions, newest first, with their held-out ROC AUC and Brier score."""

    async def rows() -> list[ModelRow]:
        engine = one_shot_engine()
        try:
            return await registry.model_rows(engine)
        finally:
            await engine.dispose()

    grid = Table("version", "created", "alias", "roc_auc", "brier", "needs retraining")
    for row in asyncio.run(rows()):
        candidate = row.metrics.get("candidate", {})
        grid.add_row(
            row.version,
            f"{row.created_at:%Y-%m-%d %H:%M}",
            row.alias or "",
            f"{candidate.get('roc_auc', float('nan')):.3f}",
            f"{candidate.get('brier', float('nan')):.3f}",
            "yes" if row.needs_retraining else "",
        )
    console.print(grid)
