"""Signals of the user's texts: VADER's compound score and the crisis-lexicon indicator.

VADER runs in Python, one text at a time, so each distinct text is scored once: a cohort's
repeated phrases ("ok", "fine") cost one call each.
"""

from __future__ import annotations

from functools import lru_cache

import polars as pl
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from libs.common.crisis import has_indicator

NEGATIVE = -0.05  # VADER's own cut-off: a compound at or below it is a negative text


@lru_cache(maxsize=1)
def _analyzer() -> SentimentIntensityAnalyzer:
    return SentimentIntensityAnalyzer()  # loads its lexicon: once per process


def compound(text: str) -> float:
    """VADER's normalized score of `text`, -1 (most negative) to 1."""
    return float(_analyzer().polarity_scores(text)["compound"])


def annotate(events: pl.DataFrame) -> pl.DataFrame:
    """`events` with `compound` (float, null without text) and `crisis` (bool, false without
    text) added."""
    texts = events.get_column("text").drop_nulls().unique()
    signals = pl.DataFrame(
        {
            "text": texts,
            "compound": [compound(t) for t in texts],
            "crisis": [has_indicator(t) for t in texts],
        },
        schema={"text": pl.String, "compound": pl.Float64, "crisis": pl.Boolean},
    )
    joined = events.join(signals, on="text", how="left", nulls_equal=False)
    return joined.with_columns(pl.col("crisis").fill_null(False))
