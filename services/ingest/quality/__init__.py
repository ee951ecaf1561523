"""Data-quality figures per source and data type, kept per day."""
