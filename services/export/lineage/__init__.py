"""Lineage: which user fed which line of which export file, and removing their lines from
finished exports (erasure, withdrawn consent) by it."""
