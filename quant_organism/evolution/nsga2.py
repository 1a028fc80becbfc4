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

from quant_organism.evolution.compiled.fronts import crowding_by_front_nb, crowding_nb, front_levels_nb


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
    level = front_levels_nb(np.ascontiguousarray(weighted), n if k is None else k)
    ranked = order[level[order] >= 0]
    ranked = ranked[np.argsort(level[ranked], kind="stable")]  # by front, each in `order`
    return np.split(ranked, np.cumsum(np.bincount(level[ranked]))[:-1])


def crowding_distance(values: np.ndarray) -> np.ndarray:
    """The crowding distance of each row of one front (unweighted objective values), as `assignCrowdingDist`."""
    return crowding_nb(np.ascontiguousarray(values, dtype=np.float64))


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
    return crowding_by_front_nb(np.ascontiguousarray(values), _descending(weighted), front_levels_nb(weighted, len(values)))


def _descending(weighted: np.ndarray) -> np.ndarray:
    """Row positions in descending lexicographic order of the weighted values, equal rows in input order."""
    return np.lexsort(tuple(-weighted[:, c] for c in reversed(range(weighted.shape[1]))))
