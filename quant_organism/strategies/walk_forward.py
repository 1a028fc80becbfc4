"""Walk-forward training for the ML seeds: features, next-bar labels and a refit schedule without lookahead.

Row t of the features uses bars <= t. Its label is the NEXT bar's log return r[t+1], which is only
known at bar t+1's close. The model that predicts bars [s, s + refit_every) is fitted at bar s on
rows [s - train_window, s - 1]: their labels end with r[s], known at bar s's close, when the
prediction for bar s is made. Refit bars s are multiples of `refit_every` counted from the first
bar of the input, so a prefix of the data sees exactly the same fits (prefix invariance). Blocks
whose training set is too small (warm-up) or degenerate predict nothing (NaN), i.e. stay flat.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import numpy as np
import threadpoolctl

from quant_organism.strategies.compiled.features import (
    SCALE_FLOOR,
    column_moments_nb,
    feature_rows_nb,
    finite_rows_nb,
    row_after_row_means,
    scaled_nb,
    standardised_nb,
)

from .base import GeneColumns
from .genes import SeedGenes
from .indicators import Indicators, safe_div
from .ohlcv import Bars

MIN_TRAIN_ROWS = 50
"""How the ML seeds' kernels compile (here, tree.py, svm.py): numpy's division semantics, without a ZeroDivisionError
check per division, which kept loops from vectorising (a refit's standardisation ran 2.3x slower with it)."""


class MlFeatures:
    """The ML seeds' features of a batch of genomes on one set of bars, one genome's at a time (`matrix`).

    The RSI, EMA and volatility rows they read come from the bars' kept indicator rows (`Indicators.table`), shared
    with the rule-based seeds and kept between calls, so a batch computes only the periods not kept; a genome's
    matrix is then written in one compiled pass (the lagged returns and the three indicator columns), the same bits
    as stacking `shift(returns, lag)`, `rsi / 100 - 0.5`, `ratio(close, ema)` and the volatility (a test)."""

    def __init__(self, ind: Indicators, rsi_periods, ema_periods, vol_periods) -> None:
        self.ind = ind
        self.rsi_periods, self.ema_periods, self.vol_periods = (
            np.asarray(p, dtype=np.int64) for p in (rsi_periods, ema_periods, vol_periods)
        )
        self._rsi, (self._rsi_at,) = ind.table("rsi", self.rsi_periods)
        self._ema, (self._ema_at,) = ind.table("ema", self.ema_periods)
        self._vol, (self._vol_at,) = ind.table("volatility", self.vol_periods)

    def volatility(self, col: int) -> np.ndarray:
        """Genome `col`'s realised volatility: the sample std of its last `vol_period` one-bar log returns."""
        return self._vol[self._vol_at[col]]

    def matrix(self, col: int, n_lags: int) -> np.ndarray:
        """Genome `col`'s features, bars x (n_lags + 3): r[t], ..., r[t-n_lags+1], RSI/100 - 0.5, close/EMA - 1,
        realised vol (all from bars <= t); genomes with the same periods share one matrix."""
        key = ("ml_features", int(n_lags), int(self.rsi_periods[col]), int(self.ema_periods[col]), int(self.vol_periods[col]))
        return self.ind.cached(
            key,
            lambda: feature_rows_nb(
                self.ind.returns,
                self.ind.bars.close,
                self._rsi[self._rsi_at[col]],
                self._ema[self._ema_at[col]],
                self.volatility(col),
                int(n_lags),
            ),
        )


def standardiser(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean, scale) of each feature over the training rows, as sklearn's StandardScaler computes them
    (population std; a constant feature keeps scale 1). Applied as (x - mean) / scale in numpy: for the
    few hundred rows a refit sees, sklearn's per-call checks cost more than the arithmetic."""
    mean, scale = column_moments_nb(np.ascontiguousarray(x, dtype=np.float64))
    scale[scale < 10 * np.finfo(np.float64).eps * np.maximum(1.0, np.abs(mean))] = 1.0
    return mean, scale


def standardised(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, mean, scale): `standardiser(x)` and the rows as (x - mean) / scale, the same bits in one compiled
    call (a refit standardises its training rows; numpy's two broadcasts cost more than the arithmetic)."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] < 2 or x.shape[0] == 0:
        mean, scale = standardiser(x)
        return (x - mean) / scale, mean, scale
    return standardised_nb(x, SCALE_FLOOR)


def scaled(x: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """`(x - mean) / scale` of rows x with a fitted standardiser, the same bits in one compiled pass (a model
    standardises the rows it predicts for; numpy's two broadcasts cost more than the arithmetic)."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    if x.ndim != 2:
        return (x - mean) / scale
    return scaled_nb(x, mean, scale)


"""Rows per tile of `standardised_centred`: the loop over a tile's row-major values runs long enough to vectorise
(over one row's dozen features it did not: 1.5x slower on a refit's rows, 2026-11-28)."""


def column_means(x: np.ndarray) -> np.ndarray:
    """x.mean(axis=0) of a 2-d array, to the last bit, a tenth of numpy's per-call cost on a refit's rows."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] < 2 or x.shape[0] == 0:  # one column is contiguous: numpy sums it pairwise
        return np.mean(x, axis=0)
    return row_after_row_means(x)


def next_returns(ind: Indicators) -> np.ndarray:
    """Label of row t: r[t+1] (NaN for the last bar, whose next bar is unknown)."""
    r = ind.returns
    out = np.full(len(r), np.nan)
    out[:-1] = r[1:]
    return out


@dataclass(frozen=True)
class WalkForward:
    refit_every: int
    train_window: int

    @property
    def min_train(self) -> int:
        return max(MIN_TRAIN_ROWS, self.train_window // 4)

    def run(
        self,
        features: np.ndarray,
        labels: np.ndarray,
        fit: Callable[[np.ndarray, np.ndarray], Any | None],
        predict: Callable[[Any, np.ndarray], np.ndarray],
        n_outputs: int,
    ) -> np.ndarray:
        """bars x n_outputs predictions; `fit` may return None to skip a block (e.g. one class only)."""
        with _one_blas_thread():
            return self._run(features, labels, fit, predict, n_outputs)

    def _run(self, features, labels, fit, predict, n_outputs: int) -> np.ndarray:
        n = len(features)
        out = np.full((n, n_outputs), np.nan)
        usable_x = finite_rows(features)
        usable_row = usable_x & np.isfinite(labels)
        # Unusable rows before each bar: a span without any is passed as a view (no copy), as most are.
        gaps_x = np.concatenate(([0], np.cumsum(~usable_x)))
        gaps_row = np.concatenate(([0], np.cumsum(~usable_row)))
        for start in range(0, n, self.refit_every):
            stop = min(start + self.refit_every, n)
            first = max(0, start - self.train_window)
            if gaps_row[start] == gaps_row[first]:
                x, y = features[first:start], labels[first:start]
            else:
                rows = np.arange(first, start)
                rows = rows[usable_row[rows]]
                x, y = features[rows], labels[rows]
            if len(y) < self.min_train:
                continue
            model = fit(np.ascontiguousarray(x), np.ascontiguousarray(y))
            if model is None:
                continue
            if gaps_x[stop] == gaps_x[start]:
                out[start:stop] = predict(model, features[start:stop]).reshape(stop - start, n_outputs)
                continue
            targets = np.arange(start, stop)
            targets = targets[usable_x[targets]]
            if len(targets):
                predicted = predict(model, np.ascontiguousarray(features[targets]))
                out[targets] = predicted.reshape(len(targets), n_outputs)
        return out


def finite_rows(x: np.ndarray) -> np.ndarray:
    """`np.isfinite(x).all(axis=1)` of a 2-d array, in one compiled pass (numpy's reduction over a few columns
    per row costs more than the test)."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    return finite_rows_nb(x) if x.ndim == 2 else np.isfinite(x).all(axis=1)


_BLAS: list[threadpoolctl.ThreadpoolController] = []  # this process's BLAS thread pools, found on first use


def _one_blas_thread() -> AbstractContextManager:
    """A context in which BLAS and LAPACK run on the calling thread only. A refit's products and solves are a few
    hundred rows by at most a few dozen features: split over threads they wait on each other (on two cores a
    1,500 x 25 PCA took 5 ms instead of 0.1), and an island or a replay owns one core anyway. The products give
    the same bits either way (the ML seeds' evolution populations are unchanged)."""
    if not _BLAS:
        import scipy.linalg  # noqa: F401 - loads the BLAS and LAPACK that compiled code calls, so the controller sees them

        _BLAS.append(threadpoolctl.ThreadpoolController())
    return _BLAS[0].limit(limits=1, user_api="blas")


def walk_forward_batch(
    bars: Bars,
    genes: Sequence[SeedGenes],
    fit_for: Callable[[dict], Callable[[np.ndarray, np.ndarray], Any | None]],
    predict: Callable[[Any, np.ndarray], np.ndarray],
    n_outputs: int,
    scaled_target: bool = False,
) -> np.ndarray:
    """(n_outputs, bars, genomes): each genome's model (`fit_for(its parameters)`) refitted on its schedule over its
    features, predicting the next bar's return (over the features' volatility when `scaled_target`)."""
    ind, g = Indicators(bars), GeneColumns(genes)
    nxt = next_returns(ind)
    out = np.empty((n_outputs, bars.n, len(genes)))
    features = MlFeatures(ind, g.ints("fast_period"), g.ints("slow_period"), g.ints("signal_period"))
    for col, gene in enumerate(genes):
        p = gene.parameters
        target = safe_div(nxt, features.volatility(col)) if scaled_target else nxt
        schedule = WalkForward(refit_every=p["refit_every"], train_window=p["train_window"])
        out[:, :, col] = schedule.run(features.matrix(col, p["n_lags"]), target, fit_for(p), predict, n_outputs).T
    return out
