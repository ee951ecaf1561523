"""The feature contract: the daily features table's columns, shared by building, training and
scoring. A feature for day D uses only events before D 00:00 UTC.

Changing a name or a meaning here changes the model's input: bump FEATURE_SET_VERSION, and
the next training run (which records the version) is the only one that can score it.
"""

from __future__ import annotations

FEATURE_SET_VERSION = "risk-features-1"

MOOD = (
    "mood_mean_7",  # mean 1-10 mood score (mood check-ins and journal mood_score), last 7 days
    "mood_mean_14",
    "mood_mean_30",
    "mood_trend_14",  # least-squares slope of the daily mean score, per day, last 14 days
    "mood_volatility_14",  # standard deviation of the scores, last 14 days
    "mood_last",  # the latest score before D
    "mood_days_missing_14",  # days of the last 14 without any score
)
BEHAVIOUR = (
    "activity_7",  # events per day, last 7 days
    "activity_vs_baseline",  # activity_7 / the user's own mean daily events over days 8-35 before D
    "engagement_drop",  # max(0, 1 - activity_vs_baseline)
    "late_night_share_14",  # share of events between 00:00 and 05:00 UTC, last 14 days
    "days_since_last_activity",  # days between the latest event and D (capped at 60)
    "journal_entries_14",  # journal-service entries, last 14 days
)
SENTIMENT = (
    "sentiment_mean_14",  # mean VADER compound of the user's journal and chat text, last 14 days
    "sentiment_min_14",
    "negative_share_14",  # share of texts with compound <= -0.05
    "crisis_hits_14",  # texts with a crisis-lexicon indicator (libs/common/crisis.py)
)
FEATURES: tuple[str, ...] = MOOD + BEHAVIOUR + SENTIMENT

# 1 where a group had no data in its window and its values were imputed.
MISSING = ("mood_missing", "activity_missing", "sentiment_missing")
MODEL_INPUTS: tuple[str, ...] = FEATURES + MISSING  # what a model reads, in this order

# Besides MODEL_INPUTS, every row has: day (date32), subject_key, user_id, coverage (0-1: the
# share of the three groups with data), feature_set (FEATURE_SET_VERSION), built_at.
KEYS = ("day", "subject_key", "user_id")
