"""The PCA and quantile tree's fit and prediction, compiled: see strategies/tree.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numba import njit

from quant_organism.core.numba_cache import drop_stale_cache

from . import features
from .features import ML_JIT, row_after_row_means, standardised_centred

FEATURE_THRESHOLD = 1e-7  # sklearn: values closer than this are not split between
EPSILON = np.finfo(np.float64).eps


@njit(**ML_JIT)
def pca_axes_nb(covariance, mean, n_samples, n_components):  # pragma: no cover - numba
    """The principal axes from the uncentred product `x.T @ x` (overwritten with the covariance), as `pca`."""
    _centre_covariance(covariance, mean, n_samples)
    _, vectors = np.linalg.eigh(covariance)
    return _components(vectors, n_components)


@njit(**ML_JIT)
def project_nb(x, mean, scale, center, components):  # pragma: no cover - numba
    return np.dot(standardised_centred(x, mean, scale, center), components.T).astype(np.float32)


@njit(**ML_JIT)
def fit_after_covariance_nb(rows, product, y, n_components, max_depth, min_leaf, levels):  # pragma: no cover - numba
    center = row_after_row_means(rows)
    components = pca_axes_nb(product, center, rows.shape[0], n_components)
    z = np.dot(_centred(rows, center), components.T).astype(np.float32)
    feature, threshold, left, right, table = grow_tree_nb(
        z, y, max_depth, min_leaf, radix_orders_nb(np.ascontiguousarray(z.T)), levels
    )
    return center, components, feature, threshold, left, right, table


@njit(**ML_JIT)
def predict_leaf_quantiles_nb(x, mean, scale, center, components, feature, threshold, left, right, table):  # pragma: no cover
    leaves = apply_tree(feature, threshold, left, right, project_nb(x, mean, scale, center, components))
    out = np.empty((leaves.shape[0], table.shape[1]))
    for i in range(leaves.shape[0]):
        out[i] = table[leaves[i]]
    return out


@njit(**ML_JIT)
def _centred(rows, center):  # pragma: no cover - numba
    out = np.empty(rows.shape)
    for i in range(rows.shape[0]):
        for j in range(rows.shape[1]):
            out[i, j] = rows[i, j] - center[j]
    return out


@njit(**ML_JIT)
def _centre_covariance(covariance, mean, n_samples):  # pragma: no cover - numba
    """`covariance -= n_samples * mean[:, None] * mean[None, :]; covariance /= n_samples - 1`, element by element
    in numpy's order of operations."""
    d = mean.shape[0]
    count = np.float64(n_samples)
    for i in range(d):
        scaled = count * mean[i]
        for j in range(d):
            covariance[i, j] = covariance[i, j] - scaled * mean[j]
    below = np.float64(n_samples - 1)
    for i in range(d):
        for j in range(d):
            covariance[i, j] = covariance[i, j] / below


@njit(**ML_JIT)
def _components(vectors, n_components):  # pragma: no cover - numba
    """The `n_components` strongest of `eigh`'s eigenvectors (its columns, weakest first), as rows, each signed so
    that its entry of largest magnitude (the first such) is positive: sklearn's `svd_flip` on `np.flip(vectors,
    axis=1).T`."""
    d = vectors.shape[0]
    out = np.empty((n_components, d))
    for i in range(n_components):
        column = d - 1 - i
        strongest, largest = 0, -1.0
        for j in range(d):
            size = abs(vectors[j, column])
            if size != size:  # numpy's argmax stops at the first NaN
                strongest = j
                break
            if size > largest:
                strongest, largest = j, size
        sign = np.sign(vectors[strongest, column])
        for j in range(d):
            out[i, j] = vectors[j, column] * sign
    return out


