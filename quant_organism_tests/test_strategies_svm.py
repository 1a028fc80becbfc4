"""The compiled linear SVM solves scikit-learn's LinearSVC(dual=False) problem: same weights, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.svm import LinearSVC

from quant_organism.strategies.svm import fit_linear_svm


@pytest.mark.parametrize("seed", range(12))
def test_weights_match_liblinear_solved_to_a_tight_tolerance(seed):
    rng = np.random.default_rng(seed)
    n, d = int(rng.integers(50, 600)), int(rng.integers(2, 14))
    x = rng.normal(size=(n, d)) * rng.uniform(0.5, 3.0, d)
    y = np.where(x @ rng.normal(size=d) * 0.3 + rng.normal(size=n) >= 0, 1.0, -1.0)
    c = float(10.0 ** rng.uniform(-3, 2))
    coef, intercept = fit_linear_svm(x, y, c)
    reference = LinearSVC(C=c, dual=False, tol=1e-12, max_iter=100_000).fit(x, y)
    ours, theirs = np.r_[coef, intercept], np.r_[reference.coef_[0], reference.intercept_[0]]
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6 * np.abs(theirs).max())


@pytest.mark.parametrize("seed", range(6))
def test_weights_match_liblinear_when_every_row_stays_inside_the_margin(seed):
    """A refit's usual problem: a weak signal in standardised rows and a small C, so every row ends inside the margin
    (the solver's case without a copy of the rows)."""
    rng = np.random.default_rng(100 + seed)
    n, d = int(rng.integers(200, 1500)), int(rng.integers(2, 25))
    x = rng.normal(size=(n, d))
    y = np.where(x[:, 0] * 0.05 + rng.normal(size=n) >= 0, 1.0, -1.0)
    c = float(10.0 ** rng.uniform(-4, -2))
    coef, intercept = fit_linear_svm(x, y, c)
    assert np.all(y * (x @ coef + intercept) < 1.0)  # the case this test is about
    reference = LinearSVC(C=c, dual=False, tol=1e-12, max_iter=100_000).fit(x, y)
    ours, theirs = np.r_[coef, intercept], np.r_[reference.coef_[0], reference.intercept_[0]]
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6 * np.abs(theirs).max())


def test_separable_rows_get_a_separating_plane_and_bad_input_a_clear_error():
    x = np.array([[-2.0, 0.0], [-1.0, 0.5], [1.0, -0.5], [2.0, 0.0]])
    y = np.array([-1.0, -1.0, 1.0, 1.0])
    coef, intercept = fit_linear_svm(x, y, 100.0)
    assert np.all(np.sign(x @ coef + intercept) == y)
    with pytest.raises(ValueError, match="labels"):
        fit_linear_svm(x, np.array([0.0, 1.0, 1.0, -1.0]), 1.0)
    with pytest.raises(ValueError, match="C must be positive"):
        fit_linear_svm(x, y, 0.0)
    with pytest.raises(ValueError, match="one label per row"):
        fit_linear_svm(x, y[:3], 1.0)


@pytest.mark.parametrize("seed", range(8))
def test_a_refit_in_one_call_is_its_steps_one_by_one_to_the_last_bit(seed):
    """`fit_sign_classifier` (the seed's refit, one compiled call) labels rows by the sign of their return, leaves
    zero returns out, standardises and solves: the bits of those steps one by one; one class left gives None.
    `decision_function` scores rows as `scaled(x, mean, scale) @ coef + intercept`."""
    from quant_organism.strategies.compiled.hinge import decision_function
    from quant_organism.strategies.svm import fit_sign_classifier
    from quant_organism.strategies.walk_forward import scaled, standardised

    rng = np.random.default_rng(200 + seed)
    n, d = int(rng.integers(50, 1500)), int(rng.integers(2, 28))
    x = rng.normal(size=(n, d)) * rng.uniform(1e-3, 1e3, d) + rng.normal(size=d) * 10
    returns = x[:, 0] * 1e-4 * rng.uniform(-1, 1) + rng.normal(0, 0.01, n)
    returns[rng.random(n) < 0.1] = 0.0  # halted bars: no side
    returns[rng.random(n) < 0.02] = -0.0
    c = float(10.0 ** rng.uniform(-4, 1))
    mean, scale, coef, intercept = fit_sign_classifier(x, returns, c)

    keep = np.sign(returns) != 0
    rows, mean_, scale_ = standardised(x[keep])
    coef_, intercept_ = fit_linear_svm(rows, np.sign(returns[keep]), c)
    assert mean.tobytes() == mean_.tobytes() and scale.tobytes() == scale_.tobytes()
    assert coef.tobytes() == coef_.tobytes() and intercept == intercept_

    fresh = rng.normal(size=(int(rng.integers(1, 300)), d)) * x.std(axis=0) + x.mean(axis=0)
    expected = scaled(fresh, mean, scale) @ coef + intercept
    assert decision_function(fresh, mean, scale, coef, intercept).tobytes() == expected.tobytes()
    assert fit_sign_classifier(x, np.abs(returns), c) is None  # one class (and zeros): nothing to separate
    assert fit_sign_classifier(x, np.zeros(n), c) is None
    unknown = returns.copy()
    unknown[n // 2] = np.nan  # a row whose next return is unknown has no label: a clear error, not a guess
    with pytest.raises(ValueError, match="finite"):
        fit_sign_classifier(x, unknown, c)
