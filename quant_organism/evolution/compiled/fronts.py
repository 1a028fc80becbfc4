"""Non-dominated fronts and crowding distances, compiled: see evolution/nsga2.py for the rule."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def front_levels_nb(weighted: np.ndarray, limit: int) -> np.ndarray:
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
def crowding_nb(values: np.ndarray) -> np.ndarray:
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
def crowding_by_front_nb(values: np.ndarray, order: np.ndarray, level: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`ranks_and_crowding` from the rows' descending order and front numbers (every row has one): each front's
    rows taken in that order, as `pareto_fronts` lists them, and its crowding distance (`crowding_nb`)."""
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
        distance = crowding_nb(values[members])
        for r in range(count):
            crowding[members[r]] = distance[r]
    return level.copy(), crowding
