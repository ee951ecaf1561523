"""Pull ingestion jobs: scheduled pulls from a Postgres table, a file drop or an HTTP JSON API
into a Delta table per job under `raw/pulled/<job_name>`, exactly once across runs and crashes.
"""
