"""The typed log API: POST /v1/logs, its entry schemas, and accepting entries into the outbox."""
