"""The walk-forward models' features and standardisation, compiled: see strategies/walk_forward.py for the rule."""

from __future__ import annotations

import numpy as np
from numba import njit

SCALE_FLOOR = 10 * np.finfo(np.float64).eps  # a feature whose std is below this x max(1, |mean|) keeps scale 1

ML_JIT = {"cache": True, "error_model": "numpy"}


@njit(**ML_JIT)
def feature_rows_nb(returns, close, rsi, ema, vol, n_lags):  # pragma: no cover - numba
    n = returns.shape[0]
    out = np.empty((n, n_lags + 3))
    for t in range(n):
        for lag in range(n_lags):
            out[t, lag] = returns[t - lag] if t >= lag else np.nan
        out[t, n_lags] = rsi[t] / 100.0 - 0.5
        out[t, n_lags + 1] = close[t] / ema[t] - 1.0 if ema[t] > 0 else np.nan  # `ratio`
        out[t, n_lags + 2] = vol[t]
    return out


@njit(**ML_JIT)
def scaled_nb(x, mean, scale):  # pragma: no cover - numba
    return standardised_centred(x, mean, scale, np.zeros_like(mean))  # minus 0.0 changes no value, -0.0 included


TILE_ROWS = 16


@njit(**ML_JIT)
def standardised_centred(x, mean, scale, center):  # pragma: no cover - numba
    """`(x - mean) / scale - center` of C-ordered rows `x`, element by element in numpy's order of operations: tiles of
    `TILE_ROWS` rows read as one run of values against the per-feature vectors repeated as often."""
    n, d = x.shape
    out = np.empty((n, d))
    width = TILE_ROWS * d
    means, scales, centers = np.empty(width), np.empty(width), np.empty(width)
    for r in range(TILE_ROWS):
        means[r * d : (r + 1) * d] = mean
        scales[r * d : (r + 1) * d] = scale
        centers[r * d : (r + 1) * d] = center
    values, results = x.reshape(n * d), out.reshape(n * d)
    tiles = n // TILE_ROWS
    for t in range(tiles):
        tile, result = values[t * width : (t + 1) * width], results[t * width : (t + 1) * width]
        for e in range(width):
            result[e] = (tile[e] - means[e]) / scales[e] - centers[e]
    for i in range(tiles * TILE_ROWS, n):
        for j in range(d):
            out[i, j] = (x[i, j] - mean[j]) / scale[j] - center[j]
    return out


@njit(**ML_JIT)
def standardised_nb(x, floor):  # pragma: no cover - numba
    mean, scale = column_moments_nb(x)
    for j in range(scale.shape[0]):
        if scale[j] < floor * max(1.0, abs(mean[j])):
            scale[j] = 1.0
    return scaled_nb(x, mean, scale), mean, scale


@njit(**ML_JIT)
def column_moments_nb(x):  # pragma: no cover - numba
    """Column means and population stds, summed row after row as numpy reduces a C-ordered array over axis 0:
    the same bits as x.mean(axis=0) and x.std(axis=0) (test_strategies_tree.py), a tenth of their time."""
    n, d = x.shape
    mean = row_after_row_means(x)
    squares = np.zeros(d)
    for i in range(n):
        for j in range(d):
            centred = x[i, j] - mean[j]
            squares[j] += centred * centred
    return mean, np.sqrt(squares / n)


@njit(**ML_JIT)
def row_after_row_means(x):  # pragma: no cover - numba
    """Column means of a C-ordered array with at least two columns, summed row after row as numpy reduces one."""
    n, d = x.shape
    total = np.zeros(d)
    for i in range(n):
        for j in range(d):
            total[j] += x[i, j]
    return total / n


@njit(**ML_JIT)
def finite_rows_nb(x):  # pragma: no cover - numba
    n, d = x.shape
    out = np.empty(n, np.bool_)
    for i in range(n):
        finite = True
        for j in range(d):
            finite &= np.isfinite(x[i, j])
        out[i] = finite
    return out
