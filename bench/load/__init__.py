"""The ingest bench's parts (bench/ingest.py runs them): load generators, CPU accounting,
servers, database, report, profile."""
