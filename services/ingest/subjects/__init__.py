"""The ingest service's stores of a user's data in the erasure/portability registry."""
