"""Incremental runs over raw/events: watermarks, the pipeline, reconcile, withdrawals."""
