"""POST /v1/search: one user's own items (personalization) or research across users."""
