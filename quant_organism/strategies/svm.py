"""The linear SVM the `linear_svc` seed refits: liblinear's L2-regularised squared-hinge problem, compiled.

    minimise  0.5 |w̃|² + C Σ_i max(0, 1 - y_i w̃·x̃_i)²,   x̃ = (x, 1),  w̃ = (w, b)

is what scikit-learn's `LinearSVC(dual=False)` solves (liblinear's solver 2; the intercept is a regularised
weight on a constant feature of 1, liblinear's `intercept_scaling=1`). The problem is strictly convex and
piecewise quadratic, so Newton's method on the rows inside the margin, with a backtracking line search, reaches
its unique minimum in a handful of steps. Solved here to a gradient norm of 1e-10 (liblinear stops at 1e-4 of
the first gradient), so the weights are sklearn's up to liblinear's own tolerance (test_strategies_svm.py).
Why not sklearn: a refit sees a few hundred rows of about ten features, where liblinear's arithmetic is a
fifth of the call and sklearn's per-call checks the rest; the seed refits hundreds of times per genome.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numba import njit

from quant_organism.core.numba_cache import drop_stale_cache

from . import walk_forward
from .walk_forward import ML_JIT, SCALE_FLOOR, _scaled, _standardised

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


def fit_linear_svm(x: np.ndarray, y: np.ndarray, c: float) -> tuple[np.ndarray, float]:
    """Coefficients and intercept of LinearSVC(C=c, dual=False) on rows `x` with labels `y` (±1)."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    y = np.ascontiguousarray(y, dtype=np.float64)
    if x.ndim != 2 or y.shape != (x.shape[0],):
        raise ValueError(f"x must be rows x features and y one label per row; got {x.shape} and {y.shape}")
    if not np.all(np.abs(y) == 1.0):
        raise ValueError("labels must be -1 or +1")
    if not c > 0:
        raise ValueError(f"C must be positive, got {c}")
    return fit_squared_hinge(x, y, float(c))


def fit_sign_classifier(x: np.ndarray, returns: np.ndarray, c: float) -> tuple[np.ndarray, ...] | None:
    """The `linear_svc` seed's refit, one compiled call: labels the signs of `returns` (rows with a zero return left
    out), the rows standardised (`walk_forward.standardised`), then `fit_linear_svm` on them; (mean, scale, coef,
    intercept), or None when one class is left. The same bits as those steps one by one (test_strategies_svm.py):
    a refit is a few hundred rows, and the steps' dozen calls cost about as much as the solver."""
    x, returns = np.ascontiguousarray(x, dtype=np.float64), np.ascontiguousarray(returns, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] < 2 or returns.shape != (x.shape[0],):
        raise ValueError(f"x must be rows x (at least 2) features and one return per row; got {x.shape}, {returns.shape}")
    if not c > 0:
        raise ValueError(f"C must be positive, got {c}")
    fitted, mean, scale, coef, intercept = _fit_sign_classifier(x, returns, float(c))
    if fitted < 0:
        raise ValueError("returns must be finite: a row whose next return is unknown has no label")
    return (mean, scale, coef, intercept) if fitted else None


@njit(**ML_JIT)
def _fit_sign_classifier(x, returns, c):  # pragma: no cover - numba
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
    standard, mean, scale = _standardised(rows, SCALE_FLOOR)
    coef, intercept = fit_squared_hinge(standard, labels, c)
    return 1, mean, scale, coef, intercept


@njit(**ML_JIT)
def decision_function(x, mean, scale, coef, intercept):  # pragma: no cover - numba
    """((x - mean) / scale) . coef + intercept of each row of `x` (C-ordered float64): a fitted classifier's score,
    `scaled(x, mean, scale) @ coef + intercept` in one compiled call."""
    return np.dot(_scaled(x, mean, scale), coef) + intercept


# this module's compiled functions compile in walk_forward.py's: a cache stamped with their sources, dropped when they change
drop_stale_cache(
    Path(fit_squared_hinge.stats.cache_path), [Path(m.__file__) for m in (walk_forward,)] + [Path(__file__)], Path(__file__).stem
)
