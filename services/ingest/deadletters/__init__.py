"""The dead-letter store: rejected entries kept to inspect, replay, scrub or discard."""
