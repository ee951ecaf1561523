"""One recommender run per tenant: read, keep consenting users, compute, write, prune.

Output under `<prefix>/<tenant>/<run_id>/`: user_features.parquet, item_features.parquet,
user_sequences.parquet, samples/label=1/part-0.parquet, samples/label=0/part-0.parquet and
manifest.json (written last). Only users consenting to `personalization` at run time are in
any file, item features included: a non-consenting user's interactions count nowhere.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from typing import Any

import polars as pl
import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from libs.common.catalog import asset_written, run_event, run_id_for
from libs.common.consent import query_allowed
from libs.common.contracts import ConsentPurpose
from libs.common.lake import Lake
from services.export.config import ExportSettings
from services.export.recsys import features, sampling, source, writer

log = structlog.get_logger(__name__)
PURPOSE = ConsentPurpose.PERSONALIZATION
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def new_run_id(now: datetime | None = None) -> str:
    """Run ids sort by time (pruning relies on it)."""
    return (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")


async def consenting(engine: AsyncEngine, user_ids: list[str]) -> set[str]:
    if not user_ids:
        return set()
    async with engine.connect() as conn:
        return set(await query_allowed(conn, user_ids, PURPOSE))


async def build_recommender_data(
    tenant: str, *, lake: Lake, engine: AsyncEngine, settings: ExportSettings, run_id: str
) -> dict[str, Any]:
    """Build one run for `tenant`; returns its manifest (`{"skipped": ...}` without data)."""
    for name in (tenant, run_id):
        if not SAFE_NAME.match(name):
            raise ValueError("tenant and run_id must be plain names (letters, digits, _ . -)")
    started = time.monotonic()
    interactions = source.read_interactions(lake, tenant)
    if interactions.version is None:
        return {"tenant": tenant, "run_id": run_id, "skipped": "no interactions table"}
    items = source.read_items(lake, tenant)
    rows = interactions.rows
    users = sorted(rows["user_id"].unique().to_list())
    checked_at = datetime.now(UTC)
    allowed = await consenting(engine, users)
    rows = rows.filter(pl.col("user_id").is_in(sorted(allowed)))

    # The catalogue is the pool of negatives; without one, every item anyone interacted with.
    catalogue = items.rows["item_id"] if items.version is not None else interactions.rows["item_id"]
    samples = sampling.build_samples(
        rows,
        catalogue.unique().to_list(),
        tenant=tenant,
        ratio=settings.export_negative_ratio,
        seed=settings.export_negative_seed,
        positive_types=settings.export_recsys_positive_types,
    )
    run_dir = f"{settings.export_recsys_prefix}/{tenant}/{run_id}"
    datasets = {
        "user_features": features.user_features(rows),
        "item_features": features.item_features(rows, items.rows),
        "user_sequences": features.user_sequences(rows, settings.export_recsys_sequence_length),
    }
    files = {
        name: writer.write_parquet(lake, f"{run_dir}/{name}.parquet", writer.to_arrow(frame, name))
        for name, frame in datasets.items()
    }
    for label, frame in ((1, samples.positives), (0, samples.negatives)):
        files[f"samples_label_{label}"] = writer.write_parquet(
            lake,
            f"{run_dir}/samples/label={label}/part-0.parquet",
            writer.to_arrow(frame, "samples"),
        )
    manifest: dict[str, Any] = {
        "tenant": tenant,
        "run_id": run_id,
        "created_at": datetime.now(UTC).isoformat(),
        "consent": {"purpose": PURPOSE.value, "checked_at": checked_at.isoformat()},
        "sources": {
            "interactions": {"path": interactions.path, "version": interactions.version},
            "items": {"path": items.path, "version": items.version},
        },
        "negative_sampling": {
            "ratio": settings.export_negative_ratio,
            "seed": settings.export_negative_seed,
            "positive_types": settings.export_recsys_positive_types,
            "pool": "items" if items.version is not None else "interacted_items",
        },
        "sequence_length": settings.export_recsys_sequence_length,
        "counts": {
            "interactions_read": interactions.rows.height,
            "interactions_used": rows.height,
            "users_read": len(users),
            "users_without_consent": len(users) - len(allowed),
            "users": datasets["user_features"].height,
            "items": datasets["item_features"].height,
            "catalogue_items": catalogue.n_unique(),
            "positives": samples.positives.height,
            "negatives": samples.negatives.height,
            "negatives_short": samples.shortfall,
        },
        "files": files,
    }
    writer.write_manifest(lake, run_dir, manifest)
    pruned = writer.prune_runs(
        lake, f"{settings.export_recsys_prefix}/{tenant}", settings.export_recsys_keep_runs
    )
    asset_written(f"{settings.export_recsys_prefix}/{tenant}", service="export")  # manifest last
    read = [(s.path, s.version) for s in (interactions, items) if s.version is not None]
    run_event(
        run_id_for("export.recommender", run_dir), job="export.recommender", service="export",
        state="COMPLETE", inputs=read, outputs=[(run_dir, None)],
        facets={"tenant": tenant, "run": run_id, "consent_checked_at": checked_at.isoformat()},
    )  # fmt: skip
    log.info(
        "recsys.built",
        tenant=tenant,
        run_id=run_id,
        users=manifest["counts"]["users"],
        positives=samples.positives.height,
        negatives=samples.negatives.height,
        pruned_runs=len(pruned),
        seconds=round(time.monotonic() - started, 3),
    )
    return manifest


async def build_all(
    *, lake: Lake, engine: AsyncEngine, settings: ExportSettings, run_id: str | None = None
) -> dict[str, dict[str, Any]]:
    """One run for every tenant with an interactions table; {tenant: manifest}."""
    run_id = run_id or new_run_id()
    return {
        tenant: await build_recommender_data(
            tenant, lake=lake, engine=engine, settings=settings, run_id=run_id
        )
        for tenant in source.list_tenants(lake)
    }
