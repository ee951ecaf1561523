"""The Segment / RudderStack-compatible tracking API on top of the ingest path."""
