"""The durable outbox: accepted entries, flush batches and known identifiers, and their queries."""
