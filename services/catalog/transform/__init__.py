"""Transformations: a read-only DuckDB query over one asset, written as a derived asset."""
