"""Daily features per user from the lake: mood, behaviour, sentiment, point-in-time correct."""
