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

from quant_organism.strategies.compiled.hinge import fit_sign_classifier_nb, fit_squared_hinge


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
    fitted, mean, scale, coef, intercept = fit_sign_classifier_nb(x, returns, float(c))
    if fitted < 0:
        raise ValueError("returns must be finite: a row whose next return is unknown has no label")
    return (mean, scale, coef, intercept) if fitted else None


# this module's compiled functions compile in walk_forward.py's: a cache stamped with their sources, dropped when they change
