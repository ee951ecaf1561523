"""The feature table and labels of a SYNTHETIC cohort, computed straight from its simulated
events (no lake, no database): for unit tests and the bench.

The definitions follow columns.py (windows before the day, missingness indicators); sentiment
is each text's known tone instead of VADER. Rows are (day, user) for users with an event in
the 35 days before the day, only for days whose label horizon lies inside the cohort.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from libs.common.settings import CommonSettings
from libs.common.subjects import subject_key
from services.risk.features.columns import FEATURE_SET_VERSION, MISSING, MODEL_INPUTS
from services.risk.model.cohort import BOT, CLINICAL, JOURNAL, OUTCOMES, Simulation

LOOKBACK = 35  # a row needs an event in this many days before its day
MOOD_IMPUTED = 5.5  # the 1-10 scale's middle, when a user has no score at all
NEGATIVE = -0.05  # VADER's usual cut for a negative text


@dataclass(frozen=True)
class Grids:
    """Per user (rows) and day (columns): counts and sums of the events of that day."""

    events: np.ndarray
    n_score: np.ndarray
    s_score: np.ndarray
    q_score: np.ndarray
    n_late: np.ndarray
    n_journal: np.ndarray
    n_text: np.ndarray
    s_tone: np.ndarray
    n_negative: np.ndarray
    n_crisis: np.ndarray
    min_tone: np.ndarray


def _window(daily: np.ndarray, d: int, width: int) -> np.ndarray:
    """Per user, the sum over days [d - width, d)."""
    result: np.ndarray = daily[:, max(0, d - width) : d].sum(axis=1)
    return result


def _daily(sim: Simulation, mask: np.ndarray, values: np.ndarray | None = None) -> np.ndarray:
    grid = np.zeros((sim.spec.users, sim.spec.days))
    np.add.at(grid, (sim.user[mask], sim.day[mask]), 1.0 if values is None else values[mask])
    return grid


def outcome_days(sim: Simulation) -> list[np.ndarray]:
    """Per user, the days of their outcomes (the labels' sources, as labels.py reads them)."""
    crisis_text = np.array([t[2] for t in sim.texts] + [False])  # index -1: no text
    positive_clinical = (sim.kind == CLINICAL) & (
        (sim.outcome != OUTCOMES.index("phq9")) | (sim.phq9 >= 15)
    )
    crisis_turn = (sim.kind == BOT) & crisis_text[sim.text]
    hit = positive_clinical | crisis_turn
    return [np.unique(sim.day[hit & (sim.user == u)]) for u in range(sim.spec.users)]


def features_and_labels(
    sim: Simulation, horizon: int, settings: CommonSettings | None = None
) -> tuple[pa.Table, np.ndarray]:
    """The feature table (day, subject_key, user_id, MODEL_INPUTS, coverage, feature_set) and a
    0/1 label per row: an outcome in [day, day + horizon)."""
    users, days = sim.spec.users, sim.spec.days
    activity = sim.kind != CLINICAL
    has_score = ~np.isnan(sim.score)
    texts = sim.text >= 0
    tone = np.array([t[1] for t in sim.texts] + [0.0])[sim.text]
    crisis = np.array([t[2] for t in sim.texts] + [False])[sim.text]
    late = sim.second < 5 * 3600

    min_tone = np.full((users, days), np.inf)
    np.minimum.at(min_tone, (sim.user[texts], sim.day[texts]), tone[texts])
    score = np.nan_to_num(sim.score)
    grids = Grids(
        events=_daily(sim, activity),
        n_score=_daily(sim, has_score),
        s_score=_daily(sim, has_score, score),
        q_score=_daily(sim, has_score, score**2),
        n_late=_daily(sim, activity & late),
        n_journal=_daily(sim, sim.kind == JOURNAL),
        n_text=_daily(sim, texts),
        s_tone=_daily(sim, texts, tone),
        n_negative=_daily(sim, texts & (tone <= NEGATIVE)),
        n_crisis=_daily(sim, texts & crisis),
        min_tone=min_tone,
    )
    outcomes = outcome_days(sim)

    columns: dict[str, list[np.ndarray]] = {name: [] for name in MODEL_INPUTS}
    keys: list[tuple[int, int]] = []
    labels: list[np.ndarray] = []
    for d in range(LOOKBACK, days - horizon + 1):
        present = _window(grids.events, d, LOOKBACK) > 0
        if not present.any():
            continue
        row = _mood(d, grids) | _behaviour(d, grids) | _sentiment(d, grids)
        for name in MODEL_INPUTS:
            columns[name].append(row[name][present])
        idx = np.flatnonzero(present)
        keys += [(d, int(u)) for u in idx]
        labels.append(
            np.array([((outcomes[u] >= d) & (outcomes[u] < d + horizon)).any() for u in idx])
        )
    return _table(sim, columns, keys, settings), np.concatenate(labels).astype(np.int8)


def _mood(d: int, g: Grids) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    n30 = _window(g.n_score, d, 30)
    mean30 = np.where(n30 > 0, _window(g.s_score, d, 30) / np.maximum(n30, 1), MOOD_IMPUTED)
    for w in (7, 14, 30):
        n = _window(g.n_score, d, w)
        mean = _window(g.s_score, d, w) / np.maximum(n, 1)
        out[f"mood_mean_{w}"] = np.where(n > 0, mean, mean30)
    n14 = _window(g.n_score, d, 14)
    mean14 = _window(g.s_score, d, 14) / np.maximum(n14, 1)
    var14 = _window(g.q_score, d, 14) / np.maximum(n14, 1) - mean14**2
    out["mood_volatility_14"] = np.where(n14 >= 2, np.sqrt(np.maximum(var14, 0)), 0.0)
    day_mean = np.divide(
        g.s_score, g.n_score, out=np.full_like(g.s_score, np.nan), where=g.n_score > 0
    )
    out["mood_trend_14"] = _slopes(day_mean[:, max(0, d - 14) : d])
    last = day_mean[:, max(0, d - 35) : d]
    seen = ~np.isnan(last)
    latest = last[np.arange(len(last)), seen.shape[1] - 1 - np.argmax(seen[:, ::-1], axis=1)]
    out["mood_last"] = np.where(seen.any(axis=1), latest, mean30)
    out["mood_days_missing_14"] = 14 - (g.n_score[:, max(0, d - 14) : d] > 0).sum(axis=1)
    out["mood_missing"] = (n30 == 0).astype(float)
    return out


def _behaviour(d: int, g: Grids) -> dict[str, np.ndarray]:
    a7 = _window(g.events, d, 7) / 7
    base = (_window(g.events, d, 35) - _window(g.events, d, 7)) / 28
    ratio = np.where(base > 0, a7 / np.where(base > 0, base, 1), 1.0)
    e14 = _window(g.events, d, 14)
    seen = g.events[:, max(0, d - 60) : d] > 0
    since = np.where(seen.any(axis=1), np.argmax(seen[:, ::-1], axis=1) + 1, 60)
    return {
        "activity_7": a7,
        "activity_vs_baseline": ratio,
        "engagement_drop": np.maximum(0, 1 - ratio),
        "late_night_share_14": _window(g.n_late, d, 14) / np.maximum(e14, 1),
        "days_since_last_activity": np.minimum(since, 60).astype(float),
        "journal_entries_14": _window(g.n_journal, d, 14),
        "activity_missing": (e14 == 0).astype(float),
    }


def _sentiment(d: int, g: Grids) -> dict[str, np.ndarray]:
    n = _window(g.n_text, d, 14)
    low = g.min_tone[:, max(0, d - 14) : d].min(axis=1)
    return {
        "sentiment_mean_14": np.where(n > 0, _window(g.s_tone, d, 14) / np.maximum(n, 1), 0.0),
        "sentiment_min_14": np.where(n > 0, low, 0.0),
        "negative_share_14": _window(g.n_negative, d, 14) / np.maximum(n, 1),
        "crisis_hits_14": _window(g.n_crisis, d, 14),
        "sentiment_missing": (n == 0).astype(float),
    }


def _slopes(daily_means: np.ndarray) -> np.ndarray:
    """Per row, the least-squares slope (per day) over the days that have a mean score; 0 with
    fewer than 2 such days."""
    seen = ~np.isnan(daily_means)
    x = np.where(seen, np.arange(daily_means.shape[1], dtype=float), 0.0)
    y = np.where(seen, daily_means, 0.0)
    n = seen.sum(axis=1)
    sx, sy = x.sum(axis=1), y.sum(axis=1)
    denominator = n * (x * x).sum(axis=1) - sx * sx
    slope = (n * (x * y).sum(axis=1) - sx * sy) / np.where(denominator > 0, denominator, 1)
    result: np.ndarray = np.where((n >= 2) & (denominator > 0), slope, 0.0)
    return result


def _table(
    sim: Simulation,
    columns: dict[str, list[np.ndarray]],
    keys: list[tuple[int, int]],
    settings: CommonSettings | None,
) -> pa.Table:
    start = sim.spec.start
    ids = [sim.user_id(u) for _, u in keys]
    # A keyed hash as the real pipeline writes it, when settings are given; else the id itself.
    subjects = {u: subject_key(u, settings) if settings else u for u in set(ids)}
    data: dict[str, object] = {
        "day": pa.array([start + np.timedelta64(d, "D").item() for d, _ in keys], pa.date32()),
        "subject_key": [subjects[u] for u in ids],
        "user_id": ids,
    }
    values = {name: np.concatenate(columns[name]).astype(np.float64) for name in MODEL_INPUTS}
    missing = np.stack([values[m] for m in MISSING])
    data |= values
    data["coverage"] = 1 - missing.mean(axis=0)
    data["feature_set"] = [FEATURE_SET_VERSION] * len(keys)
    return pa.table(data)
