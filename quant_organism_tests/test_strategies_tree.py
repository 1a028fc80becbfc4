"""The compiled PCA, regression tree and leaf quantiles are scikit-learn's and numpy's: the same projections, the
same rows in the same leaves, the same quantiles to the last bit."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.tree import DecisionTreeRegressor

from quant_organism.strategies.compiled.quantile_tree import apply_tree, leaf_quantiles_nb
from quant_organism.strategies.tree import feature_orders, fit_quantile_tree, fit_tree, pca


def _problem(seed: int):
    rng = np.random.default_rng(seed)
    n, d = int(rng.integers(200, 2000)), int(rng.integers(3, 14))
    x = rng.normal(size=(n, d)) * rng.uniform(0.5, 3.0, d)
    y = rng.standard_t(4, n) * 0.5
    return rng, x, y


@pytest.mark.parametrize("seed", range(25))
def test_pca_and_tree_match_sklearn(seed):
    rng, x, y = _problem(seed)
    components, depth, min_leaf = int(rng.integers(1, 9)), int(rng.integers(1, 9)), int(rng.integers(10, 201))
    components = min(components, x.shape[1])
    mean, axes = pca(x, components)
    reference = PCA(n_components=components, svd_solver="covariance_eigh").fit(x)
    assert np.array_equal(mean, reference.mean_) and np.array_equal(axes, reference.components_)

    z = np.ascontiguousarray((x - mean) @ axes.T, dtype=np.float32)
    _assert_sklearns_tree(rng, z, y, depth, min_leaf)


def _assert_sklearns_tree(rng, z, y, depth, min_leaf):
    """The training rows in the same leaves as sklearn's, and as many rows again drawn between and around them
    (where a threshold lies between two values matters), with no leaf below `min_leaf` training rows."""
    tree = fit_tree(z, y, depth, min_leaf)
    reference = DecisionTreeRegressor(max_depth=depth, min_samples_leaf=min_leaf, random_state=0).fit(z, y)
    between = z[rng.permutation(len(z))] + (z[rng.permutation(len(z))] - z[rng.permutation(len(z))]) * rng.uniform(0, 0.5)
    rows = np.concatenate([z, np.ascontiguousarray(between, dtype=np.float32)])
    ours, theirs = apply_tree(*tree, rows), reference.apply(rows)
    pairs = set(zip(ours.tolist(), theirs.tolist()))  # the same partition: leaf ids correspond one to one
    assert len(pairs) == len(set(ours.tolist())) == len(set(theirs.tolist()))
    trained = ours[: len(z)]
    assert min(np.bincount(trained)[np.unique(trained)]) >= min_leaf  # no leaf below min_samples_leaf


@pytest.mark.parametrize("seed", range(10))
def test_values_within_1e_7_are_not_split_between_as_in_sklearn(seed):
    """float32 values between 0.25 and 0.5 lie 3e-8 apart: neighbours on that grid are not split between (within
    1e-7), values a few steps apart are; exact ties too. The splits are sklearn's."""
    rng = np.random.default_rng(seed)
    n, k = int(rng.integers(200, 1500)), int(rng.integers(1, 5))
    steps = rng.integers(0, int(rng.integers(20, 400)), size=(n, k))
    z = np.ascontiguousarray(np.float32(0.3) + steps.astype(np.float32) * np.float32(2.0**-25), dtype=np.float32)
    assert np.all(np.diff(np.unique(z[:, 0]).astype(np.float64)) < 1e-7)
    y = rng.standard_t(4, n) * 0.5 + 0.3 * (steps[:, 0] % 7 < 3)
    _assert_sklearns_tree(rng, z, y, int(rng.integers(1, 6)), int(rng.integers(10, 60)))


def test_a_tree_stops_at_its_depth_and_on_constant_targets():
    z = np.arange(400, dtype=np.float32).reshape(-1, 1)
    feature, threshold, left, right = fit_tree(z, np.ones(400), 5, 10)
    assert list(feature) == [-1]  # nothing to explain: one leaf
    feature, *_ = fit_tree(z, np.sin(np.arange(400) / 7.0), 2, 10)
    assert (feature >= 0).sum() == 3  # depth 2: a root and two inner children


