"""A trained version's artifacts in the lake, under `<risk_models_prefix>/<version>/`:
model.joblib, metrics.json (the report), features.json (inputs and feature set),
manifest.json (what it was trained on: table versions, days, counts; no ids)."""

from __future__ import annotations

import json
from typing import Any

from libs.common.crisis import CRISIS_LIST_VERSION
from libs.common.lake import Lake
from services.risk.config import RiskSettings
from services.risk.features.columns import FEATURE_SET_VERSION, MODEL_INPUTS
from services.risk.model.registry import MODEL_FILE, TrainedModel

METRICS_FILE = "metrics.json"
FEATURES_FILE = "features.json"
MANIFEST_FILE = "manifest.json"


def version_path(settings: RiskSettings, version: str) -> str:
    return f"{settings.risk_models_prefix.rstrip('/')}/{version}"


def _json(data: dict[str, Any]) -> bytes:
    return json.dumps(data, indent=2, sort_keys=True, default=str).encode()


def write_artifacts(
    lake: Lake,
    path: str,
    model: TrainedModel,
    report: dict[str, Any],
    manifest: dict[str, Any],
) -> list[str]:
    """Write the four files (the model last is not needed: nothing points here until the
    models row is committed). Returns the files written."""
    files = {
        MODEL_FILE: model.dumps(),
        METRICS_FILE: _json(report),
        FEATURES_FILE: _json({"inputs": list(MODEL_INPUTS), "feature_set": FEATURE_SET_VERSION}),
        MANIFEST_FILE: _json({**manifest, "crisis_list_version": CRISIS_LIST_VERSION}),
    }
    for name, data in files.items():
        lake.write_bytes(f"{path}/{name}", data)
    return sorted(files)
