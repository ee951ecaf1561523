"""The consent service's stores in the erasure/portability registry."""
