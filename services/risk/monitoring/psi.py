"""Population stability index between a reference and a current sample of one variable."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

BINS = 10
EPSILON = 1e-4  # an empty bin counts as this share, so the log stays finite


def psi(reference: npt.ArrayLike, current: npt.ArrayLike, bins: int = BINS) -> float:
    """Sum over bins of (cur - ref) * ln(cur / ref), bins at the reference's quantiles.

    Below 0.1 is usually read as stable, 0.1-0.25 as a moderate shift, above 0.25 as a
    significant one."""
    ref = np.asarray(reference, dtype=np.float64)
    cur = np.asarray(current, dtype=np.float64)
    if ref.size == 0 or cur.size == 0:
        raise ValueError("both samples need values")
    edges = np.unique(np.quantile(ref, np.linspace(0, 1, bins + 1)))
    if edges.size < 2:  # a constant reference: one bin for it, one for everything else
        ref_share = np.array([1.0, 0.0])
        cur_share = np.array([np.mean(cur == ref[0]), np.mean(cur != ref[0])])
    else:
        inner = edges[1:-1]
        ref_share = (
            np.bincount(np.searchsorted(inner, ref, side="right"), minlength=inner.size + 1)
            / ref.size
        )
        cur_share = (
            np.bincount(np.searchsorted(inner, cur, side="right"), minlength=inner.size + 1)
            / cur.size
        )
    ref_share = np.maximum(ref_share, EPSILON)
    cur_share = np.maximum(cur_share, EPSILON)
    return float(np.sum((cur_share - ref_share) * np.log(cur_share / ref_share)))
