"""The consent ledger: grants and withdrawals per user and purpose, the current state, its API."""
