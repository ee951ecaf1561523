"""User features, item features and each user's recent sequence (Team Eta's feature job),
as pure functions of the (already consent-filtered) interactions. Rows sorted by key, so the
same input gives the same files."""

from __future__ import annotations

import polars as pl


def user_features(interactions: pl.DataFrame) -> pl.DataFrame:
    """Per user: total interactions, unique items, average rating (null: never rated), last
    interaction."""
    return (
        interactions.group_by("user_id")
        .agg(
            pl.col("subject_key").first(),
            pl.len().cast(pl.Int64).alias("total_interactions"),
            pl.col("item_id").n_unique().cast(pl.Int64).alias("unique_items"),
            pl.col("rating").mean().alias("avg_rating"),
            pl.col("event_time").max().alias("last_interaction"),
        )
        .sort("user_id")
    )


def item_features(interactions: pl.DataFrame, items: pl.DataFrame) -> pl.DataFrame:
    """Per interacted item: popularity (interactions), unique users, average rating, and its
    catalogue category when the catalogue has it."""
    features = interactions.group_by("item_id").agg(
        pl.len().cast(pl.Int64).alias("popularity"),
        pl.col("user_id").n_unique().cast(pl.Int64).alias("unique_users"),
        pl.col("rating").mean().alias("avg_rating"),
    )
    if items.is_empty():
        features = features.with_columns(pl.lit(None, pl.String).alias("category"))
    else:
        catalogue = items.select("item_id", "category").unique("item_id", keep="first")
        features = features.join(catalogue, on="item_id", how="left")
    return features.select("item_id", "category", "popularity", "unique_users", "avg_rating").sort(
        "item_id"
    )


def user_sequences(interactions: pl.DataFrame, length: int) -> pl.DataFrame:
    """Each user's last `length` interactions, oldest first (ties broken by row key)."""
    return (
        interactions.sort("user_id", "event_time", "row_key")
        .group_by("user_id", maintain_order=True)
        .agg(
            pl.col("subject_key").first(),
            pl.col("item_id").tail(length).alias("item_ids"),
            pl.col("interaction_type").tail(length).alias("interaction_types"),
            pl.col("event_time").tail(length).alias("event_times"),
            pl.col("rating").tail(length).alias("ratings"),
        )
        .with_columns(pl.col("item_ids").list.len().cast(pl.Int64).alias("length"))
    )
