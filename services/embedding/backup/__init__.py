"""Backups of the collections to embeddings/<model>/<date>/ and restore from them."""
