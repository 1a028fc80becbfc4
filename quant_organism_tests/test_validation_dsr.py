"""The deflated and probabilistic Sharpe ratios: the paper's worked example, and the statistics behind them."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from quant_organism.validation import ReturnMoments, deflated_sharpe_ratio, expected_max_sharpe, probabilistic_sharpe_ratio


def test_paper_numerical_example():
    """Bailey & López de Prado (2014), the numerical example of "The Deflated Sharpe Ratio".

    What the paper states: N = 100 independent trials whose annualised Sharpe ratios have variance
    V = 1/2; the selected strategy's annualised SR is 2.5, estimated on T = 1250 daily observations
    (five years) with skewness -3 and (non-excess) kurtosis 10. It reports SR0 ≈ 0.1132 in daily,
    i.e. per-observation, units and DSR ≈ 0.9004, i.e. the strategy is NOT significant at 95%.

    What this test verifies by computing it: converting to per-observation units with 250 days a
    year (SR = 2.5/sqrt(250) = 0.1581, V = 0.5/250) gives SR0 = 0.11317 per day (1.789 annualised,
    i.e. ×sqrt(250); the brief's "≈ 1.7 annualised" is that figure loosely rounded: 0.1132 × 15.81
    is 1.79) and DSR = 0.90040, both matching the paper's figures to the digits it prints.
    """
    days = 250
    sr0 = expected_max_sharpe(100, 0.5 / days)
    assert sr0 == pytest.approx(0.1132, abs=5e-5)
    assert sr0 * math.sqrt(days) == pytest.approx(1.789, abs=1e-3)
    dsr = deflated_sharpe_ratio(2.5 / math.sqrt(days), 100, 0.5 / days, -3.0, 10.0, 1250)
    assert dsr == pytest.approx(0.9004, abs=5e-5)
    # the same SR with normal returns would be judged more favourably: non-normality costs confidence
    assert deflated_sharpe_ratio(2.5 / math.sqrt(days), 100, 0.5 / days, 0.0, 3.0, 1250) > dsr


def test_expected_max_sharpe_matches_simulated_best_of_null_trials():
    """SR0 is the expected best Sharpe ratio of N skill-less trials (the "false strategy theorem")."""
    rng = np.random.default_rng(7)
    n_trials, t, reps = 100, 400, 200
    best, selected_dsr = [], []
    for _ in range(reps):
        returns = rng.standard_normal((t, n_trials)) * 0.01
        sharpes = returns.mean(axis=0) / returns.std(axis=0, ddof=1)
        k = int(np.argmax(sharpes))
        m = ReturnMoments.of(returns[:, k])
        best.append(sharpes[k])
        selected_dsr.append(deflated_sharpe_ratio(m.sharpe, n_trials, float(sharpes.var(ddof=1)), m.skew, m.kurtosis, t))
    predicted = expected_max_sharpe(n_trials, 1.0 / t)  # null SR estimates have variance ~1/T
    assert np.mean(best) == pytest.approx(predicted, rel=0.05)
    # selecting the best of 100 noise strategies almost never survives the deflation at 95%
    assert np.mean(np.array(selected_dsr) >= 0.95) < 0.05
    # ...while the undeflated PSR against zero would have called most of them skilful
    psr = [probabilistic_sharpe_ratio(s, 0.0, 0.0, 3.0, t) for s in best]
    assert np.mean(np.array(psr) >= 0.95) > 0.9


def test_psr_is_calibrated_under_the_null():
    """With a true Sharpe of zero, PSR(0) >= 0.95 should happen about 5% of the time."""
    rng = np.random.default_rng(11)
    returns = rng.standard_normal((250, 4000))
    sharpes = returns.mean(axis=0) / returns.std(axis=0, ddof=1)
    psr = np.array([probabilistic_sharpe_ratio(s, 0.0, 0.0, 3.0, 250) for s in sharpes])
    assert np.mean(psr >= 0.95) == pytest.approx(0.05, abs=0.015)


def test_non_normality_correction_matches_the_sharpe_estimator_spread():
    """The PSR denominator is the variance of the SR estimate for skewed, fat-tailed returns:
    Var(SR_hat) ≈ (1 - skew·SR + (kurt - 1)/4·SR²) / (T - 1). Returns 1.3 - Exp(1): SR 0.3,
    skew -2, kurtosis 9, so negative skew must widen the spread well beyond the normal case."""
    rng = np.random.default_rng(3)
    t, reps = 500, 4000
    returns = 1.3 - rng.exponential(1.0, size=(t, reps))
    sharpes = returns.mean(axis=0) / returns.std(axis=0, ddof=1)
    sr, skew, kurt = 0.3, -2.0, 9.0
    expected = (1 - skew * sr + (kurt - 1) / 4 * sr**2) / (t - 1)
    assert sharpes.var() == pytest.approx(expected, rel=0.08)
    assert sharpes.var() > 1.5 * (1 + sr**2 / 2) / (t - 1)  # the normal-returns formula is far off


def test_psr_and_dsr_respond_to_evidence():
    base = dict(skew=0.0, kurtosis=3.0)
    assert probabilistic_sharpe_ratio(0.1, 0.1, n_observations=500, **base) == pytest.approx(0.5)
    assert probabilistic_sharpe_ratio(0.1, 0.0, n_observations=1000, **base) > probabilistic_sharpe_ratio(
        0.1, 0.0, n_observations=100, **base
    )
    # more trials (more selection) and more dispersed trials both deflate harder
    args = dict(skew=-0.5, kurtosis=5.0, n_observations=1000)
    assert deflated_sharpe_ratio(0.1, 1000, 0.001, **args) < deflated_sharpe_ratio(0.1, 10, 0.001, **args)
    assert deflated_sharpe_ratio(0.1, 100, 0.004, **args) < deflated_sharpe_ratio(0.1, 100, 0.001, **args)
    # one trial: no selection, the DSR is the PSR against zero
    assert expected_max_sharpe(1, 0.5) == 0.0
    assert deflated_sharpe_ratio(0.05, 1, 0.5, **args) == probabilistic_sharpe_ratio(0.05, 0.0, **args)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(n_trials=0), "n_trials"),
        (dict(n_trials=2.5), "n_trials"),
        (dict(sharpe_variance=-1.0), "sharpe_variance"),
        (dict(kurtosis=0.5), "non-excess kurtosis"),
        (dict(skew=3.0, kurtosis=5.0), "1 \\+ skew"),
        (dict(n_observations=1), "n_observations"),
        (dict(sharpe=float("nan")), "sharpe must be finite"),
    ],
)
def test_bad_inputs_are_refused_with_a_reason(kwargs, message):
    args = dict(sharpe=0.1, n_trials=10, sharpe_variance=0.01, skew=0.0, kurtosis=3.0, n_observations=100)
    with pytest.raises(ValueError, match=message):
        deflated_sharpe_ratio(**{**args, **kwargs})


def test_return_moments_and_trial_stats():
    rng = np.random.default_rng(5)
    returns = rng.standard_t(4, size=2000) * 0.01 + 0.001
    m = ReturnMoments.of(np.r_[returns, np.nan])  # NaN is dropped
    assert m.n_observations == 2000
    assert m.sharpe == pytest.approx(returns.mean() / returns.std(ddof=1))
    assert m.skew == pytest.approx(stats.skew(returns))
    assert m.kurtosis == pytest.approx(stats.kurtosis(returns, fisher=False))
    assert ReturnMoments.of(np.zeros(50)) is None  # a flat account has no Sharpe ratio
