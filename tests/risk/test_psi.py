"""The population stability index: near 0 for the same distribution, above the alert level for
a shifted one, finite with empty bins and a constant reference."""

from __future__ import annotations

import numpy as np
import pytest

from services.risk.monitoring.drift import judged
from services.risk.monitoring.psi import psi


def test_the_same_distribution_is_stable_and_a_shift_is_not() -> None:
    rng = np.random.default_rng(7)
    reference = rng.normal(5, 1, 5000)
    assert psi(reference, rng.normal(5, 1, 5000)) < 0.02
    assert psi(reference, rng.normal(6.5, 1, 5000)) > 0.25


def test_empty_bins_and_a_constant_reference_stay_finite() -> None:
    assert psi(np.zeros(100), np.zeros(100)) == pytest.approx(0, abs=1e-9)
    moved = psi(np.zeros(100), np.ones(100))
    assert np.isfinite(moved) and moved > 1
    assert np.isfinite(psi(np.arange(100.0), np.full(100, 1000.0)))
    with pytest.raises(ValueError, match="need values"):
        psi(np.array([]), np.ones(3))


def test_small_windows_are_not_judged() -> None:
    rng = np.random.default_rng(1)
    assert judged(rng.normal(0, 1, 50), rng.normal(3, 1, 50), minimum=200) is None
    value = judged(rng.normal(0, 1, 300), rng.normal(3, 1, 300), minimum=200)
    assert value is not None and value > 0.25
