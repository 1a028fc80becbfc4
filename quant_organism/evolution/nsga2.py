"""NSGA-II's non-dominated sort, crowding distance and survivor selection on arrays: DEAP's results, in numpy.

An island sorts about a hundred individuals on four objectives twice a generation (parents for the crowded
tournaments, survivors for the next generation). DEAP does it in Python, one tuple comparison at a time, and
that was a fifth of an island's time outside the backtests. Here the same decisions come from a dominance
matrix and stable argsorts, and each one is DEAP's, tie for tie (pinned by tests against `deap.tools`):

- fronts are the Pareto ranks of the weighted values (a row dominates another when it is >= on every
  objective and > on one); within a front, rows come in descending lexicographic order of their weighted
  values, equal rows in input order (the order `sortLogNondominated` lists them in);
- the crowding distance of a front is `assignCrowdingDist`'s: per objective in turn, a stable sort that
  starts from the previous objective's order, the ends at infinity, each inner row adding its neighbours'
  gap over (objectives x range), in the same order of floating-point operations;
- selection keeps whole fronts while they fit and fills the rest from the last one by descending crowding
  distance, ties in front order (`selNSGA2`).
The dominance and the crowding loops are compiled (numba): as numpy calls on a hundred rows, each front and
each objective paid a dozen array calls' overhead, and the sorts of a generation cost a millisecond and a half.
"""

from __future__ import annotations

import numpy as np
from numba import njit


def pareto_fronts(weighted: np.ndarray, k: int | None = None) -> list[np.ndarray]:
    """Row positions of each front, best first, each in DEAP's order; with `k`, only the fronts that the first
    `k` rows fill (the last one whole), as `sortLogNondominated(individuals, k)` returns them."""
    weighted = np.asarray(weighted, dtype=np.float64)
    n = len(weighted)
    if n == 0 or k == 0:
        return []
    if not np.isfinite(weighted).all():
        raise ValueError("NSGA-II sorting needs finite objective values")
    order = _descending(weighted)
    level = _front_levels(np.ascontiguousarray(weighted), n if k is None else k)
    ranked = order[level[order] >= 0]
    ranked = ranked[np.argsort(level[ranked], kind="stable")]  # by front, each in `order`
    return np.split(ranked, np.cumsum(np.bincount(level[ranked]))[:-1])


def crowding_distance(values: np.ndarray) -> np.ndarray:
    """The crowding distance of each row of one front (unweighted objective values), as `assignCrowdingDist`."""
    return _crowding(np.ascontiguousarray(values, dtype=np.float64))


def select(values: np.ndarray, weights: tuple[float, ...], k: int) -> np.ndarray:
    """Positions of the `k` survivors, in DEAP's order (`selNSGA2(..., nd="log")`)."""
    values = np.asarray(values, dtype=np.float64)
    fronts = pareto_fronts(values * np.asarray(weights, dtype=np.float64), k)
    if not fronts:
        return np.zeros(0, dtype=np.int64)
    chosen = np.concatenate(fronts[:-1]) if len(fronts) > 1 else np.zeros(0, dtype=np.int64)
    last = fronts[-1]
    by_crowding = np.argsort(-crowding_distance(values[last]), kind="stable")
    return np.concatenate([chosen, last[by_crowding][: max(k - len(chosen), 0)]]).astype(np.int64)


def ranks_and_crowding(values: np.ndarray, weights: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Each row's front number and its crowding distance within that front (each front's rows in `pareto_fronts`'
    order: the crowding's stable sorts start from it). The fronts' loop is compiled: from Python, each front paid
    its array calls' overhead (73 -> 42 us for a hundred rows)."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    weighted = values * np.asarray(weights, dtype=np.float64)
    if not np.isfinite(weighted).all():
        raise ValueError("NSGA-II sorting needs finite objective values")
    return _crowding_by_front(np.ascontiguousarray(values), _descending(weighted), _front_levels(weighted, len(values)))


def _descending(weighted: np.ndarray) -> np.ndarray:
    """Row positions in descending lexicographic order of the weighted values, equal rows in input order."""
    return np.lexsort(tuple(-weighted[:, c] for c in reversed(range(weighted.shape[1]))))


@njit(cache=True)
def _front_levels(weighted: np.ndarray, limit: int) -> np.ndarray:
    """Each row's front number (-1 for rows past the front that fills `limit`): a row is in the next front
    when no row still unsorted dominates it (>= on every objective, > on one)."""
    n, m = weighted.shape
    dominated_by = np.zeros((n, n), dtype=np.bool_)  # [i, j]: row j dominates row i
    for i in range(n):
        for j in range(n):
            at_least, above = True, False
            for c in range(m):
                if weighted[j, c] < weighted[i, c]:
                    at_least = False
                    break
                if weighted[j, c] > weighted[i, c]:
                    above = True
            dominated_by[i, j] = at_least and above
    level = np.full(n, -1, dtype=np.int64)
    free = np.zeros(n, dtype=np.bool_)
    current, taken = 0, 0
    while taken < n and taken < limit:
        for i in range(n):
            free[i] = level[i] < 0
            if free[i]:
                for j in range(n):
                    if level[j] < 0 and dominated_by[i, j]:
                        free[i] = False
                        break
        for i in range(n):
            if free[i]:
                level[i] = current
                taken += 1
        current += 1
    return level


@njit(cache=True)
def _crowding(values: np.ndarray) -> np.ndarray:
    """`crowding_distance`: per objective a stable sort from the previous objective's order, the ends at
    infinity, each inner row adding its neighbours' gap over (objectives x range), in numpy's order of
    operations."""
    m, objectives = values.shape
    distance = np.zeros(m)
    if m == 0:
        return distance
    order = np.arange(m)
    column = np.empty(m)
    for c in range(objectives):
        for r in range(m):
            column[r] = values[order[r], c]
        order = order[np.argsort(column, kind="mergesort")]
        for r in range(m):
            column[r] = values[order[r], c]
        distance[order[0]] = np.inf
        distance[order[m - 1]] = np.inf
        if column[m - 1] == column[0]:
            continue
        norm = objectives * float(column[m - 1] - column[0])
        for r in range(1, m - 1):
            distance[order[r]] += (column[r + 1] - column[r - 1]) / norm
    return distance


@njit(cache=True)
def _crowding_by_front(values: np.ndarray, order: np.ndarray, level: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`ranks_and_crowding` from the rows' descending order and front numbers (every row has one): each front's
    rows taken in that order, as `pareto_fronts` lists them, and its crowding distance (`_crowding`)."""
    n = len(order)
    crowding = np.zeros(n)
    for front in range(level.max() + 1):
        members = np.empty(n, dtype=np.int64)
        count = 0
        for r in range(n):
            if level[order[r]] == front:
                members[count] = order[r]
                count += 1
        members = members[:count]
        distance = _crowding(values[members])
        for r in range(count):
            crowding[members[r]] = distance[r]
    return level.copy(), crowding
