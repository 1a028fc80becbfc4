"""Selection-aware superiority gate: does any candidate beat the benchmark on the data it is judged on?

Principle: the null distribution comes from the selection that actually happened on the data being
judged. The K candidates kept from training are judged on held-out returns (out-of-sample and
walk-forward, pooled); Hansen's SPA tests H0 "no candidate beats the benchmark" with the maximum
studentized excess return over all K, and a joint stationary bootstrap of the T x K return rows keeps
the candidates' cross-correlation and serial dependence. Romano & Wolf's StepM then names the
candidates that individually beat the benchmark with family-wise error rate `alpha`. Nothing is
inflated by the size of the in-sample search: those trials never touched the held-out data; only
the K candidates judged here are the multiple comparisons that must be paid for.

arch's SPA / StepM take *losses*; the tests depend only on the loss differentials, so we pass a zero
benchmark loss and model losses of minus the (studentized) excess returns.

Studentization is done here, not by arch: arch 8.0.0 accepts `studentize=True` but never divides by
the variance (the flag only changes its description), so a volatile candidate would dominate the
max statistic. Each excess-return column is divided by its stationary-bootstrap long-run standard
deviation (Hansen 2005, eq. for ω̂²; the same kernel arch computes for its "consistent" threshold)
before the test, which makes arch's max of means Hansen's max of t-statistics.

References: Hansen (2005) "A Test for Superior Predictive Ability", JBES 23(4); Romano & Wolf (2005)
"Stepwise Multiple Testing as Formalized Data Snooping", Econometrica 73(4); Politis & White (2004)
with Patton, Politis & White (2009) for the block length.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from arch.bootstrap import SPA, optimal_block_length

from quant_organism.core.artifacts import finite_or_none
from quant_organism.core.metrics import sharpe

_MIN_PERIODS = 10


@dataclass(frozen=True)
class SuperiorityResult:
    """SPA p-values, StepM's superior set, and per-candidate summaries (Sharpe and t per period)."""

    spa_pvalue: float
    spa_pvalues: dict[str, float] = field(compare=False)
    superior: tuple[str, ...]
    candidates: dict[str, dict[str, Any]] = field(compare=False)
    alpha: float
    block_size: int
    reps: int
    n_candidates: int
    n_periods: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe copy (non-finite floats become None)."""
        return {
            "spa_pvalue": finite_or_none(self.spa_pvalue),
            "spa_pvalues": {name: finite_or_none(value) for name, value in self.spa_pvalues.items()},
            "superior": list(self.superior),
            "candidates": {
                name: {key: finite_or_none(value) if isinstance(value, float) else value for key, value in stats.items()}
                for name, stats in self.candidates.items()
            },
            "alpha": self.alpha,
            "block_size": self.block_size,
            "reps": self.reps,
            "n_candidates": self.n_candidates,
            "n_periods": self.n_periods,
        }


def superiority_test(
    returns: Any,
    alpha: float = 0.05,
    benchmark: Any = None,
    block_size: int | None = None,
    reps: int = 1000,
    seed: int = 0,
    studentize: bool = True,
) -> SuperiorityResult:
    """Hansen's SPA and Romano-Wolf StepM of K candidates' held-out returns against a benchmark.

    `returns`: (T x K) DataFrame (columns name the candidates) or array of per-period returns.
    `benchmark`: None for zero returns (cash), or a (T,) return series such as buy-and-hold.
    `block_size`: mean block length of the stationary bootstrap; None picks `default_block_size`.
    Candidates whose excess return never varies (a strategy that never traded, or one identical to
    the benchmark) cannot be tested; they are left out of the bootstrap and reported not superior,
    with the reason. With nothing testable the p-values are 1 (nothing can be rejected).
    The bootstrap is seeded by `seed`, so the result is deterministic.
    """
    matrix, names = _as_candidate_matrix(returns)
    n_periods, n_candidates = matrix.shape
    benchmark_returns = _as_benchmark(benchmark, returns, n_periods)
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if reps < 1:
        raise ValueError(f"reps must be >= 1, got {reps}")

    excess = matrix - benchmark_returns[:, None]
    untestable = _untestable_reasons(matrix, excess)
    testable = np.array([index not in untestable for index in range(n_candidates)], dtype=bool)
    if block_size is None:
        block_size = default_block_size(excess[:, testable]) if testable.any() else 1
    if not 1 <= block_size <= n_periods:
        raise ValueError(f"block_size must be in [1, {n_periods}], got {block_size}")

    long_run_std = np.full(n_candidates, np.nan)
    if testable.any():
        long_run_std[testable] = np.sqrt(_stationary_long_run_variance(excess[:, testable], block_size))
    t_stats = np.sqrt(n_periods) * excess.mean(axis=0) / long_run_std

    spa_pvalues = {"lower": 1.0, "consistent": 1.0, "upper": 1.0}
    superior_indices: list[int] = []
    if testable.any():
        tested = excess[:, testable] / (long_run_std[testable] if studentize else 1.0)
        spa_pvalues, better = _spa_and_stepm(tested, alpha, block_size, reps, seed)
        tested_indices = np.flatnonzero(testable)
        superior_indices = sorted(int(tested_indices[i]) for i in better)

    candidates: dict[str, dict[str, Any]] = {}
    for index, name in enumerate(names):
        column = matrix[:, index]
        summary: dict[str, Any] = {
            "mean": float(column.mean()),
            "excess_mean": float(excess[:, index].mean()),
            "sharpe": sharpe(column),
            "t_stat": float(t_stats[index]) if testable[index] else float("nan"),
            "superior": index in superior_indices,
        }
        if index in untestable:
            summary["reason"] = untestable[index]
        candidates[name] = summary

    return SuperiorityResult(
        spa_pvalue=spa_pvalues["consistent"],
        spa_pvalues=spa_pvalues,
        superior=tuple(names[index] for index in superior_indices),
        candidates=candidates,
        alpha=float(alpha),
        block_size=int(block_size),
        reps=int(reps),
        n_candidates=int(n_candidates),
        n_periods=int(n_periods),
    )


def _spa_and_stepm(tested: np.ndarray, alpha: float, block_size: int, reps: int, seed: int) -> tuple[dict[str, float], list[int]]:
    """Hansen's SPA p-values on all candidates, then Romano-Wolf's stepwise set (arch's StepM algorithm).

    Written out here because arch 8.0.0's `StepM.compute` runs SPA on an empty subset, and fails, when
    every remaining candidate is superior; the bootstrap draws are shared by every step (one SPA object).
    """
    k = tested.shape[1]
    spa = SPA(np.zeros(tested.shape[0]), -tested, block_size=block_size, reps=reps, studentize=False, seed=seed)
    spa.compute()
    pvalues = {name: float(value) for name, value in spa.pvalues.items()}
    better = [int(i) for i in spa.better_models(alpha)]
    found = better[:]
    while better and len(found) < k:
        keep = np.ones(k, dtype=bool)
        keep[np.array(found)] = False
        spa.subset(keep)
        spa.compute()
        better = [int(i) for i in spa.better_models(alpha)]
        found.extend(better)
    return pvalues, sorted(set(found))


def default_block_size(excess_returns: np.ndarray) -> int:
    """Median over candidates of the Politis-White optimal stationary-bootstrap block length.

    The bootstrap must reproduce the serial dependence that drives the variance of each mean; the
    Politis-White (2004, corrected 2009) rule estimates that length from each series' own
    autocorrelations, and the median is a typical candidate's need that one outlier cannot drive.
    It is rounded up and clipped to [1, T/4] so a block never spans most of a short sample.
    """
    n_periods = excess_returns.shape[0]
    lengths = optimal_block_length(excess_returns)["stationary"].to_numpy(dtype=float)
    lengths = lengths[np.isfinite(lengths)]
    typical = math.ceil(float(np.median(lengths))) if lengths.size else 1
    return int(min(max(typical, 1), max(n_periods // 4, 1)))


def _stationary_long_run_variance(series: np.ndarray, block_size: int) -> np.ndarray:
    """Hansen's (2005) ω̂² per column: the variance of √T × mean under the stationary bootstrap.

    ω̂² = γ0 + 2 Σ_i κ_i γ_i with κ_i = (1 - i/T)(1 - p)^i + (i/T)(1 - p)^(T - i), p = 1/block_size,
    autocovariances γ_i by FFT. A non-positive estimate falls back to the sample variance γ0.
    """
    n_periods = series.shape[0]
    demeaned = series - series.mean(axis=0)
    fft_length = 1 << (2 * n_periods - 1).bit_length()
    spectrum = np.fft.rfft(demeaned, n=fft_length, axis=0)
    autocovariance = np.fft.irfft(spectrum * np.conj(spectrum), n=fft_length, axis=0)[:n_periods] / n_periods
    lags = np.arange(1, n_periods)
    stay = 1.0 - 1.0 / block_size
    kappa = (1.0 - lags / n_periods) * stay**lags + (lags / n_periods) * stay ** (n_periods - lags)
    variance = autocovariance[0] + 2.0 * kappa @ autocovariance[1:]
    return np.where(variance > 0, variance, autocovariance[0])


def _untestable_reasons(matrix: np.ndarray, excess: np.ndarray) -> dict[int, str]:
    reasons: dict[int, str] = {}
    for index in range(matrix.shape[1]):
        if np.all(matrix[:, index] == 0.0):
            reasons[index] = "never traded: all returns are zero"
        elif np.ptp(excess[:, index]) <= 1e-12 * max(float(np.max(np.abs(excess[:, index]))), 1e-300):
            reasons[index] = "constant excess return over the benchmark: no variation to test"
    return reasons


def _as_candidate_matrix(returns: Any) -> tuple[np.ndarray, list[str]]:
    matrix = np.asarray(getattr(returns, "to_numpy", lambda: returns)(), dtype=float)
    if matrix.ndim != 2:
        raise ValueError(f"returns must be 2-D (periods x candidates), got shape {matrix.shape}")
    if matrix.shape[1] < 1:
        raise ValueError("returns has no candidates (columns)")
    if matrix.shape[0] < _MIN_PERIODS:
        raise ValueError(f"need at least {_MIN_PERIODS} periods, got {matrix.shape[0]}")
    if not np.all(np.isfinite(matrix)):
        raise ValueError("returns contain NaN or infinite values; fill or drop them first")
    columns = getattr(returns, "columns", None)
    names = [str(name) for name in columns] if columns is not None else [str(i) for i in range(matrix.shape[1])]
    if len(set(names)) != len(names):
        raise ValueError("candidate names (columns) must be unique")
    return matrix, names


def _as_benchmark(benchmark: Any, returns: Any, n_periods: int) -> np.ndarray:
    if benchmark is None:
        return np.zeros(n_periods)
    returns_index = getattr(returns, "index", None)
    if returns_index is not None and hasattr(benchmark, "reindex"):
        benchmark = benchmark.reindex(returns_index)  # align on dates, not on position
    values = np.asarray(getattr(benchmark, "to_numpy", lambda: benchmark)(), dtype=float).reshape(-1)
    if values.shape[0] != n_periods:
        raise ValueError(f"benchmark has {values.shape[0]} periods, returns have {n_periods}")
    if not np.all(np.isfinite(values)):
        raise ValueError("benchmark has NaN or infinite values (or periods missing from returns' index)")
    return values
