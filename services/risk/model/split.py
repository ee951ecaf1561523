"""The time-based split: train on older days, calibrate on the next slice, hold out the newest.

A row's label looks `horizon` days ahead, so the last `horizon` days before each boundary are
purged: no training label is decided by an outcome inside the calibration or held-out window,
and no calibration label by one inside the held-out window.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

CALIBRATION_SHARE = 0.25  # of the days before the held-out window (after purging)
MIN_CALIBRATION_DAYS = 7


class SplitError(ValueError):
    """Too few days for a split; the message has counts only."""


@dataclass(frozen=True)
class Split:
    train: np.ndarray  # row masks
    calibrate: np.ndarray
    holdout: np.ndarray
    train_days: tuple[date, date]  # first and last day of each part (inclusive)
    calibrate_days: tuple[date, date]
    holdout_days: tuple[date, date]

    def summary(self, labels: np.ndarray) -> dict[str, dict[str, object]]:
        parts = {"train": self.train, "calibrate": self.calibrate, "holdout": self.holdout}
        days = {
            "train": self.train_days,
            "calibrate": self.calibrate_days,
            "holdout": self.holdout_days,
        }
        return {
            name: {
                "first_day": days[name][0].isoformat(),
                "last_day": days[name][1].isoformat(),
                "rows": int(mask.sum()),
                "positives": int(labels[mask].sum()),
            }
            for name, mask in parts.items()
        }


def time_split(days: np.ndarray, *, holdout_days: int, horizon: int) -> Split:
    """Masks over rows whose `days` are dates (numpy datetime64[D] or date objects)."""
    day = np.asarray(days, dtype="datetime64[D]")
    last = day.max()
    holdout_start = last - np.timedelta64(holdout_days - 1, "D")
    calibrate_end = holdout_start - np.timedelta64(horizon, "D")  # exclusive
    first = day.min()
    span = int((calibrate_end - first).astype(int)) - horizon
    calibrate_len = max(MIN_CALIBRATION_DAYS, round(span * CALIBRATION_SHARE))
    calibrate_start = calibrate_end - np.timedelta64(calibrate_len, "D")
    train_end = calibrate_start - np.timedelta64(horizon, "D")  # exclusive
    if train_end - first < np.timedelta64(MIN_CALIBRATION_DAYS, "D"):
        total = int((last - first).astype(int)) + 1
        need = holdout_days + 2 * horizon + MIN_CALIBRATION_DAYS * 2
        raise SplitError(f"{total} days of features; a split needs at least {need}")
    masks = (
        day < train_end,
        (day >= calibrate_start) & (day < calibrate_end),
        day >= holdout_start,
    )
    one = np.timedelta64(1, "D")

    def span_of(a: np.datetime64, b: np.datetime64) -> tuple[date, date]:
        return (a.astype(object), b.astype(object))

    return Split(
        train=masks[0],
        calibrate=masks[1],
        holdout=masks[2],
        train_days=span_of(first, train_end - one),
        calibrate_days=span_of(calibrate_start, calibrate_end - one),
        holdout_days=span_of(holdout_start, last),
    )
