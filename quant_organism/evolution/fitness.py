"""Universal fitness: a genome is backtested on every coin of the universe and judged on all of them.

Objectives across coins (matching `OBJECTIVE_WEIGHTS` = (1, 1, -1, -1)):
- sharpe: mean of the coins' (clipped) Sharpe ratios;
- consistency: mean share of positive weeks;
- max_drawdown: the WORST coin's drawdown (a strategy is as risky as its worst market);
- turnover: mean annualised turnover.
A genome invalid on any coin (too few trades there, or a non-finite metric) gets `WORST_OBJECTIVES`:
a rule that only works on some coins is not universal. The scalar `score` is the backtest's
`FitnessConfig.score` of the aggregated objectives, so it never ranks a genome above one that
Pareto-dominates it.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from quant_organism.backtest.costs import CostModel
from quant_organism.backtest.evaluate import evaluate_population
from quant_organism.backtest.fitness import OBJECTIVE_COLUMNS, WORST_OBJECTIVES, FitnessConfig
from quant_organism.strategies.genes import SeedGenes

MEAN_METRICS = ("total_return", "sharpe", "sortino", "win_rate", "exposure", "consistency", "turnover", "fees", "funding")
"""Metrics reported as the mean over coins; max_drawdown is the worst coin's, trade_count the sum."""
AGGREGATE_COLUMNS = (*MEAN_METRICS, "max_drawdown", "trade_count", "min_coin_trades", "coins_valid")


def evaluate_universe(
    frames: Mapping[str, pd.DataFrame],
    genes_list: Sequence[SeedGenes],
    fitness: FitnessConfig = FitnessConfig(),
    costs: CostModel = CostModel(),
) -> pd.DataFrame:
    """One row per genome (input order): seed_id, seed_type, `obj_*`, valid, score, aggregated metrics.

    seed_ids must be unique (the registry's batch path refuses duplicates): dedupe first.
    """
    if not frames:
        raise ValueError("evaluate_universe needs at least one coin's frame")
    ids = [g.seed_id for g in genes_list]
    if not ids:
        raise ValueError("evaluate_universe needs at least one genome")
    if len(set(ids)) != len(ids):
        raise ValueError("evaluate_universe: duplicate seed_ids; evaluate each distinct genome once")
    per_coin = [evaluate_population(frame, genes_list, costs=costs, fitness=fitness) for frame in frames.values()]
    objectives = np.stack([r.loc[:, list(OBJECTIVE_COLUMNS)].to_numpy(np.float64) for r in per_coin])  # coins x n x 4
    valid_by_coin = np.stack([r["valid"].to_numpy(bool) for r in per_coin])
    valid = valid_by_coin.all(axis=0)
    combined = np.column_stack(
        [
            objectives[:, :, 0].mean(axis=0),
            objectives[:, :, 1].mean(axis=0),
            objectives[:, :, 2].max(axis=0),
            objectives[:, :, 3].mean(axis=0),
        ]
    )
    combined[~valid] = WORST_OBJECTIVES
    out = pd.DataFrame(combined, columns=list(OBJECTIVE_COLUMNS))
    out.insert(0, "seed_type", [str(g.seed_type) for g in genes_list])
    out.insert(0, "seed_id", ids)
    out["valid"] = valid
    out["score"] = fitness.score(combined)
    with warnings.catch_warnings():  # win_rate is NaN on a coin without trades; nanmean over none warns
        warnings.simplefilter("ignore", RuntimeWarning)
        for name in MEAN_METRICS:
            out[name] = np.nanmean(np.stack([r[name].to_numpy(np.float64) for r in per_coin]), axis=0)
        out["max_drawdown"] = np.nanmax(np.stack([r["max_drawdown"].to_numpy(np.float64) for r in per_coin]), axis=0)
    trades = np.stack([r["trade_count"].to_numpy(np.int64) for r in per_coin])
    out["trade_count"] = trades.sum(axis=0)
    out["min_coin_trades"] = trades.min(axis=0)
    out["coins_valid"] = valid_by_coin.sum(axis=0).astype(np.int64)
    return out
