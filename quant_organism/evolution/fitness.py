"""Universal fitness: a genome is backtested on every coin of the universe and judged on all of them.

Objectives across coins (matching `OBJECTIVE_WEIGHTS` = (1, 1, -1, -1)):
- sharpe: mean of the coins' (clipped) Sharpe ratios;
- consistency: mean share of positive weeks;
- max_drawdown: the WORST coin's drawdown (a strategy is as risky as its worst market);
- turnover: mean annualised turnover.
With `FitnessConfig.folds` > 1 the Sharpe objective is instead a quantile over contiguous folds of the train
window of the coins' mean fold Sharpe (`universe_fold_metrics`); with `w_complexity` the score pays for free
parameters (`complexity`).
A genome invalid on any coin (too few trades there, or a non-finite metric) gets `WORST_OBJECTIVES`:
a rule that only works on some coins is not universal. The scalar `score` is the backtest's
`FitnessConfig.score` of the aggregated objectives, so it never ranks a genome above one that
Pareto-dominates it.
"""

from __future__ import annotations

import json
import warnings
import weakref
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from quant_organism.backtest.costs import CostModel
from quant_organism.backtest.evaluate import PreparedFrame, prepare_frame, universe_fold_metrics, universe_metrics
from quant_organism.backtest.metric_table import METRICS
from quant_organism.backtest.objectives import (
    OBJECTIVE_COLUMNS,
    OBJECTIVES,
    SHARPE_BOUND,
    WORST_OBJECTIVES,
    FitnessConfig,
    fitness_arrays,
)
from quant_organism.evolution.operators import active_genes
from quant_organism.strategies.genes import SeedGenes
from quant_organism.strategies.rule_tree import free_parameters

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

    seed_ids must be unique (the registry's batch path refuses duplicates): dedupe first. Each frame is
    checked and prepared once per process and object (`prepared`), not once per generation.
    """
    if not frames:
        raise ValueError("evaluate_universe needs at least one coin's frame")
    ids = [g.seed_id for g in genes_list]
    if not ids:
        raise ValueError("evaluate_universe needs at least one genome")
    if len(set(ids)) != len(ids):
        raise ValueError("evaluate_universe: duplicate seed_ids; evaluate each distinct genome once")
    ready = [prepared(frame) for frame in frames.values()]
    fold_sharpes = None
    if fitness.folds > 1:
        per_coin, fold_sharpes = universe_fold_metrics(ready, genes_list, fitness.folds, costs)
    else:
        per_coin = universe_metrics(ready, genes_list, costs)  # coins x n x metrics
    coins, n = per_coin.shape[:2]
    trades = per_coin[:, :, METRICS.index("trade_count")].astype(np.int64)
    # fitness_arrays is elementwise: one call on all coins' rows is each coin's call, stacked
    flat_objectives, flat_valid = fitness_arrays(
        per_coin[:, :, _OBJECTIVE_METRICS].reshape(coins * n, -1), trades.reshape(-1), fitness
    )
    objectives = flat_objectives.reshape(coins, n, -1)  # coins x n x 4
    valid_by_coin = flat_valid.reshape(coins, n)
    valid = valid_by_coin.all(axis=0)
    combined = np.column_stack(
        [
            objectives[:, :, 0].mean(axis=0),
            objectives[:, :, 1].mean(axis=0),
            objectives[:, :, 2].max(axis=0),
            objectives[:, :, 3].mean(axis=0),
        ]
    )
    if fold_sharpes is not None:  # the Sharpe objective: a quantile over folds of the coins' mean fold Sharpe
        by_fold = fold_sharpes.mean(axis=0)  # n x folds
        combined[:, 0] = np.clip(np.quantile(by_fold, fitness.fold_quantile, axis=1), -SHARPE_BOUND, SHARPE_BOUND)
    combined[~valid] = WORST_OBJECTIVES
    out = {"seed_id": ids, "seed_type": [g.seed_type.value for g in genes_list]}
    out.update(zip(OBJECTIVE_COLUMNS, combined.T))
    out["valid"] = valid
    out["score"] = fitness.score(combined)
    if fitness.w_complexity:
        out["score"] = out["score"] - fitness.w_complexity * np.array([complexity(g) for g in genes_list], dtype=np.float64)
    with warnings.catch_warnings():  # win_rate is NaN on a coin without trades; nanmean over none warns
        warnings.simplefilter("ignore", RuntimeWarning)
        means = np.nanmean(per_coin[:, :, _MEAN_METRICS], axis=0)  # n x metrics: each the mean over coins, in one call
        out.update(zip(MEAN_METRICS, means.T))
        out["max_drawdown"] = np.nanmax(per_coin[:, :, METRICS.index("max_drawdown")], axis=0)
    out["trade_count"] = trades.sum(axis=0)
    out["min_coin_trades"] = trades.min(axis=0)
    out["coins_valid"] = valid_by_coin.sum(axis=0).astype(np.int64)
    return pd.DataFrame(out)


def complexity(genes: SeedGenes) -> int:
    """Free parameters of a genome, what parsimony charges: a template's evolved genes; a rule tree's own evolved
    genes and those of its structure (`rule_tree.free_parameters`)."""
    own = len(active_genes(genes.seed_type))
    return own if genes.rule is None else own + free_parameters(json.loads(genes.rule))


_OBJECTIVE_METRICS = [METRICS.index(name) for name in OBJECTIVES]
_MEAN_METRICS = [METRICS.index(name) for name in MEAN_METRICS]
_PREPARED: dict[int, tuple[weakref.ref, tuple, PreparedFrame]] = {}


def prepared(frame: pd.DataFrame) -> PreparedFrame:
    """The frame checked and prepared for the backtest, cached while the frame lives and is unchanged.

    Islands score every generation on the same frames; preparing them once per process instead of
    once per generation is most of the difference between the kernel's rate and evolution's. The
    cache is keyed by the object and stamped with its shape, columns, first and last bar and the sums
    of its closes and funding rates, so a frame edited in place is prepared again.
    """
    key, stamp = id(frame), _stamp(frame)
    hit = _PREPARED.get(key)
    if hit is not None and hit[0]() is frame and hit[1] == stamp:
        return hit[2]
    ready = prepare_frame(frame)
    _PREPARED[key] = (weakref.ref(frame, lambda _ref, key=key: _PREPARED.pop(key, None)), stamp, ready)
    return ready


def _stamp(frame: pd.DataFrame) -> tuple:
    columns = [c for c in ("close", "funding_rate") if c in frame.columns]
    sums = tuple(float(np.nansum(frame[c].to_numpy(dtype=np.float64))) for c in columns)
    ends = (frame.index[0], frame.index[-1]) if len(frame) else ()
    return (frame.shape, tuple(frame.columns), ends, sums)
