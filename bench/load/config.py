"""Paths, defaults and targets of the ingest bench."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
DEFAULT_DB = "postgresql+asyncpg://postgres@127.0.0.1:5432/mindlake_bench"
DEFAULT_REDIS = "redis://127.0.0.1:6379/14"
PLACEHOLDER = b"@@BENCHID@@"
MODES = ("batch", "single")
DEFAULT_CONCURRENCY = {"batch": 8, "single": 64}

TARGET_BATCH_EVENTS = 25_000
TARGET_BATCH_P99_MS = 100.0
TARGET_SINGLE_RATIO = 0.5