@pytest.mark.parametrize("seed", range(10))
def test_leaf_quantiles_are_numpys(seed):
    """A leaf's quantiles are `numpy.quantile`'s (linear method) to the last bit, whatever the leaf's size."""
    rng = np.random.default_rng(seed)
    q = float(rng.uniform(0.05, 0.45))
    levels = np.array([q, 0.5, 1.0 - q])
    for size in (1, 2, 3, *rng.integers(4, 2000, 20).tolist()):
        values = rng.standard_t(3, size)
        out = np.empty(3)
        leaf_quantiles_nb(np.sort(values), levels, out)
        assert out.tobytes() == np.quantile(values, levels).tobytes()


@pytest.mark.parametrize("seed", range(10))
def test_the_standardiser_is_numpys_mean_and_std_to_the_last_bit(seed):
    from quant_organism.strategies.walk_forward import standardised, standardiser

    rng = np.random.default_rng(seed)
    n, d = int(rng.integers(50, 2000)), int(rng.integers(2, 30))
    x = rng.normal(size=(n, d)) * rng.uniform(0.001, 100, d) + rng.normal(size=d) * 10
    x[:, 0] = 3.0  # a constant feature keeps scale 1
    mean, scale = standardiser(x)
    expected = x.std(axis=0)
    expected[0] = 1.0
    np.testing.assert_array_equal(mean, x.mean(axis=0))
    np.testing.assert_array_equal(scale, expected)
    rows, mean_, scale_ = standardised(x)  # the same, with the rows standardised in the same compiled call
    assert mean_.tobytes() == mean.tobytes() and scale_.tobytes() == scale.tobytes()
    assert rows.tobytes() == ((x - mean) / scale).tobytes()


@pytest.mark.parametrize("seed", range(20))
def test_a_quantile_tree_grown_with_its_table_is_the_tree_then_its_leaves_quantiles(seed):
    """`fit_quantile_tree` takes each leaf's quantiles from the rows it holds while growing: the same nodes as
    `fit_tree` and, bit for bit, numpy's quantiles of the training rows `apply_tree` sends to each leaf (NaN for
    inner nodes), coarse values with ties included."""
    rng, x, y = _problem(seed)
    if seed % 2:
        x = np.round(x, 1)  # many ties: splits must not fall between equal values
    z = np.ascontiguousarray(x[:, : int(rng.integers(1, x.shape[1] + 1))], dtype=np.float32)
    depth, min_leaf = int(rng.integers(1, 9)), int(rng.integers(10, 201))
    q = float(rng.uniform(0.05, 0.45))
    levels = np.array([q, 0.5, 1.0 - q])
    nodes, table = fit_quantile_tree(z, y, depth, min_leaf, levels)
    for ours, plain in zip(nodes, fit_tree(z, y, depth, min_leaf)):
        assert np.array_equal(ours, plain)
    leaves = apply_tree(*nodes, z)
    expected = np.full((len(nodes[0]), 3), np.nan)
    for leaf in np.unique(leaves):
        expected[leaf] = np.quantile(y[leaves == leaf], levels)
    assert table.tobytes() == expected.tobytes()


def test_column_means_are_numpys_to_the_last_bit():
    from quant_organism.strategies.walk_forward import column_means

    rng = np.random.default_rng(3)
    for _ in range(20):
        x = rng.normal(size=(int(rng.integers(1, 3000)), int(rng.integers(1, 20)))) * rng.uniform(1e-3, 1e3)
        assert column_means(x).tobytes() == x.mean(axis=0).tobytes()


@pytest.mark.parametrize("seed", range(10))
def test_the_compiled_element_wise_steps_are_numpys_to_the_last_bit(seed):
    """What the ML seeds' refits and predictions compute in one compiled pass is numpy's arithmetic bit for bit:
    rows scaled by a fitted standardiser (`scaled`), projected on PCA components (`project`), and the rows whose
    features are all finite (`finite_rows`), on values with NaN, infinities, signed zeros and huge magnitudes."""
    from quant_organism.strategies.tree import project
    from quant_organism.strategies.walk_forward import finite_rows, scaled

    rng = np.random.default_rng(seed)
    n, d = int(rng.integers(1, 1500)), int(rng.integers(2, 28))
    x = rng.normal(size=(n, d)) * rng.uniform(1e-3, 1e3, d)
    x[rng.random((n, d)) < 0.02] = np.nan
    x[rng.random((n, d)) < 0.01] = -np.inf
    x[rng.random((n, d)) < 0.01] = -0.0
    mean, scale, center = rng.normal(size=d), rng.uniform(0.1, 10.0, d), rng.normal(size=d)
    components = rng.normal(size=(int(rng.integers(1, d + 1)), d))
    assert scaled(x, mean, scale).tobytes() == ((x - mean) / scale).tobytes()
    with np.errstate(invalid="ignore"):  # inf - inf in the products, as in a refit's
        expected = np.ascontiguousarray((((x - mean) / scale) - center) @ components.T, dtype=np.float32)
        assert project(x, mean, scale, center, components).tobytes() == expected.tobytes()
        one = np.ascontiguousarray((((x[0] - mean) / scale) - center) @ components.T, dtype=np.float32)
        assert project(x[0], mean, scale, center, components).tobytes() == one.tobytes()  # a single row
    assert scaled(x[0], mean, scale).tobytes() == ((x[0] - mean) / scale).tobytes()
    assert np.array_equal(finite_rows(x), np.isfinite(x).all(axis=1))
    assert np.array_equal(finite_rows(x[:, :1]), np.isfinite(x[:, :1]).all(axis=1))


