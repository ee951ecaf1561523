"""Embedding service: consented text from the lake made searchable in Qdrant, and erasable."""
