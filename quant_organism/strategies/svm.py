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

import numpy as np
from numba import njit

GRADIENT_TOL = 1e-10  # relative to max(1, |first gradient|)
MAX_NEWTON_STEPS = 100


@njit(cache=True)
def _objective(w, x, y, c):  # pragma: no cover - numba
    total = 0.5 * np.dot(w, w)
    for i in range(x.shape[0]):
        slack = 1.0 - y[i] * (np.dot(x[i], w[:-1]) + w[-1])
        if slack > 0.0:
            total += c * slack * slack
    return total


@njit(cache=True)
def fit_squared_hinge(x, y, c):  # pragma: no cover - numba
    """(w, b) minimising the problem above for rows x (n x d, float64) and labels y in {-1, +1}."""
    n, d = x.shape
    k = d + 1
    w = np.zeros(k)
    first = -1.0
    for _ in range(MAX_NEWTON_STEPS):
        grad = w.copy()
        hess = np.eye(k)
        for i in range(n):
            margin = y[i] * (np.dot(x[i], w[:d]) + w[d])
            slack = 1.0 - margin
            if slack > 0.0:
                scale = -2.0 * c * y[i] * slack
                for a in range(d):
                    grad[a] += scale * x[i, a]
                    for b in range(a, d):
                        hess[a, b] += 2.0 * c * x[i, a] * x[i, b]
                    hess[a, d] += 2.0 * c * x[i, a]
                grad[d] += scale
                hess[d, d] += 2.0 * c
        for a in range(k):
            for b in range(a):
                hess[a, b] = hess[b, a]
        norm = np.sqrt(np.dot(grad, grad))
        if first < 0.0:
            first = max(norm, 1.0)
        if norm <= GRADIENT_TOL * first:
            break
        step = np.linalg.solve(hess, -grad)
        before = _objective(w, x, y, c)
        slope = np.dot(grad, step)
        t = 1.0
        while t > 1e-12:
            trial = w + t * step
            if _objective(trial, x, y, c) <= before + 0.01 * t * slope:
                w = trial
                break
            t *= 0.5
        else:
            break
    return w[:d].copy(), w[d]


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
