"""The AI training export: prompt/completion pairs from chat logs, consented, crisis-free,
PII re-scanned, scored, deduplicated and split by user; see `pipeline`."""

from services.export.training.pipeline import (
    ExportCounts,
    ExportResult,
    ExportSpec,
    run_training_export,
)

__all__ = ["ExportCounts", "ExportResult", "ExportSpec", "run_training_export"]
