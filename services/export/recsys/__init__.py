"""Recommender training data (Team Eta): features, sequences and negative-sampled samples
per tenant, from the tenants' uploaded interactions and items, consenting users only."""
