"""Consent service: the consent ledger and its API, the daily ledger backup, its erasure stores."""
