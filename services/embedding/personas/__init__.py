"""Personas: a user's own data exports, categorized in stages, built into profiles they control."""
