"""The features of each (day, user), computed from events: pure, vectorized (polars).

Point in time: a feature for day D reads only events with event_time < D 00:00 UTC. Every
window counts whole UTC days before D: "last 7 days" is D-7 .. D-1. Events are first summed
per user and calendar day; each day's sums then feed the 35 feature days after it
(LOOKBACK_DAYS), and one group-by per (day, user) takes every window at once.

A (day, user) row exists when the user has an event in the 35 days before D. Missing data is
imputed, and the group's missingness indicator set:
- mood (no score in the last 30 days): means and last score 5.5 (the middle of the 1-10
  scale), trend 0, volatility 0. With scores in 30 days but not in 14 (or 7), the shorter
  mean is the longer one: the user's own level, not the population's.
  Trend needs scores on 2 days of the 14 (else 0), volatility one score (else 0); mood_last
  is the latest score of the 30 days.
- activity (no event in the baseline window, days 8-35 before D: a new or returning user):
  activity_vs_baseline 1 (as usual) and so engagement_drop 0. activity_7 is real either way.
- sentiment (no text in the last 14 days): mean 0 and minimum 0 (VADER's neutral), negative
  share 0, crisis hits 0.
Without events in 14 days the late-night share is 0. days_since_last_activity counts whole
days (an event yesterday: 1), capped at 60. Counts (days missing, journal entries,
crisis hits) are never imputed: zero is what was seen. coverage is the share of the three
groups with data: 1/3 for a user with a single recent mood check-in.
"""

from __future__ import annotations

from datetime import date, datetime

import polars as pl
import pyarrow as pa

from services.risk.features.columns import FEATURE_SET_VERSION, FEATURES, KEYS, MISSING
from services.risk.features.schema import FEATURES_SCHEMA, empty_features
from services.risk.features.sentiment import NEGATIVE
from services.risk.features.sources import JOURNAL

LOOKBACK_DAYS = 35  # the longest window: the activity baseline, days 8-35 before D
BASELINE_DAYS = LOOKBACK_DAYS - 7
MOOD_DAYS = 30
LATE_NIGHT_END_HOUR = 5  # 00:00-05:00 UTC
DAYS_SINCE_CAP = 60.0
NEUTRAL_MOOD = 5.5  # the middle of the 1-10 scale
NEUTRAL_SENTIMENT = 0.0  # VADER's compound of a neutral text
USUAL_ACTIVITY = 1.0  # activity_vs_baseline without a baseline: as usual


def _daily(events: pl.DataFrame) -> pl.DataFrame:
    """Per user and UTC calendar day: the sums every window is made of."""
    score, compound = pl.col("score"), pl.col("compound")
    return events.group_by("user", pl.col("event_time").dt.date().alias("date")).agg(
        n=pl.len(),
        late=(pl.col("event_time").dt.hour() < LATE_NIGHT_END_HOUR).sum(),
        journal=(pl.col("service") == JOURNAL).sum(),
        score_n=score.count(),
        score_sum=score.sum(),
        score_sq=(score * score).sum(),
        score_last=score.sort_by("event_time").drop_nulls().last(),
        text_n=compound.count(),
        text_sum=compound.sum(),
        text_min=compound.min(),
        negative=(compound <= NEGATIVE).sum(),
        crisis=pl.col("crisis").sum(),
    )


def _windows(daily: pl.DataFrame, days: list[date]) -> pl.DataFrame:
    """Per (day, user): each window's sums. `age` is how many days before D a day is (1..35)."""
    wanted = pl.DataFrame({"day": sorted(set(days))}, schema={"day": pl.Date})
    spread = (
        daily.with_columns(age=pl.int_ranges(1, LOOKBACK_DAYS + 1, dtype=pl.Int32))
        .explode("age")
        .with_columns(day=pl.col("date") + pl.duration(days=pl.col("age")))
        .join(wanted, on="day", how="semi")
    )
    age = pl.col("age")

    def within(column: str, last: int) -> pl.Expr:
        return pl.when(age <= last).then(pl.col(column)).otherwise(0).sum()

    scored = pl.col("score_n") > 0
    trend_day = scored & (age <= 14)
    x = (-age).cast(pl.Float64).filter(trend_day)  # days from D: -14 .. -1
    y = (pl.col("score_sum") / pl.col("score_n")).filter(trend_day)  # that day's mean
    last_scored = scored & (age <= MOOD_DAYS)
    return spread.group_by("day", "user").agg(
        n_7=within("n", 7),
        n_14=within("n", 14),
        n_base=pl.when(age > 7).then(pl.col("n")).otherwise(0).sum(),
        late_14=within("late", 14),
        journal_14=within("journal", 14),
        last_date=pl.col("date").max(),
        score_n_7=within("score_n", 7),
        score_sum_7=within("score_sum", 7),
        score_n_14=within("score_n", 14),
        score_sum_14=within("score_sum", 14),
        score_sq_14=within("score_sq", 14),
        score_n_30=within("score_n", MOOD_DAYS),
        score_sum_30=within("score_sum", MOOD_DAYS),
        scored_days_14=trend_day.sum(),
        trend_sx=x.sum(),
        trend_sy=y.sum(),
        trend_sxy=(x * y).sum(),
        trend_sxx=(x * x).sum(),
        score_last=pl.col("score_last")
        .filter(last_scored)
        .sort_by(age.filter(last_scored))
        .first(),
        text_n_14=within("text_n", 14),
        text_sum_14=within("text_sum", 14),
        text_min_14=pl.col("text_min").filter(age <= 14).min(),
        negative_14=within("negative", 14),
        crisis_14=within("crisis", 14),
    )


