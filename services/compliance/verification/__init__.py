"""The erasure scan: every trace of an erased user in the lake, Postgres and Redis."""
