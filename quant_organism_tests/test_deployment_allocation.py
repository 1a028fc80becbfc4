"""Fractional Kelly sizing: safety factor, floor at zero, per-strategy cap, hard cap, sum <= 1, NaN safety."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from quant_organism.deployment.allocation import HARD_CAP, AllocationConfig, allocate, allocate_from_kelly, kelly_fractions


def exact_series(mean: float, std: float, n: int = 400, seed: int = 0) -> np.ndarray:
    """Noise rescaled so its sample mean and sample std (ddof=1) are exactly `mean` and `std`."""
    z = np.random.default_rng(seed).normal(size=n)
    z = (z - z.mean()) / z.std(ddof=1)
    return mean + std * z


def test_kelly_is_mean_over_variance_and_scales_inversely_with_leverage() -> None:
    frame = pd.DataFrame({"a": exact_series(2e-4, 0.02), "b": 2 * exact_series(2e-4, 0.02)})
    kelly = kelly_fractions(frame)
    assert kelly["a"] == pytest.approx(2e-4 / 0.02**2, rel=1e-9)  # 0.5
    # the same stream at twice the leverage deserves half the capital (mean x2, variance x4)
    assert kelly["b"] == pytest.approx(kelly["a"] / 2, rel=1e-9)


def test_safety_factor_scales_uncapped_weights_linearly() -> None:
    frame = pd.DataFrame({"a": exact_series(2e-4, 0.02, seed=1), "b": exact_series(1e-4, 0.02, seed=2)})
    quarter = allocate(frame, AllocationConfig(kelly_fraction=0.25))
    half = allocate(frame, AllocationConfig(kelly_fraction=0.5))
    assert quarter.weights["a"] == pytest.approx(0.25 * 0.5, rel=1e-9)  # below the 0.25 cap: not clipped
    assert half.weights["a"] == pytest.approx(2 * quarter.weights["a"], rel=1e-9)
    assert half.weights["b"] == pytest.approx(2 * quarter.weights["b"], rel=1e-9)
    assert quarter.kelly_raw == pytest.approx(half.kelly_raw)  # the raw figure ignores the safety factor
    assert quarter.cash == pytest.approx(1.0 - quarter.total)


def test_negative_or_undefined_edge_gets_nothing() -> None:
    frame = pd.DataFrame(
        {
            "losing": exact_series(-3e-4, 0.01),
            "flat": np.zeros(400),  # never trades: zero variance, no measurable edge
            "one_bar": [0.01] + [np.nan] * 399,
            "good": exact_series(1e-4, 0.02, seed=3),
        }
    )
    result = allocate(frame)
    assert result.weights["losing"] == 0.0 and result.kelly_raw["losing"] < 0
    assert result.weights["flat"] == 0.0 and result.weights["one_bar"] == 0.0
    assert result.weights["good"] > 0.0


def test_per_strategy_cap_and_hard_cap() -> None:
    strong = pd.DataFrame({"s": exact_series(2e-3, 0.01)})  # f* = 20: quarter Kelly would be 5x the capital
    assert allocate(strong).weights["s"] == pytest.approx(0.25)
    assert allocate(strong, AllocationConfig(max_weight=0.1)).weights["s"] == pytest.approx(0.1)
    assert allocate(strong, AllocationConfig(max_weight=HARD_CAP)).weights["s"] == pytest.approx(0.40)
    with pytest.raises(ValueError, match="hard cap"):
        AllocationConfig(max_weight=0.41)
    with pytest.raises(ValueError, match="kelly_fraction"):
        AllocationConfig(kelly_fraction=0.0)
    with pytest.raises(ValueError, match="kelly_fraction"):
        AllocationConfig(kelly_fraction=float("nan"))


def test_sum_above_one_is_scaled_down_proportionally() -> None:
    raw = {f"s{i}": f for i, f in enumerate([10.0, 8.0, 6.0, 4.0, 0.6, 0.4])}  # four hit the cap
    result = allocate_from_kelly(raw, AllocationConfig(max_weight=0.4))
    capped = {"s0": 0.4, "s1": 0.4, "s2": 0.4, "s3": 0.4, "s4": 0.15, "s5": 0.1}
    total = sum(capped.values())  # 1.85
    assert result.scale == pytest.approx(1 / total)
    assert result.total <= 1.0 and result.total == pytest.approx(1.0)
    assert result.cash == pytest.approx(0.0, abs=1e-12)
    for name, weight in capped.items():
        assert result.weights[name] == pytest.approx(weight / total)
        assert result.weights[name] <= 0.4
    # below 1 nothing is scaled
    small = allocate_from_kelly({"a": 0.4, "b": 0.2})
    assert small.scale == 1.0 and small.weights == pytest.approx({"a": 0.1, "b": 0.05})
    assert small.cash == pytest.approx(0.85)


def test_nan_and_inf_are_ignored_per_column_and_results_are_deterministic() -> None:
    a, b = exact_series(2e-4, 0.02, seed=4), exact_series(1e-4, 0.02, seed=5)
    clean = allocate(pd.DataFrame({"a": a, "b": b}))
    holes = b.copy()
    holes[::7] = np.nan
    holes[3] = np.inf
    dirty = allocate(pd.DataFrame({"a": a, "b": holes}))
    assert dirty.weights["a"] == clean.weights["a"]  # a column's holes never leak into another's
    finite = holes[np.isfinite(holes)]
    assert dirty.kelly_raw["b"] == pytest.approx(finite.mean() / finite.var(ddof=1))
    assert all(math.isfinite(w) for w in dirty.weights.values())
    assert allocate(pd.DataFrame({"a": a, "b": holes})) == dirty


def test_bad_inputs_are_refused_clearly() -> None:
    with pytest.raises(TypeError, match="DataFrame"):
        allocate(np.zeros((3, 2)))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="duplicate"):
        allocate(pd.DataFrame(np.zeros((3, 2)), columns=["a", "a"]))
    with pytest.raises(ValueError, match="numeric"):
        allocate(pd.DataFrame({"a": ["x", "y", "z"]}))
