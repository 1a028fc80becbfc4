"""The squared-hinge linear SVM's Newton fit and decision function, compiled: see strategies/svm.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numba import njit

from quant_organism.core.numba_cache import drop_stale_cache

from . import features
from .features import ML_JIT, SCALE_FLOOR, scaled_nb, standardised_nb

GRADIENT_TOL = 1e-10  # relative to max(1, |first gradient|)
MAX_NEWTON_STEPS = 100


@njit(**ML_JIT)
def _loss(w, direction, t, margins, moves, y, c):  # pragma: no cover - numba
    """Objective at w + t * direction, from the rows' margins x̃·w and moves x̃·direction (O(rows))."""
    trial = w + t * direction
    total = 0.5 * np.dot(trial, trial)
    for i in range(margins.shape[0]):
        slack = 1.0 - y[i] * (margins[i] + t * moves[i])
        if slack > 0.0:
            total += c * slack * slack
    return total


@njit(**ML_JIT)
def fit_squared_hinge(x, y, c):  # pragma: no cover - numba
    """(w, b) minimising the problem above for rows x (n x d, float64) and labels y in {-1, +1}.

    Each Newton step: margins by one matrix-vector product, gradient and Hessian from the rows inside
    the margin (Hessian = I + 2C X̃ᵀX̃ over them), a k x k solve, then a backtracking line search that
    reuses the margins and the step's moves, so a trial costs one pass over the rows. On a refit's rows C is
    small enough that nearly always every row is inside the margin (one Newton step, then the check): those
    rows are then the augmented matrix itself, not a copy of it (the same values, so the same products).
    """
    n, d = x.shape
    k = d + 1
    augmented = _augmented(x)
    w = np.zeros(k)
    first = -1.0
    for _ in range(MAX_NEWTON_STEPS):
        margins = augmented @ w
        slack = 1.0 - y * margins
        inside = np.flatnonzero(slack > 0.0)
        if inside.shape[0] == n:
            rows, weights = augmented, y * slack
        else:
            rows, weights = augmented[inside], y[inside] * slack[inside]
        grad = w - 2.0 * c * (rows.T @ weights)
        norm = np.sqrt(np.dot(grad, grad))
        if first < 0.0:
            first = max(norm, 1.0)
        if norm <= GRADIENT_TOL * first:
            break
        hess = 2.0 * c * (rows.T @ rows)
        for a in range(k):
            hess[a, a] += 1.0
        direction = np.linalg.solve(hess, -grad)
        moves = augmented @ direction
        before = _loss(w, direction, 0.0, margins, moves, y, c)
        slope = np.dot(grad, direction)
        t = 1.0
        while t > 1e-12:
            if _loss(w, direction, t, margins, moves, y, c) <= before + 0.01 * t * slope:
                break
            t *= 0.5
        else:
            break
        w = w + t * direction
    return w[:d].copy(), w[d]


@njit(**ML_JIT)
def _augmented(x):  # pragma: no cover - numba
    """The rows with a constant 1 appended (the intercept's feature), in one pass (numba's 2-d slice assignment
    into a fresh matrix of ones took a fifth of a refit)."""
    n, d = x.shape
    out = np.empty((n, d + 1))
    for i in range(n):
        for j in range(d):
            out[i, j] = x[i, j]
        out[i, d] = 1.0
    return out


@njit(**ML_JIT)
def fit_sign_classifier_nb(x, returns, c):  # pragma: no cover - numba
    """(1, mean, scale, coef, intercept); 0 when one class (or none) is left, -1 for a non-finite return."""
    n, d = x.shape
    kept = 0
    up = 0
    finite = True
    for i in range(n):
        kept += returns[i] != 0.0
        up += returns[i] > 0.0
        finite &= np.isfinite(returns[i])
    if not finite or up == 0 or up == kept:
        empty = np.empty(0)
        return (0 if finite else -1), empty, empty, empty, 0.0
    rows = x if kept == n else np.empty((kept, d))  # the rows as they are when none has a zero return (nearly always)
    labels = np.empty(kept)
    k = 0
    for i in range(n):
        if returns[i] != 0.0:
            if kept < n:
                rows[k] = x[i]
            labels[k] = 1.0 if returns[i] > 0.0 else -1.0
            k += 1
    standard, mean, scale = standardised_nb(rows, SCALE_FLOOR)
    coef, intercept = fit_squared_hinge(standard, labels, c)
    return 1, mean, scale, coef, intercept


@njit(**ML_JIT)
def decision_function(x, mean, scale, coef, intercept):  # pragma: no cover - numba
    """((x - mean) / scale) . coef + intercept of each row of `x` (C-ordered float64): a fitted classifier's score,
    `scaled(x, mean, scale) @ coef + intercept` in one compiled call."""
    return np.dot(scaled_nb(x, mean, scale), coef) + intercept


drop_stale_cache(Path(fit_squared_hinge.stats.cache_path), [Path(features.__file__), Path(__file__)], Path(__file__).stem)