@pytest.mark.parametrize("seed", range(6))
def test_each_features_order_is_numpys_stable_argsort(seed):
    """The tree sorts each feature of its float32 rows by a radix sort of their bits: numpy's stable argsort, with
    ties (rounded values, -0.0 beside 0.0) in row order, infinities at the ends and NaN after them, whatever the
    row count."""
    rng = np.random.default_rng(seed)
    for n in (1, 2, 7, 255, 256, 257, 1500):
        z = (rng.normal(size=(n, 4)) * rng.choice([1e-3, 1.0, 1e6], 4)).astype(np.float32)
        z[::3, 0] = np.round(z[::3, 0], 1)
        z[::5, 1] = -0.0
        z[::7, 1] = 0.0
        z[:2, 2], z[2:4, 2], z[4:6, 2], z[6:7, 3] = np.inf, -np.inf, np.nan, -np.nan
        assert np.array_equal(feature_orders(z), np.argsort(np.ascontiguousarray(z.T), axis=1, kind="stable"))
    wide = rng.normal(size=(50, 3))  # float64 rows take numpy's own sort
    assert np.array_equal(feature_orders(wide), np.argsort(wide.T, axis=1, kind="stable"))


@pytest.mark.parametrize("seed", range(12))
def test_a_refit_in_one_call_is_its_steps_one_by_one_to_the_last_bit(seed):
    """`fit_pca_quantile_tree` (the seed's refit, one compiled call after the covariance product) gives the
    standardiser, PCA, tree and table of its steps made one by one (each checked against sklearn or numpy above), and
    `predict_leaf_quantiles` the table's rows of the leaves `project` and `apply_tree` give, on rows never fitted."""
    from quant_organism.strategies.tree import fit_pca_quantile_tree, predict_leaf_quantiles, project
    from quant_organism.strategies.walk_forward import standardised

    rng, x, y = _problem(100 + seed)
    x[:, 0] += 50.0  # features far from standardised, as a refit's raw features are
    components, depth, min_leaf = int(rng.integers(1, 12)), int(rng.integers(1, 9)), int(rng.integers(10, 201))
    q = float(rng.uniform(0.05, 0.45))
    levels = np.array([q, 0.5, 1.0 - q])
    mean, scale, center, axes, *nodes, table = fit_pca_quantile_tree(x, y, components, depth, min_leaf, levels)

    rows, mean_, scale_ = standardised(x)
    center_, axes_ = pca(rows, min(components, x.shape[1]))
    z = np.ascontiguousarray((rows - center_) @ axes_.T, dtype=np.float32)
    nodes_, table_ = fit_quantile_tree(z, y, depth, min_leaf, levels)
    for ours, steps in zip((mean, scale, center, axes, *nodes, table), (mean_, scale_, center_, axes_, *nodes_, table_)):
        assert ours.dtype == steps.dtype and ours.tobytes() == steps.tobytes()
    assert project(x, mean, scale, center, axes).tobytes() == z.tobytes()  # a prediction projects as the fit did

    fresh = rng.normal(size=(int(rng.integers(1, 400)), x.shape[1])) * x.std(axis=0) + x.mean(axis=0)
    expected = table[apply_tree(*nodes, project(fresh, mean, scale, center, axes))]
    got = predict_leaf_quantiles(fresh, mean, scale, center, axes, *nodes, table)
    assert got.tobytes() == expected.tobytes()
