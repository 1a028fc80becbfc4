"""Fitness for evolution: four objectives with DEAP weights, and one scalar score for ranking.

Objectives: Sharpe (maximise), consistency (maximise), max drawdown (minimise), turnover (minimise),
so `OBJECTIVE_WEIGHTS = (1, 1, -1, -1)` fits `deap.creator.create("Fitness", base.Fitness, weights=...)`.
Each objective is clipped to a finite range, and a strategy with too few trades (or any non-finite
metric) gets `WORST_OBJECTIVES`, the bound on the wrong side of every range: it can tie the worst
real strategy but never beat it, and NaN/inf never reach the selection operators.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

OBJECTIVES: tuple[str, ...] = ("sharpe", "consistency", "max_drawdown", "turnover")
OBJECTIVE_WEIGHTS: tuple[float, ...] = (1.0, 1.0, -1.0, -1.0)
OBJECTIVE_COLUMNS: tuple[str, ...] = tuple(f"obj_{name}" for name in OBJECTIVES)
# Clip ranges; worst = the bound on the wrong side of each.
SHARPE_BOUND = 100.0
TURNOVER_BOUND = 1e5
WORST_OBJECTIVES: tuple[float, ...] = (-SHARPE_BOUND, 0.0, 1.0, TURNOVER_BOUND)


@dataclass(frozen=True)
class FitnessConfig:
    """Minimum trades for a valid strategy, and the weights of the ranking score.

    score = sharpe + w_consistency * consistency - w_drawdown * max_drawdown
            - w_turnover * log1p(turnover), on the clipped objectives. It rises with each objective in
    its preferred direction, so it never ranks a strategy above one that Pareto-dominates it.

    Generalisation (evolution/fitness.py applies them): with `folds` > 1 the Sharpe objective is the
    `fold_quantile` (0.5: the median, 0: the worst) of the genome's Sharpe on that many contiguous blocks of the
    train window, each block's the mean over coins, so one lucky episode cannot carry it; `w_complexity` takes
    that much off the score per free parameter of the genome (parsimony: a template's evolved genes, a rule tree's
    operators, conditions and leaves' genes).
    """

    min_trades: int = 10
    w_consistency: float = 1.0
    w_drawdown: float = 1.0
    w_turnover: float = 0.1
    folds: int = 1
    fold_quantile: float = 0.5
    w_complexity: float = 0.0

    def __post_init__(self) -> None:
        if self.min_trades < 0:
            raise ValueError(f"min_trades must be >= 0; got {self.min_trades}")
        if self.folds < 1 or not 0.0 <= self.fold_quantile <= 1.0:
            raise ValueError(f"folds must be >= 1 and fold_quantile in [0, 1]; got {self.folds}, {self.fold_quantile}")
        if not np.isfinite(self.w_complexity) or self.w_complexity < 0:
            raise ValueError("FitnessConfig.w_complexity must be a finite weight >= 0")
        for name in ("w_consistency", "w_drawdown", "w_turnover"):
            if not np.isfinite(getattr(self, name)) or getattr(self, name) < 0:
                raise ValueError(f"FitnessConfig.{name} must be a finite weight >= 0")

    def score(self, objectives: np.ndarray) -> np.ndarray:
        """Scalar score of objective rows (n x 4, already clipped)."""
        sharpe, consistency, drawdown, turnover = objectives.T
        return sharpe + self.w_consistency * consistency - self.w_drawdown * drawdown - self.w_turnover * np.log1p(turnover)

    @property
    def worst_score(self) -> float:
        return float(self.score(np.array([WORST_OBJECTIVES]))[0])


def fitness_arrays(
    raw: np.ndarray, trade_count: np.ndarray, config: FitnessConfig = FitnessConfig()
) -> tuple[np.ndarray, np.ndarray]:
    """(objectives n x 4, valid n) from the raw `OBJECTIVES` metrics (n x 4) and trade counts: the
    arithmetic of `fitness_columns` without frames, for callers that aggregate many metric matrices."""
    finite = np.isfinite(raw).all(axis=1)
    valid = finite & (trade_count >= config.min_trades)
    objectives = np.column_stack(
        [
            np.clip(np.nan_to_num(raw[:, 0]), -SHARPE_BOUND, SHARPE_BOUND),
            np.clip(np.nan_to_num(raw[:, 1]), 0.0, 1.0),
            np.clip(np.nan_to_num(raw[:, 2]), 0.0, 1.0),
            np.clip(np.nan_to_num(raw[:, 3]), 0.0, TURNOVER_BOUND),
        ]
    )
    objectives[~valid] = WORST_OBJECTIVES
    return objectives, valid


def fitness_columns(metrics: pd.DataFrame, config: FitnessConfig = FitnessConfig()) -> pd.DataFrame:
    """Objective columns (`obj_*`), `valid` and `score` for a metrics frame (same index)."""
    raw = metrics.loc[:, list(OBJECTIVES)].to_numpy(dtype=np.float64)
    return pd.DataFrame(fitness_values(raw, metrics["trade_count"].to_numpy(), config), index=metrics.index)


def fitness_values(raw: np.ndarray, trade_count: np.ndarray, config: FitnessConfig = FitnessConfig()) -> dict[str, np.ndarray]:
    """`fitness_columns`' columns as arrays, in its order, from the raw `OBJECTIVES` metrics (n x 4) and trade
    counts: for callers that build a frame of their own from columns (`evaluate_population`)."""
    objectives, valid = fitness_arrays(raw, trade_count, config)
    columns: dict[str, np.ndarray] = {name: objectives[:, j] for j, name in enumerate(OBJECTIVE_COLUMNS)}
    columns["valid"] = valid
    columns["score"] = config.score(objectives)
    return columns


def objectives_tuple(row: pd.Series) -> tuple[float, ...]:
    """The DEAP fitness values of one evaluated row (matching `OBJECTIVE_WEIGHTS`)."""
    return tuple(float(row[c]) for c in OBJECTIVE_COLUMNS)
