"""Probability of Backtest Overfitting (CSCV): calibration on noise, a real edge, and a naive cross-check."""

from __future__ import annotations

import json
from itertools import combinations

import numpy as np
import pytest
from scipy.stats import rankdata

from quant_organism.validation.overfitting import PBOResult, probability_of_backtest_overfitting


def _noise(seed: int, periods: int = 1600, strategies: int = 50) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0, 0.01, size=(periods, strategies))


def _naive_logits(returns: np.ndarray, n_blocks: int) -> np.ndarray:
    """CSCV written as the paper describes it: one loop per split, Sharpe from np.std, scipy ranks."""
    periods, strategies = returns.shape
    block_len = periods // n_blocks
    returns = returns[periods - block_len * n_blocks :]
    blocks = np.split(returns, n_blocks)
    logits = []
    for chosen in combinations(range(n_blocks), n_blocks // 2):
        in_sample = np.vstack([blocks[i] for i in chosen])
        out_of_sample = np.vstack([blocks[i] for i in range(n_blocks) if i not in chosen])
        is_sharpe = in_sample.mean(axis=0) / in_sample.std(axis=0, ddof=1)
        oos_sharpe = out_of_sample.mean(axis=0) / out_of_sample.std(axis=0, ddof=1)
        best = int(np.argmax(is_sharpe))
        omega = rankdata(oos_sharpe, method="average")[best] / (strategies + 1)
        logits.append(np.log(omega / (1.0 - omega)))
    return np.array(logits)


def test_pure_noise_gives_pbo_near_one_half():
    """Skill-less strategies: the IS winner's OOS rank is uniform, so PBO ≈ 0.5.

    One data set's PBO varies a lot (the 12,870 splits share their data), hence the average over seeds.
    """
    pbos = [probability_of_backtest_overfitting(_noise(seed)).pbo for seed in range(4)]
    assert 0.35 <= float(np.mean(pbos)) <= 0.65, pbos


def test_one_strategy_with_a_real_edge_gives_pbo_near_zero():
    returns = _noise(7)
    returns[:, 13] += 0.004  # per-period Sharpe 0.4: the IS winner nearly every split, top OOS too
    result = probability_of_backtest_overfitting(returns)
    assert result.pbo < 0.1
    assert result.n_combinations == 12_870
    assert result.to_dict()["median_logit"] > 2.0


def test_vectorised_matches_a_naive_loop_exactly():
    returns = np.random.default_rng(3).normal(0.0005, 0.01, size=(203, 9))  # 203 rows: 3 are dropped
    result = probability_of_backtest_overfitting(returns, n_blocks=4)
    expected = _naive_logits(returns, n_blocks=4)
    assert result.n_combinations == 6
    assert result.rows_used == 200
    np.testing.assert_array_equal(result.logits, expected)
    assert result.pbo == float(np.mean(expected <= 0.0))


def test_remainder_rows_are_dropped_from_the_start():
    returns = _noise(11, periods=1603, strategies=10)
    assert probability_of_backtest_overfitting(returns).rows_used == 1600
    np.testing.assert_array_equal(
        probability_of_backtest_overfitting(returns).logits, probability_of_backtest_overfitting(returns[3:]).logits
    )


def test_deterministic_and_seeded_subsampling():
    returns = _noise(5, periods=800, strategies=20)
    first, second = probability_of_backtest_overfitting(returns), probability_of_backtest_overfitting(returns)
    np.testing.assert_array_equal(first.logits, second.logits)
    assert first == second

    sampled = probability_of_backtest_overfitting(returns, max_combinations=300, seed=1)
    again = probability_of_backtest_overfitting(returns, max_combinations=300, seed=1)
    other_seed = probability_of_backtest_overfitting(returns, max_combinations=300, seed=2)
    assert sampled.n_combinations == 300
    np.testing.assert_array_equal(sampled.logits, again.logits)
    assert not np.array_equal(sampled.logits, other_seed.logits)


def test_flat_columns_and_custom_metric_are_safe():
    returns = _noise(9, periods=400, strategies=6)
    returns[:, 0] = 0.0  # never traded
    returns[:, 1] = 0.001  # constant: zero variance, scored 0 rather than +inf
    result = probability_of_backtest_overfitting(returns, n_blocks=8)
    assert np.all(np.isfinite(result.logits))
    summary = result.to_dict()
    json.dumps(summary)  # JSON-safe
    assert set(summary) >= {"pbo", "n_combinations", "n_blocks", "n_strategies", "median_logit"}

    by_callable = probability_of_backtest_overfitting(returns, n_blocks=4, metric=lambda rows: rows.mean(axis=0))
    by_builtin = probability_of_backtest_overfitting(returns, n_blocks=4, metric="mean")
    np.testing.assert_array_equal(by_callable.logits, by_builtin.logits)
    assert isinstance(by_builtin, PBOResult)


@pytest.mark.parametrize(
    ("returns", "kwargs", "message"),
    [
        (np.zeros((100, 1)), {}, "at least 2 strategies"),
        (np.zeros((10, 3)), {}, "at least n_blocks"),
        (np.zeros((100, 3)), {"n_blocks": 5}, "even integer"),
        (np.zeros(100), {}, "2-D"),
        (np.where(np.eye(100, 3) > 0, np.nan, 0.0), {}, "NaN"),
        (np.zeros((100, 3)), {"metric": "sortino"}, "metric"),
    ],
)
def test_bad_input_raises(returns, kwargs, message):
    with pytest.raises(ValueError, match=message):
        probability_of_backtest_overfitting(returns, **kwargs)
