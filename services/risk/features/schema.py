"""The daily features table's Arrow schema (names and order from columns.py)."""

from __future__ import annotations

import pyarrow as pa

from services.risk.features.columns import KEYS, MODEL_INPUTS

# Every model input is a float64, the missingness indicators too (0.0 or 1.0): a model reads
# the columns straight into one float matrix.
FEATURES_SCHEMA = pa.schema(
    [
        pa.field(KEYS[0], pa.date32(), nullable=False),
        pa.field(KEYS[1], pa.string(), nullable=False),
        pa.field(KEYS[2], pa.string(), nullable=False),
        *(pa.field(name, pa.float64(), nullable=False) for name in MODEL_INPUTS),
        pa.field("coverage", pa.float64(), nullable=False),
        pa.field("feature_set", pa.string(), nullable=False),
        pa.field("built_at", pa.timestamp("us", tz="UTC"), nullable=False),
    ]
)


def empty_features() -> pa.Table:
    return FEATURES_SCHEMA.empty_table()