def _ratio(num: pl.Expr, den: pl.Expr, otherwise: pl.Expr | float) -> pl.Expr:
    return pl.when(den > 0).then(num / den).otherwise(otherwise)


def _features(w: pl.DataFrame) -> pl.DataFrame:
    c = pl.col
    mean_30 = _ratio(c("score_sum_30"), c("score_n_30"), NEUTRAL_MOOD)
    mean_14 = _ratio(c("score_sum_14"), c("score_n_14"), mean_30)
    mean_7 = _ratio(c("score_sum_7"), c("score_n_7"), mean_14)
    m = c("scored_days_14").cast(pl.Float64)
    slope_den = m * c("trend_sxx") - c("trend_sx") ** 2
    slope = (m * c("trend_sxy") - c("trend_sx") * c("trend_sy")) / slope_den
    variance = c("score_sq_14") / c("score_n_14") - (c("score_sum_14") / c("score_n_14")) ** 2
    per_day_7 = c("n_7") / 7.0
    baseline = c("n_base") / float(BASELINE_DAYS)
    vs_baseline = _ratio(per_day_7, baseline, USUAL_ACTIVITY)
    since = (c("day") - c("last_date")).dt.total_days()  # whole days: 1 is yesterday
    features = w.with_columns(
        mood_mean_7=mean_7,
        mood_mean_14=mean_14,
        mood_mean_30=mean_30,
        mood_trend_14=pl.when(slope_den > 0).then(slope).otherwise(0.0),
        mood_volatility_14=pl.when(c("score_n_14") > 0)
        .then(variance.clip(lower_bound=0.0).sqrt())  # population std: one score is 0
        .otherwise(0.0),
        mood_last=c("score_last").fill_null(NEUTRAL_MOOD),
        mood_days_missing_14=14 - c("scored_days_14"),
        activity_7=per_day_7,
        activity_vs_baseline=vs_baseline,
        engagement_drop=(1.0 - vs_baseline).clip(lower_bound=0.0),
        late_night_share_14=_ratio(c("late_14"), c("n_14"), 0.0),
        days_since_last_activity=since.clip(upper_bound=DAYS_SINCE_CAP),
        journal_entries_14=c("journal_14"),
        sentiment_mean_14=_ratio(c("text_sum_14"), c("text_n_14"), NEUTRAL_SENTIMENT),
        sentiment_min_14=c("text_min_14").fill_null(NEUTRAL_SENTIMENT),
        negative_share_14=_ratio(c("negative_14"), c("text_n_14"), 0.0),
        crisis_hits_14=c("crisis_14"),
        mood_missing=c("score_n_30") == 0,
        activity_missing=c("n_base") == 0,
        sentiment_missing=c("text_n_14") == 0,
    ).with_columns(pl.col(*FEATURES, *MISSING).cast(pl.Float64))
    present = 3.0 - sum((c(name) for name in MISSING), pl.lit(0.0))
    return features.with_columns(coverage=present / 3.0)


def compute(events: pl.DataFrame, days: list[date], built_at: datetime) -> pa.Table:
    """The features table for `days` from annotated events (sources.parse, then
    sentiment.annotate); events on or after a day never reach that day's row."""
    if events.is_empty() or not days:
        return empty_features()
    # Group by a small integer per user, not by two long strings: several times faster.
    users = events.select("user_id", "subject_key").unique("user_id").with_row_index("user")
    coded = events.join(users.select("user_id", "user"), on="user_id").drop("user_id")
    rows = _features(_windows(_daily(coded), days))
    if rows.is_empty():
        return empty_features()
    out = rows.join(users, on="user").select(
        *KEYS,
        *FEATURES,
        *MISSING,
        "coverage",
        feature_set=pl.lit(FEATURE_SET_VERSION),
        built_at=pl.lit(built_at, pl.Datetime("us", "UTC")),
    )
    return out.sort("day", "user_id").to_arrow().cast(FEATURES_SCHEMA)
