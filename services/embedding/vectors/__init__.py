"""Qdrant: collections per model, point ids and payloads, the local-mode lock."""
