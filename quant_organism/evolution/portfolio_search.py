"""The portfolio search: NSGA-II over portfolio genomes (strategies/portfolio_genome.py) on the train window only.

Each individual is one index per gene of the genome's grid. Its fitness is read on the train window's days:
- its **excess Sharpe**: the annual Sharpe of its net daily return less the beta-matched equal-weight market held as
  perpetuals (funding paid: core/beta.py, backtest/portfolio.equal_weight_market), the very quantity the gate tests
  on the held-out span, so selection ranks by what will be judged;
- its **turnover** (annual, one-way), to be kept low: a book that trades less loses less to costs it cannot see.
NSGA-II keeps the Pareto front of the two (evolution/nsga2.py: DEAP's sorting and crowding), parents are drawn by
crowded binary tournaments, children made by uniform crossover and per-gene resets. A genome's weights are computed
on the panel up to the train window's end, so no day after it reaches the search (prefix invariance makes the
warm-up before the window harmless: it is data before the window, never after).

What the gate needs to count is recorded: every distinct genome evaluated (the trials) with its daily train excess
returns, from which the gate reads the effective number of independent trials selection spent, and the `candidates`
best by train excess Sharpe, which alone go on to the held-out gate.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from quant_organism.backtest.costs import CostModel
from quant_organism.backtest.portfolio_returns import equal_weight_market, portfolio_returns
from quant_organism.core.beta import beta_matched_excess
from quant_organism.core.windows import Window
from quant_organism.market.panel import DailyPanel
from quant_organism.strategies.portfolio_genome import GRID, PortfolioGenome, from_indices

DAYS_PER_YEAR = 365.0
OBJECTIVES = ("excess_sharpe", "turnover")
WEIGHTS = (1.0, -1.0)  # maximise the excess Sharpe, minimise the turnover


TRAIN_DAYS = 548
"""A year and a half of train, from the start of the night's lookback (which moves with the date once the history
passes six years). Chosen on `bench organism --evidence --search-only`: on six-year planted markets it passed more
planted edges than the night's 216-day window (trend at Sharpe 1.5: 87% against 73%; momentum at 2: 77% against 60%)
with no null passing in either (docs/validation.md, "The portfolio search")."""


@dataclass(frozen=True)
class PortfolioSearchSettings:
    """The search's shape. Small on purpose: the grid has few effective trials, and each one costs the gate."""

    population: int = 40
    generations: int = 12
    candidates: int = 20  # best by train excess Sharpe, sent to the held-out gate
    crossover_rate: float = 0.7
    mutation_rate: float = 0.15  # per gene: reset to a random value of its grid
    train_days: int | None = TRAIN_DAYS  # None: the night's train window (the seed search's)
    max_train_share: float = 0.5  # of the lookback: the gate keeps at least half of the history

    def __post_init__(self) -> None:
        if self.population < 4 or self.generations < 0 or self.candidates < 1:
            raise ValueError(f"portfolio search needs population >= 4, generations >= 0, candidates >= 1; got {self}")
        if self.train_days is not None and self.train_days < 60:
            raise ValueError(
                f"portfolio search train_days must be >= 60 (or None: the night's train window); got {self.train_days}"
            )
        if not 0.0 < self.max_train_share < 1.0:
            raise ValueError(f"portfolio search max_train_share must be in (0, 1); got {self.max_train_share}")

    def train_window(self, night_train: Window, date: pd.Timestamp) -> Window:
        """The window the search reads, from the start of the night's lookback: `train_days`, at most
        `max_train_share` of the lookback, never less than the night's own train window (None: that window)."""
        if self.train_days is None:
            return night_train
        lookback = (pd.Timestamp(date).normalize() + pd.Timedelta(days=1) - night_train.start).days
        days = max((night_train.end - night_train.start).days, min(self.train_days, int(lookback * self.max_train_share)))
        return Window(night_train.start, night_train.start + pd.Timedelta(days=days), "train")


DEFAULT_SETTINGS = PortfolioSearchSettings()


@dataclass(frozen=True)
class Trial:
    genome: PortfolioGenome
    excess_sharpe: float
    turnover: float


@dataclass
class PortfolioSearchResult:
    train: Window
    trials: dict[str, Trial]  # every distinct genome evaluated, by name
    candidates: list[PortfolioGenome]  # best by train excess Sharpe, best first
    train_excess: dict[str, np.ndarray]  # each trial's daily train excess returns: the gate counts its effective trials

    def summary(self) -> str:
        best = self.trials[self.candidates[0].name] if self.candidates else None
        text = f"portfolio search on train {self.train.start.date()}..{(self.train.end - pd.Timedelta(days=1)).date()}: "
        text += f"{len(self.trials)} genomes tried, {len(self.candidates)} to the gate"
        return text + (f"; best {best.genome.name} at train excess Sharpe {best.excess_sharpe:.2f}" if best else "")


