"""Overfitting guard: the probabilistic and the deflated Sharpe ratio (Bailey & López de Prado).

Evolution tries many genomes and keeps the best, so the best Sharpe ratio is inflated by selection
even when no genome has skill. The deflated Sharpe ratio (DSR) asks how likely the observed Sharpe
ratio is to exceed the Sharpe ratio the best of `n_trials` skill-less trials would reach by luck,
correcting for short samples and for non-normal (skewed, fat-tailed) returns:

    SR0 = sqrt(V) * ((1 - γ) Φ⁻¹(1 - 1/N) + γ Φ⁻¹(1 - 1/(N e)))        expected max of N null trials
    PSR(SR*) = Φ((SR - SR*) sqrt(T - 1) / sqrt(1 - γ3 SR + (γ4 - 1)/4 SR²))
    DSR = PSR(SR0)

References: Bailey & López de Prado, "The Sharpe Ratio Efficient Frontier" (2012, PSR) and "The
Deflated Sharpe Ratio: Correcting for Selection Bias, Backtest Overfitting and Non-Normality" (2014).

Units (important): every Sharpe ratio and the variance V are PER OBSERVATION (per bar), not
annualised; divide an annualised Sharpe by sqrt(bars per year) first. γ4 is the NON-excess kurtosis
(3 for a normal distribution). T is the number of return observations behind SR.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

from quant_organism.core import metrics

EULER_GAMMA = 0.5772156649015329
_MOMENT_TOL = 1e-9


def expected_max_sharpe(n_trials: int, sharpe_variance: float) -> float:
    """SR0: the Sharpe ratio the best of `n_trials` skill-less trials is expected to reach.

    `sharpe_variance` is the variance of the trials' per-observation Sharpe ratios. One trial means
    no selection, so SR0 = 0 (the DSR becomes the PSR against zero).
    """
    n = _check_trials(n_trials)
    if not math.isfinite(sharpe_variance) or sharpe_variance < 0:
        raise ValueError(f"sharpe_variance must be a finite number >= 0; got {sharpe_variance!r}")
    if n == 1:
        return 0.0
    z = (1.0 - EULER_GAMMA) * norm.ppf(1.0 - 1.0 / n) + EULER_GAMMA * norm.ppf(1.0 - 1.0 / (n * math.e))
    return float(math.sqrt(sharpe_variance) * z)


def probabilistic_sharpe_ratio(sharpe: float, benchmark: float, skew: float, kurtosis: float, n_observations: int) -> float:
    """PSR: probability that the true per-observation Sharpe ratio exceeds `benchmark`, given the
    observed `sharpe` over `n_observations` returns with that skew and (non-excess) kurtosis."""
    for name, value in (("sharpe", sharpe), ("benchmark", benchmark), ("skew", skew), ("kurtosis", kurtosis)):
        if not math.isfinite(value):
            raise ValueError(f"{name} must be finite; got {value!r}")
    if isinstance(n_observations, bool) or int(n_observations) != n_observations or n_observations < 2:
        raise ValueError(f"n_observations must be an integer >= 2; got {n_observations!r}")
    if kurtosis < 1.0 + skew * skew - _MOMENT_TOL:
        raise ValueError(
            f"kurtosis {kurtosis:g} is below 1 + skew² = {1 + skew * skew:g}: impossible for any distribution "
            "(pass the non-excess kurtosis, 3 for normal returns)"
        )
    variance = 1.0 - skew * sharpe + (kurtosis - 1.0) / 4.0 * sharpe * sharpe
    edge = (sharpe - benchmark) * math.sqrt(n_observations - 1)
    if variance <= 0.0:  # degenerate two-point returns: the Sharpe estimate has no spread
        return 1.0 if edge > 0 else 0.0 if edge < 0 else 0.5
    return float(norm.cdf(edge / math.sqrt(variance)))


def deflated_sharpe_ratio(
    sharpe: float,
    n_trials: int,
    sharpe_variance: float,
    skew: float,
    kurtosis: float,
    n_observations: int,
) -> float:
    """DSR: the PSR of the selected strategy against SR0, the expected best of `n_trials` null trials."""
    return probabilistic_sharpe_ratio(sharpe, expected_max_sharpe(n_trials, sharpe_variance), skew, kurtosis, n_observations)


@dataclass(frozen=True)
class ReturnMoments:
    """Per-observation Sharpe ratio, skew and non-excess kurtosis of a return series, and its length."""

    sharpe: float
    skew: float
    kurtosis: float
    n_observations: int

    @classmethod
    def of(cls, returns: Iterable[float] | np.ndarray) -> "ReturnMoments | None":
        """Moments of `returns` (NaNs dropped); None when fewer than 2 values or no variance.

        Sharpe per period (core/metrics.py, the backtest's own definition); skew and kurtosis are the
        plain sample moments, which always satisfy kurtosis >= 1 + skew² as the PSR requires.
        """
        values = np.asarray(list(returns) if not isinstance(returns, np.ndarray) else returns, dtype=np.float64)
        values = values[np.isfinite(values)]
        if len(values) < 2:
            return None
        centred = values - values.mean()
        m2 = float(np.mean(centred**2))
        if m2 <= 0.0:
            return None
        skew = float(np.mean(centred**3) / m2**1.5)
        kurtosis = float(np.mean(centred**4) / m2**2)
        return cls(metrics.sharpe(values), skew, kurtosis, len(values))


def _check_trials(n_trials: int) -> int:
    if isinstance(n_trials, bool) or int(n_trials) != n_trials or n_trials < 1:
        raise ValueError(f"n_trials must be an integer >= 1; got {n_trials!r}")
    return int(n_trials)
