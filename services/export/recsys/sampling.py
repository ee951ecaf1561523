"""Training samples: positives and seeded negative sampling (Team Eta's 1 positive : 4
negatives, negatives drawn from items the user never touched).

Each user's draw has its own random stream, seeded by (seed, hash of tenant and user): the
same seed and inputs give the same samples, whatever the order of users, and one user more
or less does not change anybody else's negatives.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import polars as pl


@dataclass(frozen=True)
class Samples:
    positives: pl.DataFrame  # user_id, subject_key, item_id, label=1
    negatives: pl.DataFrame  # user_id, subject_key, item_id, label=0
    shortfall: int  # negatives wanted but not available (user touched nearly every item)


def user_stream(seed: int, tenant: str, user_id: str) -> np.random.Generator:
    digest = hashlib.blake2b(f"{tenant}\x00{user_id}".encode(), digest_size=8).digest()
    return np.random.default_rng([seed, int.from_bytes(digest, "big")])


def draw_negatives(
    rng: np.random.Generator, n_items: int, touched: np.ndarray, wanted: int
) -> np.ndarray:
    """`wanted` distinct indices in [0, n_items) not in `touched` (fewer if there are not that
    many). Drawing `wanted + len(touched)` distinct indices always holds enough untouched ones,
    so there is no rejection loop."""
    wanted = min(wanted, n_items - len(touched))
    if wanted <= 0:
        return np.empty(0, dtype=np.int64)
    drawn = rng.choice(n_items, size=min(n_items, wanted + len(touched)), replace=False)
    return drawn[~np.isin(drawn, touched)][:wanted]


def positives(interactions: pl.DataFrame, positive_types: list[str]) -> pl.DataFrame:
    """One positive per (user, item) the user interacted with positively."""
    return (
        interactions.filter(pl.col("interaction_type").is_in(positive_types))
        .select("user_id", "subject_key", "item_id")
        .unique(["user_id", "item_id"], keep="first")
        .sort("user_id", "item_id")
        .with_columns(pl.lit(1, pl.Int8).alias("label"))
    )


def build_samples(
    interactions: pl.DataFrame,
    candidates: list[str],
    *,
    tenant: str,
    ratio: int,
    seed: int,
    positive_types: list[str],
) -> Samples:
    """Positives, and `ratio` negatives per positive from `candidates` (the item catalogue)
    minus every item the user touched in any way (a viewed or disliked item is no negative)."""
    pos = positives(interactions, positive_types)
    catalogue = pl.DataFrame({"item_id": sorted(set(candidates))}, schema={"item_id": pl.String})
    catalogue = catalogue.with_row_index("idx")
    touched = (
        interactions.select("user_id", "item_id")
        .unique()
        .join(catalogue, on="item_id", how="inner")
        .group_by("user_id")
        .agg(pl.col("idx"))
    )
    wanted = (
        pos.group_by("user_id")
        .agg(pl.col("subject_key").first(), pl.len().alias("n"))
        .join(touched, on="user_id", how="left")
        .sort("user_id")
    )
    names = catalogue["item_id"].to_numpy()
    users: list[str] = []
    subjects: list[str] = []
    items: list[np.ndarray] = []
    shortfall = 0
    for user_id, subject, n, idx in wanted.iter_rows():
        touched_idx = np.asarray(idx if idx is not None else [], dtype=np.int64)
        drawn = draw_negatives(
            user_stream(seed, tenant, user_id), len(names), touched_idx, ratio * n
        )
        shortfall += ratio * n - len(drawn)
        users += [user_id] * len(drawn)
        subjects += [subject] * len(drawn)
        items.append(names[np.sort(drawn)])
    neg = pl.DataFrame(
        {
            "user_id": users,
            "subject_key": subjects,
            "item_id": np.concatenate(items) if items else np.empty(0, dtype=object),
        },
        schema={"user_id": pl.String, "subject_key": pl.String, "item_id": pl.String},
    ).with_columns(pl.lit(0, pl.Int8).alias("label"))
    return Samples(positives=pos, negatives=neg, shortfall=shortfall)
