"""The export service's stores in the erasure/portability registry."""