@njit(**ML_JIT)
def _best_split(z, y, ranked, min_leaf):  # pragma: no cover - numba
    """(feature, threshold, left row count) of the node's best split, or feature -1 without a valid one.
    `ranked[f]` holds the node's rows in increasing order of feature f.

    Per feature: the sorted values and the running sums of the targets first, then every split position's proxy
    in one loop without branches (it compiles to vector divisions; the scan that skipped ties as it went divided
    one position at a time), then the first position of the largest. A position p (p rows left) is a candidate
    when its value is more than 1e-7 above the one before: the same candidates, sums and proxies, in the same
    order, as the scan's (the same splits, test_strategies_tree.py)."""
    k, n = ranked.shape
    total = 0.0
    for i in range(n):
        total += y[ranked[0, i]]
    values = np.empty(n)
    sums = np.empty(n)
    proxies = np.empty(n)
    first, last = max(min_leaf, 1), min(n - min_leaf, n - 1)  # the positions both sides' sizes allow
    best_proxy = -np.inf
    best_feature, best_threshold, best_left = -1, 0.0, 0
    for f in range(k):
        rows = ranked[f]
        for i in range(n):
            values[i] = np.float64(z[rows[i], f])
        if values[n - 1] <= values[0] + FEATURE_THRESHOLD:
            continue  # a constant feature in this node
        running = 0.0
        for i in range(n):
            running += y[rows[i]]
            sums[i] = running  # the left side's sum when the first i + 1 rows go left
        top = _proxies(sums[first - 1 : last], values[first - 1 : last + 1], total, first, n, proxies[first : last + 1])
        if top > best_proxy:
            for p in range(first, last + 1):
                if proxies[p] == top:
                    best_proxy, best_feature, best_left = top, f, p
                    best_threshold = values[p - 1] / 2.0 + values[p] / 2.0
                    break
    return best_feature, best_threshold, best_left


@njit(**ML_JIT)
def _proxies(sums, values, total, first, n, out):  # pragma: no cover - numba
    """sum_left²/n_left + sum_right²/n_right of the positions first, first + 1, ... (`sums[i]` the left sum and
    `values[i]`, `values[i + 1]` the values either side of position first + i) into `out`, -1 where the values are
    within 1e-7 (not a candidate; a proxy is never negative), and the largest. Indices start at 0 so that numba
    emits no negative-index check and the loop vectorises (2.8x faster on a refit's rows)."""
    top = -1.0
    for i in range(out.shape[0]):
        left_sum = sums[i]
        right_sum = total - left_sum
        p = np.float64(first + i)
        proxy = left_sum * left_sum / p + right_sum * right_sum / (n - p)
        out[i] = proxy if values[i + 1] > values[i] + FEATURE_THRESHOLD else -1.0
    for i in range(out.shape[0]):
        top = max(top, out[i])
    return top if top >= 0.0 else -np.inf


@njit(**ML_JIT)
def _impurity(y, rows):  # pragma: no cover - numba
    total = 0.0
    squares = 0.0
    for i in range(rows.shape[0]):
        v = y[rows[i]]
        total += v
        squares += v * v
    mean = total / rows.shape[0]
    return squares / rows.shape[0] - mean * mean


@njit(**ML_JIT)
def _partition(ranked, goes_left, n_left):  # pragma: no cover - numba
    """Each feature's ranked rows split into the left and right child's, order kept (a stable partition). Each row is
    written to the next free slot of its side, chosen without a branch (a row's side in another feature's order is
    as good as random: the branch the partition took mispredicted about half the time, 2.2x slower)."""
    k, n = ranked.shape
    left = np.empty((k, n_left), dtype=np.int64)
    right = np.empty((k, n - n_left), dtype=np.int64)
    both = np.empty(n, dtype=np.int64)  # the left rows, then the right rows
    for f in range(k):
        a, b = 0, n_left
        for i in range(n):
            row = ranked[f, i]
            side = goes_left[row]
            both[a if side else b] = row
            a += side
            b += 1 - side
        left[f, :] = both[:n_left]
        right[f, :] = both[n_left:]
    return left, right


