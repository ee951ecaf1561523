"""Dead-letter metrics. Labels are source paths and reason kinds (closed sets), never user data."""

from __future__ import annotations

from libs.common.metrics import Counter, Gauge

DEAD_LETTERS = Counter(
    "mindlake_ingest_dead_letters_total",
    "Rejected entries kept in the dead-letter store, by source path and reason kind",
    ["source", "reason_kind"],  # closed sets: see services/ingest/deadletters/service.py
)

DEAD_LETTER_FAILURES = Counter(
    "mindlake_ingest_dead_letter_failures_total",
    "Rejected entries the dead-letter store failed to keep (the reply still went out)",
    ["source"],
)

DEAD_LETTERS_REFUSED_ERASED = Counter(
    "mindlake_ingest_dead_letters_refused_erased_total",
    "Rejected entries not kept because their user was erased (a consent tombstone)",
    ["source"],
)

DEAD_LETTERS_OPEN = Gauge(
    "mindlake_ingest_dead_letters_open",
    "Dead letters neither replayed nor discarded",
    multiprocess_mode="mostrecent",
)
