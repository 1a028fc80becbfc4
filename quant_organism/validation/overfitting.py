"""Probability of Backtest Overfitting (PBO) by Combinatorially Symmetric Cross-Validation (CSCV).

Bailey, Borwein, López de Prado & Zhu (2015), "The Probability of Backtest Overfitting". The rows of a
(T periods x N strategies) return matrix are cut into S equal contiguous blocks. For every way of
taking S/2 blocks as in-sample (IS) and the other S/2 as out-of-sample (OOS), the strategy with the
best IS metric is picked and its relative rank ω among all N strategies OOS is recorded as the logit
λ = ln(ω / (1 - ω)). PBO is the share of splits with λ <= 0: how often the IS winner lands in the
bottom half OOS. Skill-less strategies give PBO ≈ 0.5; a genuine edge drives it towards 0.

This judges the *selection procedure* (pick the best of N on history), not one strategy; it needs the
returns of all N strategies tried, not only the survivors.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import combinations
from math import comb
from typing import Any

import numpy as np

from quant_organism.core.artifacts import finite_or_none
from quant_organism.core.compiled.metric_kernels import sharpe_from_sums

Metric = Callable[[np.ndarray], np.ndarray]
"""A custom metric: (rows x N) returns -> (N,) scores, higher is better."""

_COMBO_CHUNK = 1024  # combinations scored at once: bounds memory to a few (chunk x N) arrays


@dataclass(frozen=True)
class PBOResult:
    """CSCV outcome. `logits[i]` is λ for split i; the `*_metric_*` arrays are the IS winner's scores."""

    pbo: float
    logits: np.ndarray = field(compare=False, repr=False)
    n_combinations: int
    n_blocks: int
    n_strategies: int
    rows_used: int
    is_metric_of_best: np.ndarray = field(compare=False, repr=False)
    oos_metric_of_best: np.ndarray = field(compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe summary, including how much the IS winner's metric degrades OOS."""
        is_best, oos_best = self.is_metric_of_best, self.oos_metric_of_best
        return {
            "pbo": float(self.pbo),
            "n_combinations": int(self.n_combinations),
            "n_blocks": int(self.n_blocks),
            "n_strategies": int(self.n_strategies),
            "rows_used": int(self.rows_used),
            "median_logit": finite_or_none(np.median(self.logits)),
            "is_metric_of_best_mean": finite_or_none(np.mean(is_best)),
            "oos_metric_of_best_mean": finite_or_none(np.mean(oos_best)),
            "degradation_slope": finite_or_none(_ols_slope(is_best, oos_best)),
            "prob_oos_metric_below_zero": float(np.mean(oos_best < 0)),
        }


def probability_of_backtest_overfitting(
    returns: Any,
    n_blocks: int = 16,
    metric: str | Metric | None = None,
    max_combinations: int | None = None,
    seed: int = 0,
) -> PBOResult:
    """PBO of picking the best of the N columns of `returns` by CSCV.

    `metric`: None or "sharpe" (per-period Sharpe, core/metrics.py; zero-variance halves score 0, i.e. no
    edge), "mean", or a callable on a (rows x N) array (general but evaluated split by split, slow).
    The two built-ins are computed from per-block sums and sums of squares, so a split costs one
    small matrix product. Rows that do not fill whole blocks are dropped from the start, keeping the
    most recent data. `max_combinations` scores a seeded random subset of the C(S, S/2) splits.
    Ties in the OOS ranking get average ranks; ω = rank / (N + 1) stays strictly inside (0, 1).
    """
    matrix = _as_return_matrix(returns)
    n_rows, n_strategies = matrix.shape
    if n_strategies < 2:
        raise ValueError(f"PBO needs at least 2 strategies (columns), got {n_strategies}")
    if isinstance(n_blocks, bool) or not isinstance(n_blocks, (int, np.integer)) or n_blocks < 2 or n_blocks % 2:
        raise ValueError(f"n_blocks must be an even integer >= 2, got {n_blocks!r}")
    if n_rows < n_blocks:
        raise ValueError(f"need at least n_blocks={n_blocks} rows (periods), got {n_rows}")
    if max_combinations is not None and max_combinations < 1:
        raise ValueError(f"max_combinations must be >= 1, got {max_combinations}")

    block_len = n_rows // n_blocks
    rows_used = block_len * n_blocks
    matrix = matrix[n_rows - rows_used :]
    in_sample = _in_sample_masks(n_blocks, max_combinations, seed)

    if metric is None or metric == "sharpe" or metric == "mean":
        is_scores, oos_scores = _block_metric_scores(matrix, n_blocks, in_sample, use_sharpe=metric != "mean")
        is_best, oos_of_best, omega = _select_and_rank(is_scores, oos_scores)
    elif callable(metric):
        is_best, oos_of_best, omega = _callable_metric_scores(matrix, n_blocks, in_sample, metric)
    else:
        raise ValueError(f"metric must be None, 'sharpe', 'mean' or a callable, got {metric!r}")

    logits = np.log(omega / (1.0 - omega))
    return PBOResult(
        pbo=float(np.mean(logits <= 0.0)),
        logits=logits,
        n_combinations=int(in_sample.shape[0]),
        n_blocks=int(n_blocks),
        n_strategies=int(n_strategies),
        rows_used=int(rows_used),
        is_metric_of_best=is_best,
        oos_metric_of_best=oos_of_best,
    )


def _as_return_matrix(returns: Any) -> np.ndarray:
    matrix = np.asarray(getattr(returns, "to_numpy", lambda: returns)(), dtype=float)
    if matrix.ndim != 2:
        raise ValueError(f"returns must be 2-D (periods x strategies), got shape {matrix.shape}")
    if not np.all(np.isfinite(matrix)):
        raise ValueError("returns contain NaN or infinite values; fill or drop them first")
    return matrix


def _in_sample_masks(n_blocks: int, max_combinations: int | None, seed: int) -> np.ndarray:
    """(C x S) boolean: which blocks are in-sample for each split."""
    half = n_blocks // 2
    total = comb(n_blocks, half)
    if max_combinations is None or max_combinations >= total:
        masks = np.zeros((total, n_blocks), dtype=bool)
        for row, chosen in enumerate(combinations(range(n_blocks), half)):
            masks[row, list(chosen)] = True
        return masks
    # Sample distinct random halves without enumerating all C(S, S/2) (huge for large S).
    rng = np.random.default_rng(seed)
    unique = np.zeros((0, n_blocks), dtype=bool)
    while unique.shape[0] < max_combinations:
        picks = np.argsort(rng.random((max_combinations, n_blocks)), axis=1)[:, :half]
        masks = np.zeros((max_combinations, n_blocks), dtype=bool)
        np.put_along_axis(masks, picks, True, axis=1)
        unique = np.unique(np.vstack([unique, masks]), axis=0)
    keep = rng.choice(unique.shape[0], size=max_combinations, replace=False)
    return unique[np.sort(keep)]


def _block_metric_scores(
    matrix: np.ndarray, n_blocks: int, in_sample: np.ndarray, use_sharpe: bool
) -> tuple[np.ndarray, np.ndarray]:
    """IS and OOS (C x N) metric matrices from per-block sums, in chunks of splits."""
    blocks = matrix.reshape(n_blocks, -1, matrix.shape[1])
    block_sums, block_squares = blocks.sum(axis=1), (blocks**2).sum(axis=1)
    total_sums, total_squares = block_sums.sum(axis=0), block_squares.sum(axis=0)
    half_rows = matrix.shape[0] // 2
    is_scores = np.empty((in_sample.shape[0], matrix.shape[1]))
    oos_scores = np.empty_like(is_scores)
    for start in range(0, in_sample.shape[0], _COMBO_CHUNK):
        weights = in_sample[start : start + _COMBO_CHUNK].astype(float)
        is_sums = weights @ block_sums
        stop = start + weights.shape[0]
        if use_sharpe:
            is_squares = weights @ block_squares
            is_scores[start:stop] = sharpe_from_sums(is_sums, is_squares, half_rows, 1.0)
            oos_scores[start:stop] = sharpe_from_sums(total_sums - is_sums, total_squares - is_squares, half_rows, 1.0)
        else:
            is_scores[start:stop] = is_sums / half_rows
            oos_scores[start:stop] = (total_sums - is_sums) / half_rows
    return is_scores, oos_scores


def _select_and_rank(is_scores: np.ndarray, oos_scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The IS winner's (first on ties) IS and OOS scores per split, and ω = its average OOS rank / (N + 1)."""
    best = np.argmax(is_scores, axis=1)
    rows = np.arange(is_scores.shape[0])
    oos_of_best = oos_scores[rows, best]
    below = np.sum(oos_scores < oos_of_best[:, None], axis=1)
    equal = np.sum(oos_scores == oos_of_best[:, None], axis=1)  # includes the winner itself
    average_rank = below + (equal + 1) / 2.0
    omega = average_rank / (is_scores.shape[1] + 1)
    return is_scores[rows, best], oos_of_best, omega


def _callable_metric_scores(
    matrix: np.ndarray, n_blocks: int, in_sample: np.ndarray, metric: Metric
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Slow path: evaluate a user metric on the concatenated IS and OOS rows of each split."""
    block_of_row = np.repeat(np.arange(n_blocks), matrix.shape[0] // n_blocks)
    is_scores = np.empty((in_sample.shape[0], matrix.shape[1]))
    oos_scores = np.empty_like(is_scores)
    for split, mask in enumerate(in_sample):
        rows_in_sample = mask[block_of_row]
        is_scores[split] = metric(matrix[rows_in_sample])
        oos_scores[split] = metric(matrix[~rows_in_sample])
    return _select_and_rank(is_scores, oos_scores)


def _ols_slope(x: np.ndarray, y: np.ndarray) -> float:
    x_centred = x - x.mean()
    denominator = float(np.sum(x_centred**2))
    return float(np.sum(x_centred * (y - y.mean())) / denominator) if denominator > 0 else float("nan")