@njit(**ML_JIT)
def radix_orders_nb(columns):  # pragma: no cover - numba
    """`feature_orders` of float32 rows: a least significant digit first radix sort (stable) of keys that order as
    the values do (-0.0 as 0.0, NaN after +inf, as numpy sorts them), a byte per pass, skipping a byte that every
    key shares."""
    k, n = columns.shape
    out = np.empty((k, n), np.int64)
    keys = np.empty(n, np.uint32)
    spare_keys = np.empty(n, np.uint32)
    order = np.empty(n, np.int64)
    spare = np.empty(n, np.int64)
    counts = np.empty(256, np.int64)
    for f in range(k):
        bits = columns[f].view(np.uint32)
        for i in range(n):
            u = np.uint32(bits[i])
            if (u & np.uint32(0x7FFFFFFF)) > np.uint32(0x7F800000):
                keys[i] = np.uint32(0xFFFFFFFF)  # NaN, after every number
            elif u == np.uint32(0x80000000):
                keys[i] = np.uint32(0x80000000)  # -0.0, as 0.0
            elif u >= np.uint32(0x80000000):
                keys[i] = ~u  # negative: larger magnitudes first
            else:
                keys[i] = u | np.uint32(0x80000000)
            order[i] = i
        for shift in range(0, 32, 8):
            counts[:] = 0
            for i in range(n):
                counts[(keys[i] >> shift) & 0xFF] += 1
            if counts[(keys[0] >> shift) & 0xFF] == n:
                continue  # every key has this byte: the pass would keep the order
            total = 0
            for b in range(256):
                c = counts[b]
                counts[b] = total
                total += c
            for i in range(n):
                d = (keys[i] >> shift) & 0xFF
                p = counts[d]
                counts[d] = p + 1
                spare_keys[p] = keys[i]
                spare[p] = order[i]
            keys, spare_keys = spare_keys, keys
            order, spare = spare, order
        out[f] = order
    return out


@njit(**ML_JIT)
def grow_tree_nb(z, y, max_depth, min_leaf, ranked, levels):  # pragma: no cover - numba
    n, k = z.shape
    capacity = 2 ** (max_depth + 1)
    feature = np.full(capacity, -1, dtype=np.int64)
    threshold = np.zeros(capacity)
    left = np.full(capacity, -1, dtype=np.int64)
    right = np.full(capacity, -1, dtype=np.int64)
    table = np.full((capacity, levels.shape[0]), np.nan)
    goes_left = np.zeros(n, dtype=np.bool_)
    stack_rows = [ranked]
    stack_node = [0]
    stack_depth = [0]
    count = 1
    while len(stack_rows) > 0:
        node_rows = stack_rows.pop()
        node = stack_node.pop()
        depth = stack_depth.pop()
        m = node_rows.shape[1]
        f, t, n_left = -1, 0.0, 0
        if not (depth >= max_depth or m < 2 or m < 2 * min_leaf or _impurity(y, node_rows[0]) <= EPSILON):
            f, t, n_left = _best_split(z, y, node_rows, min_leaf)
        if f < 0:  # a leaf: the quantiles of its rows' targets
            leaf_quantiles_nb(np.sort(y[node_rows[0]]), levels, table[node])
            continue
        feature[node], threshold[node] = f, t
        left[node], right[node] = count, count + 1
        count += 2
        for i in range(m):
            goes_left[node_rows[f, i]] = i < n_left
        rows_left, rows_right = _partition(node_rows, goes_left, n_left)
        stack_rows.append(rows_right)  # right first: the left child is grown first, as sklearn does
        stack_node.append(right[node])
        stack_depth.append(depth + 1)
        stack_rows.append(rows_left)
        stack_node.append(left[node])
        stack_depth.append(depth + 1)
    return feature[:count], threshold[:count], left[:count], right[:count], table[:count]


@njit(**ML_JIT)
def apply_tree(feature, threshold, left, right, z):  # pragma: no cover - numba
    """The leaf (node id) of each row of `z`: left while its value <= the node's threshold."""
    out = np.empty(z.shape[0], dtype=np.int64)
    for i in range(z.shape[0]):
        node = 0
        while feature[node] >= 0:
            node = left[node] if np.float64(z[i, feature[node]]) <= threshold[node] else right[node]
        out[i] = node
    return out


@njit(**ML_JIT)
def leaf_quantiles_nb(values, levels, out):  # pragma: no cover - numba
    """`numpy.quantile(values, levels)` of sorted `values` into `out`: virtual index (n - 1) q, and numpy's
    two-sided interpolation between the neighbouring order statistics."""
    m = values.shape[0]
    for j in range(levels.shape[0]):
        virtual = (m - 1) * levels[j]
        if virtual >= m - 1:
            out[j] = values[m - 1]
            continue
        below = np.floor(virtual)
        gamma = virtual - below
        a, b = values[int(below)], values[int(below) + 1]
        diff = b - a
        out[j] = b - diff * (1.0 - gamma) if gamma >= 0.5 else a + diff * gamma


drop_stale_cache(Path(grow_tree_nb.stats.cache_path), [Path(features.__file__), Path(__file__)], Path(__file__).stem)
