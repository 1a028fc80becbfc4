"""Backtesting of target-position signals on perpetual futures: costs, engine, metrics and fitness.

simulate.py states the execution convention every result here follows.
"""

from quant_organism.backtest.costs import CostModel
from quant_organism.backtest.evaluate import evaluate_population, evaluate_signals
from quant_organism.backtest.metric_table import METRICS, equity_metrics
from quant_organism.backtest.objectives import (
    OBJECTIVE_COLUMNS,
    OBJECTIVE_WEIGHTS,
    OBJECTIVES,
    WORST_OBJECTIVES,
    FitnessConfig,
    fitness_columns,
    objectives_tuple,
)
from quant_organism.backtest.simulate import INIT_CASH, BacktestResult, Market, Params, run_backtest, simulate

__all__ = [
    "INIT_CASH",
    "METRICS",
    "OBJECTIVES",
    "OBJECTIVE_COLUMNS",
    "OBJECTIVE_WEIGHTS",
    "WORST_OBJECTIVES",
    "BacktestResult",
    "CostModel",
    "FitnessConfig",
    "Market",
    "Params",
    "equity_metrics",
    "evaluate_population",
    "evaluate_signals",
    "fitness_columns",
    "objectives_tuple",
    "run_backtest",
    "simulate",
]
