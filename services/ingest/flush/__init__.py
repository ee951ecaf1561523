"""Landing the outbox in the lake exactly once, and upkeep of the raw events table."""
