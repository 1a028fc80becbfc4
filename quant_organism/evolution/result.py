"""What a run produces: every evaluated individual, per-generation statistics, per-batch outcomes,
totals, and the best distinct strategies as genomes or as `StrategyConfig`s for the config store."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import pandas as pd

from quant_organism.backtest.objectives import OBJECTIVE_COLUMNS
from quant_organism.core.artifacts import finite_or_none
from quant_organism.evolution.date_windows import EvolutionWindows
from quant_organism.evolution.evolution_config import EvolutionConfig
from quant_organism.evolution.fitness import AGGREGATE_COLUMNS
from quant_organism.strategies.genes import SeedGenes

if TYPE_CHECKING:
    from quant_organism.catalog.config import DataWindow, StrategyConfig

IDENTITY_COLUMNS = ("name", "seed_type", "generation", "batch", "genes", "genes_hash")
POPULATION_COLUMNS = (*IDENTITY_COLUMNS, *OBJECTIVE_COLUMNS, "score", "valid", *AGGREGATE_COLUMNS, "final")
GENERATION_COLUMNS = (
    "batch",
    "generation",
    "best_score",
    "median_score",
    "mean_score",
    "valid_share",
    "evaluations",
    "wall_s",
)
BATCH_COLUMNS = ("batch", "status", "wall_s", "evaluations", "error", "pid", "evaluate_s", "cpu_s", "moves")
CONFIG_METRICS = (
    "consistency",
    "turnover",
    "total_return",
    "sortino",
    "win_rate",
    "exposure",
    "trade_count",
    "min_coin_trades",
    *OBJECTIVE_COLUMNS,
    "batch",
)


class Finalist(NamedTuple):
    """One of the best of a run, before validation: the genome (seed_id = strategy name) and its population row.
    (`deployment.Candidate` is a validated strategy offered for deployment.)"""

    genes: SeedGenes
    row: pd.Series


@dataclass(frozen=True)
class EvolutionResult:
    """A finished run. `population` has one row per distinct genome evaluated in each batch
    (columns `POPULATION_COLUMNS`; `final` marks the batch's last generation), `generation_stats`
    one row per (batch, generation), `batches` one row per batch with its status."""

    population: pd.DataFrame
    generation_stats: pd.DataFrame
    batches: pd.DataFrame
    config: EvolutionConfig
    windows: EvolutionWindows
    coins: tuple[str, ...]
    interval: str | None
    executor: str
    workers: int
    wall_s: float
    train_bars: dict[str, int] = field(default_factory=dict)
    executor_reason: str = ""
    ray_resources: dict[str, float] | None = None

    @property
    def evaluations(self) -> int:
        """Distinct genomes evaluated (each backtested on every coin)."""
        return int(len(self.population))

    @property
    def backtests(self) -> int:
        return self.evaluations * len(self.coins)

    @property
    def evaluations_per_s(self) -> float:
        return self.evaluations / self.wall_s if self.wall_s > 0 else float("nan")

    @property
    def failed_batches(self) -> pd.DataFrame:
        """Islands that failed, or timed out with nothing evaluated (a timeout that kept generations is partial, not lost)."""
        status = self.batches["status"]
        lost = ~status.isin(["ok", "budget", "timeout"]) | ((status == "timeout") & (self.batches["evaluations"] == 0))
        return self.batches[lost].reset_index(drop=True)

    def failure_reasons(self) -> dict[str, int]:
        """The failed islands counted by the first line of their error."""
        errors = self.failed_batches["error"].fillna("no error recorded")
        return {k: int(v) for k, v in errors.map(lambda e: str(e).splitlines()[0][:200]).value_counts().items()}

    @property
    def stopped_by_budget(self) -> int:
        """Islands that stopped (or never started) at the run's evolution deadline."""
        return int((self.batches["status"] == "budget").sum()) if len(self.batches) else 0

    def why_none_valid(self) -> str | None:
        """Why the search found no valid individual, in the user's terms (None when one was found, or none evaluated):
        validity needs `min_trades` trades on every coin's training span, which few bars (daily bars on a short
        history) cannot give; or the objectives were not finite."""
        if not len(self.population) or self.population["valid"].any():
            return None
        weakest = pd.to_numeric(self.population["min_coin_trades"], errors="coerce")
        most = int(weakest.max()) if weakest.notna().any() else 0
        need = self.config.min_trades
        bars = f" ({min(self.train_bars.values())} {self.interval or ''} bars per coin)" if self.train_bars else ""
        if most >= need:
            return (
                f"no valid individual among the {self.evaluations} evaluated: those with {need}+ trades on every coin's "
                f"training span{bars} had objectives that are not finite (flat or missing prices?)"
            )
        return (
            f"no valid individual among the {self.evaluations} evaluated: validity needs {need} trades on every coin's "
            f"training span{bars}, and the most any made on its weakest coin was {most}; give the search more bars "
            "(a longer lookback or a finer interval) or lower min_trades"
        )

    def totals(self) -> dict[str, Any]:
        """JSON-ready run summary (for logs and Dagster metadata)."""
        status = self.batches["status"].value_counts().to_dict() if len(self.batches) else {}
        valid = self.population["valid"] if len(self.population) else pd.Series(dtype=bool)
        return {
            "executor": self.executor,
            "executor_reason": self.executor_reason,
            "workers": self.workers,
            "ray_resources": self.ray_resources,
            "batches": int(len(self.batches)),
            "batches_by_status": {k: int(v) for k, v in status.items()},
            "stopped_by_budget": self.stopped_by_budget,
            "evaluations": self.evaluations,
            "backtests": self.backtests,
            "valid": int(valid.sum()),
            "none_valid": self.why_none_valid(),
            "wall_s": round(self.wall_s, 3),
            "evaluations_per_s": round(self.evaluations_per_s, 2),
            "best_score": float(self.population["score"].max()) if len(self.population) else None,
            "coins": list(self.coins),
            "interval": self.interval,
            "train_bars": dict(self.train_bars),
            "windows": self.windows.as_dict(),
        }

    def best(self, n: int = 10, valid_only: bool = True, by: str = "score") -> list[Finalist]:
        """The top-n distinct genomes (by genes_hash) by `by` (a population column), ties by name; valid only by default."""
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        frame = self.population
        if valid_only and len(frame):
            frame = frame[frame["valid"]]
        ranked = frame.sort_values([by, "name"], ascending=[False, True], kind="mergesort")
        ranked = ranked.drop_duplicates("genes_hash", keep="first").head(n)
        return [Finalist(genes_from_row(row), row) for _, row in ranked.iterrows()]


class TooManyFailedIslands(RuntimeError):
    """More islands failed than the run accepts (`EvolutionConfig.max_failed_island_share`); carries the result."""

    def __init__(self, result: EvolutionResult) -> None:
        self.result = result
        failed, total = len(result.failed_batches), len(result.batches)
        share = result.config.max_failed_island_share
        reasons = "; ".join(f"{n} x {why}" for why, n in result.failure_reasons().items())
        super().__init__(f"{failed} of {total} islands failed (more than the {share:.0%} a run accepts): {reasons}")


def select_candidates(result: EvolutionResult, top_share: float, max_candidates: int) -> list[Finalist]:
    """The candidates validation will judge: the top `top_share` of the distinct valid individuals by
    score, at most `max_candidates` (the one definition: strategy_configs lists them, validation reads the list)."""
    if not 0.0 < top_share <= 1.0:
        raise ValueError(f"top_share must be in (0, 1], got {top_share}")
    population = result.population
    # `.loc` with a boolean mask: an empty population read back from Parquet has an object-typed `valid`, and
    # `frame[empty object Series]` would select columns (none) instead of rows
    distinct_valid = population.loc[population["valid"].astype(bool), "genes_hash"].nunique() if len(population) else 0
    n = min(max_candidates, max(1, math.ceil(top_share * distinct_valid))) if distinct_valid else 0
    return result.best(n)


def genes_from_row(row: pd.Series | dict) -> SeedGenes:
    """The genome of a population row, named by its strategy name (its genes_hash is checked)."""
    genes = SeedGenes.from_gene_values(
        row["seed_type"], row["name"], json.loads(row["genes"]), generation=int(row["generation"]), repair=False
    )
    if genes.genes_hash() != row["genes_hash"]:
        raise ValueError(f"{row['name']}: stored genes do not reproduce genes_hash {row['genes_hash'][:12]}...")
    return genes


def to_strategy_configs(
    result: EvolutionResult,
    n: int,
    evolution_date: date | None = None,
    data_window: DataWindow | None = None,
    now: datetime | None = None,
) -> list[StrategyConfig]:
    """The best n distinct valid genomes as `evolved` StrategyConfigs, ready for
    `StrategyStore.save_evolved_strategies`. Defaults: the run's evolution date, and its train
    window (coins, interval) as the data window the strategies saw. (Imported lazily: evolution
    feeds deployment, so deployment must stay importable without evolution.)"""
    from quant_organism.catalog.config import DataWindow, StrategyConfig

    if data_window is None:
        train = result.windows.train
        data_window = DataWindow(
            start=train.start.to_pydatetime(), end=train.end.to_pydatetime(), coins=result.coins, interval=result.interval
        )
    day = evolution_date or result.windows.evolution_date
    configs = []
    for genes, row in result.best(n):
        sharpe = finite_or_none(row["sharpe"])
        configs.append(
            StrategyConfig.from_genes(
                genes,
                fitness_score=float(row["score"]),
                backtest_sharpe=sharpe if sharpe is not None else float(row["obj_sharpe"]),
                max_drawdown=finite_or_none(row["max_drawdown"]),
                evolution_date=day,
                data_window=data_window,
                metrics={key: _metric(row[key]) for key in CONFIG_METRICS},
                now=now,
            )
        )
    return configs


def _metric(value: Any) -> float | int | str | bool | None:
    if isinstance(value, (str, bool, np.bool_)):
        return value if isinstance(value, str) else bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    return finite_or_none(value)
