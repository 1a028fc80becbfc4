"""A run's time budget split into phase shares, and its compute cost.

The plan gives one cycle a total time and shares of it: about half to evolution, 37.5% to validation and
12.5% to deployment and reporting. Each share ends at a fixed point of the run's clock (cumulative), so a
phase that finishes early leaves its time to the next. Deadlines are wall-clock epochs: islands in other
processes (or on Ray nodes) compare them with their own clock.

Cost is CPU-seconds times a price per CPU-hour, estimated before the run (so a run beyond the cost limit is
refused before any work) and measured after it.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

from quant_organism.core.metrics import HOURS_PER_YEAR

PHASES = ("evolution", "validation", "reporting")
DEFAULT_SHARES = {"evolution": 0.5, "validation": 0.375, "reporting": 0.125}
DEFAULT_CPU_HOUR_PRICE = 0.05  # USD per CPU-hour: about an on-demand cloud vCPU; configurable
PLANNING_RATE = 800.0  # one-year hourly backtests per CPU-second inside an evolution (bench evolution, this VM)


class CostLimitExceeded(ValueError):
    """The run's estimated cost is above the limit: refused before any work."""


@dataclass(frozen=True)
class RunBudget:
    """`total_s` None means unbounded (no deadlines); `started_at` is the run's start (epoch seconds)."""

    total_s: float | None = None
    started_at: float = field(default_factory=time.time)
    shares: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_SHARES))

    def __post_init__(self) -> None:
        if self.total_s is not None and (not math.isfinite(self.total_s) or self.total_s <= 0):
            raise ValueError(f"time budget must be a positive number of seconds, got {self.total_s}")
        unknown = set(self.shares) - set(PHASES)
        if unknown or any(not 0 <= v <= 1 for v in self.shares.values()) or sum(self.shares.values()) > 1 + 1e-9:
            raise ValueError(f"budget shares must be phases {PHASES} with shares in [0, 1] summing to <= 1; got {self.shares}")

    @property
    def bounded(self) -> bool:
        return self.total_s is not None

    def deadline(self, phase: str) -> float | None:
        """Epoch at which `phase` must stop: the run's start plus the shares up to and including it."""
        if self.total_s is None:
            return None
        upto = PHASES[: PHASES.index(phase) + 1]
        return self.started_at + self.total_s * sum(self.shares.get(p, 0.0) for p in upto)

    def share_s(self, phase: str) -> float | None:
        return None if self.total_s is None else self.total_s * self.shares.get(phase, 0.0)

    def elapsed(self, now: float | None = None) -> float:
        return (now or time.time()) - self.started_at

    def to_dict(self) -> dict:
        return {
            "total_s": self.total_s,
            "started_at": self.started_at,
            "shares": dict(self.shares),
            "deadlines_s": {p: (None if self.total_s is None else round(self.deadline(p) - self.started_at, 3)) for p in PHASES},
        }


def cost_usd(cpu_seconds: float, cpu_hour_price: float = DEFAULT_CPU_HOUR_PRICE) -> float:
    return float(cpu_seconds) / 3600.0 * float(cpu_hour_price)


def planned_evaluations(total_strategies: int, generations: int, elite_ratio: float) -> int:
    """Genomes an evolution evaluates at most: generation 0, then the non-elite offspring of each generation."""
    return int(total_strategies * (1 + generations * (1.0 - elite_ratio)))


def estimate_cpu_seconds(
    evaluations: int,
    coins: int,
    train_bars: int,
    *,
    workers: int,
    budget: RunBudget | None = None,
    rate: float = PLANNING_RATE,
    evolution_share: float = DEFAULT_SHARES["evolution"],
) -> float:
    """CPU-seconds of a whole run, planned: the evolution's backtests at `rate` (one-year backtests per
    CPU-second) scaled from its share to the whole cycle, capped by what the time budget allows on `workers`."""
    evolution = evaluations * coins * (train_bars / HOURS_PER_YEAR) / rate
    whole = evolution / max(evolution_share, 1e-9)
    if budget is not None and budget.total_s is not None:
        whole = min(whole, budget.total_s * max(workers, 1))
    return float(whole)


def check_cost(estimated_usd: float, limit_usd: float | None) -> None:
    if limit_usd is not None and estimated_usd > limit_usd:
        raise CostLimitExceeded(
            f"estimated cost ${estimated_usd:.4f} is above the cost limit ${limit_usd:.4f}: refused before any work "
            "(lower --strategies/--generations, set a time budget with --hours, or raise --cost-limit)"
        )
