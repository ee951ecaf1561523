"""The compliance service's stores in the erasure/portability registry."""
