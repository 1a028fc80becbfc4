"""The power planner: which annual Sharpe a gate could have seen, from its evidence and its multiplicity.

"Nothing passed" means little without what the test could detect. A one-sided test of a mean daily return
over T years detects a true annual Sharpe S with power 1 - b when

    S * sqrt(T) = z(1 - a') + z(1 - b),

where a' is the per-candidate level that keeps the family-wise error at `alpha` over the candidates judged.
Correlated candidates are not independent trials: the max over K candidates whose returns move together
behaves like the max over fewer. The effective number M is Li & Ji's (2005, Heredity 95) count from the
eigenvalues of the candidates' correlation matrix, M = sum f(|lambda_i|) with f(x) = [x >= 1] + (x - floor x),
and a' = 1 - (1 - alpha)^(1/M) (Sidak over M independent tests). The bootstrap gates (SPA/StepM) account for the
correlation themselves; this figure says what they can reach, and quant_organism_tests/test_validation_power.py
checks it against a simulation of the gate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

DAYS_PER_YEAR = 365.0


@dataclass(frozen=True)
class DetectableSharpe:
    """The annual Sharpe a test could detect at 50% and 80% power, and what that follows from."""

    years: float
    n_candidates: int
    n_effective: float
    alpha: float
    at_50: float
    at_80: float

    def sentence(self) -> str:
        return (
            f"this test could see an annual Sharpe >= {self.at_50:.2f} half the time and >= {self.at_80:.2f} "
            f"80% of the time ({self.years:.2f} years of evidence, {self.n_candidates} candidate(s) ~ "
            f"{self.n_effective:.1f} independent, family-wise error {self.alpha:.2%})"
        )

    def to_dict(self) -> dict[str, float | int]:
        return {
            "years": round(self.years, 4),
            "n_candidates": self.n_candidates,
            "n_effective": round(self.n_effective, 3),
            "alpha": self.alpha,
            "detectable_sharpe_50": round(self.at_50, 4) if np.isfinite(self.at_50) else None,
            "detectable_sharpe_80": round(self.at_80, 4) if np.isfinite(self.at_80) else None,
        }


def effective_number(returns: np.ndarray) -> float:
    """Li & Ji's effective number of independent candidates among the columns of a (T x K) return matrix."""
    matrix = np.asarray(returns, dtype=float)
    if matrix.ndim == 1:
        return 1.0
    live = matrix[:, np.nanstd(matrix, axis=0) > 0]
    k = live.shape[1]
    if k <= 1:
        return float(max(k, 1))
    rows = live[np.isfinite(live).all(axis=1)]
    if len(rows) < 3:
        return float(k)
    eigenvalues = np.round(np.abs(np.linalg.eigvalsh(np.corrcoef(rows, rowvar=False))), 9)  # 3 - 1e-15 is 3
    return float(np.clip(np.sum((eigenvalues >= 1.0) + (eigenvalues - np.floor(eigenvalues))), 1.0, k))


def per_test_level(alpha: float, n_effective: float) -> float:
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1); got {alpha!r}")
    return 1.0 - (1.0 - alpha) ** (1.0 / max(n_effective, 1.0))


def detectable_sharpe(years: float, n_effective: float, alpha: float, power: float) -> float:
    """The true annual Sharpe detected with probability `power` (inf with no evidence)."""
    if not 0.0 < power < 1.0:
        raise ValueError(f"power must be in (0, 1); got {power!r}")
    if years <= 0:
        return math.inf
    return float((norm.isf(per_test_level(alpha, n_effective)) + norm.ppf(power)) / math.sqrt(years))


def plan(returns: np.ndarray, alpha: float, periods_per_year: float = DAYS_PER_YEAR) -> DetectableSharpe:
    """The planner for a test of the columns of `returns` (T periods x K candidates) at family-wise `alpha`."""
    matrix = np.asarray(returns, dtype=float)
    if matrix.ndim == 1:
        matrix = matrix[:, None]
    years = matrix.shape[0] / periods_per_year
    n_effective = effective_number(matrix) if matrix.shape[1] else 1.0
    return DetectableSharpe(
        years=years,
        n_candidates=int(matrix.shape[1]),
        n_effective=n_effective,
        alpha=float(alpha),
        at_50=detectable_sharpe(years, n_effective, alpha, 0.5),
        at_80=detectable_sharpe(years, n_effective, alpha, 0.8),
    )
