"""The array NSGA-II (`evolution/nsga2.py`) makes DEAP's decisions, tie for tie: the same survivors in the same
order as `tools.selNSGA2(..., nd="log")`, the same fronts in `sortLogNondominated`'s order and the same crowding
distances as `assignCrowdingDist`, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from deap import base, tools

from quant_organism.backtest.objectives import OBJECTIVE_WEIGHTS
from quant_organism.evolution import nsga2


class _Fitness(base.Fitness):
    weights = OBJECTIVE_WEIGHTS


class _Individual:
    def __init__(self, values: np.ndarray) -> None:
        self.fitness = _Fitness()
        self.fitness.values = tuple(float(v) for v in values)


def _positions(individuals: list[_Individual], chosen: list[_Individual]) -> list[int]:
    where = {id(ind): k for k, ind in enumerate(individuals)}
    return [where[id(ind)] for ind in chosen]


def _populations(seed: int, trials: int):
    """Continuous values, coarse values with many ties, and populations with repeated rows (the worst
    objectives every invalid genome gets) and signed zeros."""
    rng = np.random.default_rng(seed)
    for trial in range(trials):
        n = int(rng.integers(1, 110))
        if trial % 3 == 0:
            values = rng.normal(size=(n, 4))
        elif trial % 3 == 1:
            values = rng.integers(0, 3, size=(n, 4)).astype(float)
        else:
            values = rng.normal(size=(n, 4))
            values[rng.random(n) < 0.3] = [-10.0, 0.0, 1.0, 50.0]
            values[:, 1] = np.round(values[:, 1], 1)
            values[rng.random((n, 4)) < 0.05] = -0.0
        yield values, int(rng.integers(1, n + 5))


def test_survivors_are_deaps_in_deaps_order() -> None:
    for values, k in _populations(seed=3, trials=400):
        individuals = [_Individual(v) for v in values]
        expected = _positions(individuals, tools.selNSGA2(individuals, k, nd="log"))
        assert nsga2.select(values, OBJECTIVE_WEIGHTS, k).tolist() == expected


def test_fronts_and_crowding_are_deaps_bit_for_bit() -> None:
    for values, _ in _populations(seed=4, trials=300):
        individuals = [_Individual(v) for v in values]
        fronts = tools.sortLogNondominated(individuals, len(individuals))
        weighted = values * np.asarray(OBJECTIVE_WEIGHTS, dtype=float)
        assert [f.tolist() for f in nsga2.pareto_fronts(weighted)] == [_positions(individuals, f) for f in fronts]
        ranks, crowding = nsga2.ranks_and_crowding(values, OBJECTIVE_WEIGHTS)
        for level, front in enumerate(fronts):
            tools.emo.assignCrowdingDist(front)
            where = _positions(individuals, front)
            assert ranks[where].tolist() == [level] * len(front)
            assert crowding[where].tobytes() == np.array([i.fitness.crowding_dist for i in front]).tobytes()


def test_sorting_refuses_non_finite_objectives_and_handles_the_empty_cases() -> None:
    with pytest.raises(ValueError, match="finite"):
        nsga2.pareto_fronts(np.array([[0.0, 1.0, np.nan, 0.0], [1.0, 1.0, 1.0, 1.0]]))
    assert nsga2.pareto_fronts(np.zeros((0, 4))) == []
    assert nsga2.select(np.zeros((0, 4)), OBJECTIVE_WEIGHTS, 3).tolist() == []
    assert nsga2.select(np.ones((2, 4)), OBJECTIVE_WEIGHTS, 5).tolist() == [0, 1]