def train_fitness(
    panel: DailyPanel, members: pd.DataFrame, train: Window, costs: CostModel | None = None
) -> Callable[[PortfolioGenome], tuple[Trial, np.ndarray]]:
    """A function from a genome to its train figures and daily train excess returns, reading nothing after `train`."""
    seen = panel.until(train.end - pd.Timedelta(days=1))
    closes, funding = seen.closes, seen.funding
    members = members.reindex_like(closes).fillna(False).astype(bool)
    days = (closes.index >= train.start) & (closes.index < train.end)
    market = equal_weight_market(closes, members, funding)

    def evaluate(genome: PortfolioGenome) -> tuple[Trial, np.ndarray]:
        if genome.needs_funding and (funding is None or not funding.notna().to_numpy().any()):
            return Trial(genome, -math.inf, 0.0), np.zeros(int(days.sum()))
        weights = genome.weights(closes, members, funding)
        returns = portfolio_returns(weights, closes, costs, funding)
        excess, _, _ = beta_matched_excess(returns[days].to_frame("r"), market[days])
        values = excess["r"].to_numpy()
        spread = values.std()  # (population deviation: the benchmarked figures were ranked by it; core.metrics uses n - 1)
        annual = float(values.mean() / spread * math.sqrt(DAYS_PER_YEAR)) if spread > 0 else -math.inf  # never trading: last
        turnover = float(weights[days].diff().abs().sum(axis=1).mean() * DAYS_PER_YEAR)
        return Trial(genome, annual, turnover), values

    return evaluate


def search_portfolios(
    panel: DailyPanel,
    members: pd.DataFrame,
    train: Window,
    config: PortfolioSearchSettings = DEFAULT_SETTINGS,
    seed: int = 0,
    costs: CostModel | None = None,
) -> PortfolioSearchResult:
    """NSGA-II over portfolio genomes on the train window (see the module docstring)."""
    from quant_organism.evolution.nsga2 import ranks_and_crowding, select

    evaluate = train_fitness(panel, members, train, costs)
    rng = np.random.default_rng(seed)
    sizes = np.array([len(values) for values in GRID.values()])
    trials: dict[str, Trial] = {}
    excess: dict[str, np.ndarray] = {}

    def fitness(individual: np.ndarray) -> tuple[float, float]:
        genome = from_indices(individual)
        if genome.name not in trials:
            trials[genome.name], excess[genome.name] = evaluate(genome)
        trial = trials[genome.name]
        return (trial.excess_sharpe if math.isfinite(trial.excess_sharpe) else -99.0, trial.turnover)

    population = rng.integers(0, sizes, size=(config.population, len(sizes)))
    values = np.array([fitness(p) for p in population])
    for _ in range(config.generations):
        rank, crowd = ranks_and_crowding(values, WEIGHTS)
        children = []
        while len(children) < config.population:
            a, b = (_tournament(rng, rank, crowd) for _ in range(2))
            left, right = population[a].copy(), population[b].copy()
            if rng.random() < config.crossover_rate:
                swap = rng.random(len(sizes)) < 0.5
                left[swap], right[swap] = population[b][swap], population[a][swap]
            for child in (left, right):
                reset = rng.random(len(sizes)) < config.mutation_rate
                child[reset] = rng.integers(0, sizes[reset])
                children.append(child)
        children = np.array(children[: config.population])
        merged = np.vstack([population, children])
        merged_values = np.vstack([values, [fitness(c) for c in children]])
        keep = select(merged_values, WEIGHTS, config.population)
        population, values = merged[keep], merged_values[keep]
    ranked = sorted((t for t in trials.values() if math.isfinite(t.excess_sharpe)), key=lambda t: -t.excess_sharpe)
    candidates = [t.genome for t in ranked[: config.candidates]]
    return PortfolioSearchResult(train, trials, candidates, excess)


def _tournament(rng: np.random.Generator, rank: np.ndarray, crowd: np.ndarray) -> int:
    """The better of two random individuals: the lower front, then the larger crowding distance."""
    a, b = rng.integers(0, len(rank), size=2)
    if rank[a] != rank[b]:
        return int(a if rank[a] < rank[b] else b)
    return int(a if crowd[a] >= crowd[b] else b)
