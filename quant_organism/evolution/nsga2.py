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
"""

from __future__ import annotations

import numpy as np


def pareto_fronts(weighted: np.ndarray, k: int | None = None) -> list[np.ndarray]:
    """Row positions of each front, best first, each in DEAP's order; with `k`, only the fronts that the first
    `k` rows fill (the last one whole), as `sortLogNondominated(individuals, k)` returns them."""
    weighted = np.asarray(weighted, dtype=np.float64)
    n = len(weighted)
    if n == 0 or k == 0:
        return []
    if not np.isfinite(weighted).all():
        raise ValueError("NSGA-II sorting needs finite objective values")
    at_least = (weighted[None, :, :] >= weighted[:, None, :]).all(axis=2)  # [i, j]: row j >= row i everywhere
    above = (weighted[None, :, :] > weighted[:, None, :]).any(axis=2)
    dominated_by = at_least & above  # [i, j]: row j dominates row i
    order = np.lexsort(tuple(-weighted[:, c] for c in reversed(range(weighted.shape[1]))))  # descending, stable
    remaining = np.ones(n, dtype=bool)
    fronts: list[np.ndarray] = []
    taken, limit = 0, n if k is None else k
    while remaining.any() and taken < limit:
        free = remaining & ~(dominated_by & remaining[None, :]).any(axis=1)
        front = order[free[order]]
        fronts.append(front)
        remaining[front] = False
        taken += len(front)
    return fronts


def crowding_distance(values: np.ndarray) -> np.ndarray:
    """The crowding distance of each row of one front (unweighted objective values), as `assignCrowdingDist`."""
    values = np.asarray(values, dtype=np.float64)
    m, objectives = values.shape
    distance = np.zeros(m)
    order = np.arange(m)
    for c in range(objectives):
        order = order[np.argsort(values[order, c], kind="stable")]
        column = values[order, c]
        distance[order[0]] = distance[order[-1]] = np.inf
        if column[-1] == column[0]:
            continue
        norm = objectives * float(column[-1] - column[0])
        distance[order[1:-1]] += (column[2:] - column[:-2]) / norm
    return distance


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
    """Each row's front number and its crowding distance within that front."""
    values = np.asarray(values, dtype=np.float64)
    ranks = np.zeros(len(values), dtype=np.int64)
    crowding = np.zeros(len(values))
    for level, front in enumerate(pareto_fronts(values * np.asarray(weights, dtype=np.float64))):
        ranks[front] = level
        crowding[front] = crowding_distance(values[front])
    return ranks, crowding
