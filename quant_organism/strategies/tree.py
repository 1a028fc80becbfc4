"""The regression tree and PCA the `pca_tree_quantile` seed refits, compiled: scikit-learn's algorithms, without
its per-call cost.

- `pca`: sklearn's `PCA(svd_solver="covariance_eigh")` step by step (covariance, LAPACK's `eigh` as numpy calls it,
  components in decreasing variance, `svd_flip`'s sign rule), so the projection is the same to the last bit.
- `fit_tree`: CART with the squared error, grown depth first like `DecisionTreeRegressor(max_depth,
  min_samples_leaf)`: at each node every feature's sorted values are scanned for the split maximising
  sum_left²/n_left + sum_right²/n_right (sklearn's proxy), skipping positions between values within 1e-7 of
  each other and sides smaller than `min_leaf`; the threshold is the midpoint of the two values, a row goes left
  when its value <= threshold; a node is a leaf at `max_depth`, below 2 x `min_leaf` rows, with an impurity
  within machine epsilon of 0, or without a valid split. Features are visited in index order where sklearn
  visits them in a seeded random order: the two differ only when two features split equally well to the last bit.

test_strategies_tree.py checks both against scikit-learn: the same rows in the same leaves. A refit sees a few
hundred rows of at most eight components; sklearn's estimators spend most of such a call in checks and setup. The
seed's refit and prediction each run as one compiled call (`fit_pca_quantile_tree`, `predict_leaf_quantiles`).
"""

from __future__ import annotations

import numpy as np

from quant_organism.strategies.compiled.quantile_tree import (
    fit_after_covariance_nb,
    grow_tree_nb,
    pca_axes_nb,
    predict_leaf_quantiles_nb,
    project_nb,
    radix_orders_nb,
)

from .walk_forward import column_means, standardised


def pca(x: np.ndarray, n_components: int) -> tuple[np.ndarray, np.ndarray]:
    """(mean, components) as `PCA(n_components, svd_solver="covariance_eigh").fit(x)` sets `mean_`, `components_`:
    the covariance product numpy's (`x.T @ x`: BLAS's symmetric rank-k update, whose bits no other product gives),
    the eigensolver LAPACK's (`eigh`, called from compiled code) and the element-wise steps around them compiled
    with numpy's arithmetic (a refit's covariance is a few dozen features square: numpy's small calls around them
    cost half of this function)."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    mean = column_means(x)  # np.mean(x, axis=0)'s bits, without its per-call cost
    return mean, pca_axes_nb(x.T @ x, mean, x.shape[0], n_components)


def project(x: np.ndarray, mean: np.ndarray, scale: np.ndarray, center: np.ndarray, components: np.ndarray) -> np.ndarray:
    """`(((x - mean) / scale) - center) @ components.T` as float32 C-order (the tree's input), in one compiled call:
    the element-wise part in numpy's order of operations, the product BLAS's matrix product, as numpy's."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    if x.ndim != 2:
        return np.ascontiguousarray((((x - mean) / scale) - center) @ components.T, dtype=np.float32)
    return project_nb(x, mean, scale, center, components)


def fit_pca_quantile_tree(
    x: np.ndarray, y: np.ndarray, n_components: int, max_depth: int, min_leaf: int, levels: np.ndarray
) -> tuple[np.ndarray, ...]:
    """A refit of the `pca_tree_quantile` seed: (mean, scale) of `standardised(x)`, (center, components) of `pca` on
    those rows, then the `fit_quantile_tree` (nodes, table) of their projection (`project`'s arithmetic), each to
    the bit of the step-by-step functions (test_strategies_tree.py). One compiled call after the covariance product
    (numpy's: its bits are sklearn's), where the steps one by one made a dozen calls per refit."""
    rows, mean, scale = standardised(x)
    center, components, *tree = fit_after_covariance_nb(
        rows,
        rows.T @ rows,
        np.ascontiguousarray(y, dtype=np.float64),
        int(min(n_components, rows.shape[1], rows.shape[0])),
        int(max_depth),
        int(min_leaf),
        np.ascontiguousarray(levels, dtype=np.float64),
    )
    return (mean, scale, center, components, *tree)


def predict_leaf_quantiles(x, mean, scale, center, components, feature, threshold, left, right, table) -> np.ndarray:
    """The quantiles (rows of `table`) of the leaf each row of `x` falls in: `project`, `apply_tree` and the table's
    rows, in one compiled call (a prediction block is a few hundred rows)."""
    return predict_leaf_quantiles_nb(
        np.ascontiguousarray(x, dtype=np.float64), mean, scale, center, components, feature, threshold, left, right, table
    )


def fit_tree(z: np.ndarray, y: np.ndarray, max_depth: int, min_leaf: int) -> tuple[np.ndarray, ...]:
    """Nodes as arrays (feature, threshold, left child, right child; feature -1 marks a leaf) of the tree for
    rows `z` (float32, n x k) and targets `y` (module docstring). Each feature is sorted once (`feature_orders`)
    and a split partitions every feature's order stably, so a level costs one pass over the rows per feature."""
    return fit_quantile_tree(z, y, max_depth, min_leaf, np.zeros(0))[0]


def feature_orders(z: np.ndarray) -> np.ndarray:
    """Each feature's rows (columns of `z`) in increasing order of value, equal values in row order: numpy's stable
    argsort, by a radix sort of the float32 bits for the tree's float32 rows (2.3x faster than numpy's default
    argsort on a refit's rows, 30 against 70 us, 2026-11-28). Ties were ordered by numpy's unstable sort before;
    the trees of 1,500 refits captured from evolution (19 with ties ordered otherwise) came out the same."""
    columns = np.ascontiguousarray(z.T)
    if columns.dtype != np.float32 or columns.ndim != 2:
        return np.argsort(columns, axis=-1, kind="stable").astype(np.int64)
    return radix_orders_nb(columns)


def fit_quantile_tree(
    z: np.ndarray, y: np.ndarray, max_depth: int, min_leaf: int, levels: np.ndarray
) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """(`fit_tree`'s nodes, table node id -> quantiles `levels` of the targets of the training rows in that leaf,
    NaN for inner nodes), as `numpy.quantile`'s default (linear) method computes them, to the last bit, from the
    rows each leaf holds as the tree is grown. A leaf's rows are those `apply_tree` sends there: a split puts the rows up to a sorted
    position left and the threshold lies strictly between that value and the next, more than 1e-7 apart."""
    ranked = feature_orders(z)
    y = np.ascontiguousarray(y, dtype=np.float64)
    *nodes, table = grow_tree_nb(z, y, int(max_depth), int(min_leaf), ranked, np.ascontiguousarray(levels, dtype=np.float64))
    return tuple(nodes), table


# this module's compiled functions compile in walk_forward.py's: a cache stamped with their sources, dropped when they change
