"""The power planner against a simulation of the gate it describes (SPA/StepM over correlated candidates)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from quant_organism.validation.power import detectable_sharpe, effective_number, plan
from quant_organism.validation.superiority import superiority_test


def _correlated(rng: np.random.Generator, days: int, k: int, rho: float) -> np.ndarray:
    common = rng.standard_normal((days, 1))
    return math.sqrt(rho) * common + math.sqrt(1.0 - rho) * rng.standard_normal((days, k))


def test_the_effective_number_counts_correlated_candidates_as_fewer() -> None:
    rng = np.random.default_rng(0)
    assert effective_number(rng.standard_normal((3000, 6))) == pytest.approx(6.0, abs=0.5)
    assert effective_number(_correlated(rng, 3000, 6, 0.8)) < 3.5
    same = rng.standard_normal((500, 1))
    assert effective_number(np.hstack([same, same, same])) == pytest.approx(1.0, abs=0.01)


def test_more_evidence_and_fewer_candidates_see_smaller_edges() -> None:
    assert detectable_sharpe(5.0, 3, 0.015, 0.5) < detectable_sharpe(0.9, 3, 0.015, 0.5)
    assert detectable_sharpe(0.9, 3, 0.025, 0.5) < detectable_sharpe(0.9, 50, 0.025, 0.5)
    assert 3.2 < detectable_sharpe(0.9, 50, 0.025, 0.5) < 3.6  # 324 held-out days, 50 candidates: S >~ 3.3
    assert detectable_sharpe(2.0, 4, 0.02, 0.8) > detectable_sharpe(2.0, 4, 0.02, 0.5)


@pytest.mark.parametrize("target", [0.5, 0.8])
def test_the_planner_matches_a_simulation_of_the_gate(target: float) -> None:
    """Four candidates (correlation 0.5), one with the planner's detectable Sharpe at `target` power: the gate
    itself (SPA/StepM at 2%, stationary bootstrap) names it about that often. 120 simulations give a standard
    error of about 4.5 points; the planner is a normal approximation, so 12 points are allowed."""
    rng = np.random.default_rng(int(target * 100))
    days, k, alpha, rho = 730, 4, 0.02, 0.5
    layout = plan(_correlated(np.random.default_rng(1), days, k, rho), alpha)
    sharpe = layout.at_50 if target == 0.5 else layout.at_80
    daily_vol = 0.02
    hits = 0
    for run in range(120):
        returns = _correlated(rng, days, k, rho) * daily_vol
        returns[:, 0] += sharpe / math.sqrt(365.0) * daily_vol
        test = superiority_test(returns, alpha=alpha, reps=200, seed=run, block_size=1)
        hits += 0 in [int(name) for name in test.superior]
    assert hits / 120 == pytest.approx(target, abs=0.12), (hits, layout)
