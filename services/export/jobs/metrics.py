"""Training-data export metrics: labels are outcomes and drop reasons, never users."""

from __future__ import annotations

from libs.common.metrics import Counter, Gauge, Histogram

EXPORT_SECONDS = Histogram(
    "mindlake_export_duration_seconds",
    "Wall time of a training-data export job",
    ["outcome"],
    buckets=(1, 5, 15, 60, 300, 900, 1800, 3600, 4 * 3600),
)
RECORDS_IN = Counter("mindlake_export_records_in_total", "Raw events read by exports")
RECORDS_OUT = Counter(
    "mindlake_export_records_out_total", "Prompt/completion records written", ["split"]
)
DROPPED = Counter(
    "mindlake_export_dropped_total", "Events or pairs kept out of exports, by reason", ["reason"]
)
AVERAGE_QUALITY = Gauge(
    "mindlake_export_average_quality",
    "Average quality score of the last finished export",
    multiprocess_mode="mostrecent",
)
