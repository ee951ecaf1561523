"""The hash-chained audit log: chaining the outbox, reading, verifying, redacting."""
