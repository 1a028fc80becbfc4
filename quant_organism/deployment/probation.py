"""Probation: capital only for a strategy whose forward record crosses an always-valid bound; looked at every
night, each entry at its own share of a yearly error budget.

Why: the gate bounds false passes per night, but nights re-judge almost the same held-out windows, so over a
year the chances add up. Data the gate never saw is the one thing a new night cannot re-use. So:
- a strategy the decision engine newly chooses enters probation: it trades at the incubation allocation
  (`DecisionConfig.probation_allocation`, 2%) and takes its level from the year's error budget
  (deployment/error_budget.py);
- every night its forward excess over the beta-matched market (beta fixed at entry from the held-out data)
  adds its complete weekly blocks to an e-process (deployment/sequential.py) whose prior bet is taken from the
  held-out data that chose it; its anytime p-value (1 / the e-process's maximum) is compared with its level.
  The gate's p-value is recorded, not counted: entries are chosen night after night on overlapping windows,
  so the p-value an entry carries is a minimum over nights, and counting it again would not hold its size;
- promoted when it crosses (after at least `MIN_BLOCKS` weeks with a positive mean): from then on it competes
  for Kelly capital, sized on the lower confidence bound of its forward mean, so capital ramps with evidence;
- retired for futility when the upper confidence bound of its mean falls below zero, or when
  `DecisionConfig.probation_days` pass without a crossing.
The state is a handful of sums carried from night to night (`ProbationEntry`): the record reaches back to the
entry however short the night's held-out span.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, timedelta

import numpy as np
import pandas as pd
from scipy import special

from quant_organism.deployment.sequential import (
    BLOCK_DAYS,
    Prior,
    compound,
    log_evidence_of_loss,
    log_mixture,
    lower_bound,
)

MIN_BLOCKS = 4  # weeks of forward record before a promotion: capital follows forward evidence, not the gate alone
FUTILITY_LEVEL = 0.05  # the upper bound of the mean below zero at this level retires (costs power, never size)
RAMP_LEVEL = 0.2  # capital is sized on the 80% lower confidence bound of the forward mean
DEFAULT_BET_SD = 5.0  # prior spread of the bet when the held-out data says nothing: Sharpe 0.1 a day at 2% vol


@dataclass(frozen=True)
class ProbationEntry:
    """A strategy's sequential record since it entered probation (kept after promotion: it sizes capital)."""

    entered: date  # its first forward day
    alpha: float  # its share of the year's error budget
    gate_p: float  # the gate's family-wise adjusted p-value on the night it entered (recorded; not evidence again)
    beta: float  # to the equal-weight market, from the held-out data (the forward test is of its excess)
    prior: Prior
    genome: str
    blocks: int = 0
    total: float = 0.0
    squares: float = 0.0
    log_e_max: float = 0.0
    through: date | None = None  # the last day of the last block counted
    promoted_on: date | None = None

    @classmethod
    def open(
        cls, entered: date, alpha: float, gate_p: float, beta: float, held_out_daily: pd.Series, genome: str
    ) -> ProbationEntry:
        """A new entry; the prior's bet is half the held-out Kelly bet (the held-out mean of a chosen strategy is
        inflated by its choice), spread at least `DEFAULT_BET_SD` scaled to its volatility."""
        values = np.asarray(pd.Series(held_out_daily, dtype=float).dropna())
        variance = float(np.var(values)) if values.size > 1 else 0.0
        if variance > 0.0 and math.isfinite(variance):
            bet = max(0.0, 0.5 * float(values.mean()) / variance)
            prior = Prior(bet, max(bet, 0.1 / math.sqrt(variance)))
        else:
            prior = Prior(0.0, DEFAULT_BET_SD)
        gate = float(gate_p) if math.isfinite(gate_p) else 1.0
        return cls(entered, float(alpha), min(1.0, max(gate, 1e-300)), float(beta) if math.isfinite(beta) else 0.0, prior, genome)

    # --- the record -----------------------------------------------------------------------------------------------
    def update(self, daily: pd.Series, market: pd.Series | None, last_day: date) -> ProbationEntry:
        """The entry with every complete week up to `last_day` added (daily returns indexed by UTC day)."""
        start = self.entered if self.through is None else self.through + timedelta(days=1)
        entry = self
        days = pd.DatetimeIndex(daily.index).tz_convert("UTC").date if len(daily) else np.array([])
        strategy = np.asarray(daily, dtype=float)
        bench = market.reindex(daily.index).to_numpy(dtype=float) if market is not None and len(daily) else None
        while start + timedelta(days=BLOCK_DAYS - 1) <= last_day:
            end = start + timedelta(days=BLOCK_DAYS - 1)
            inside = (days >= start) & (days <= end) if len(days) else np.zeros(0, dtype=bool)
            x = compound(strategy[inside]) if inside.any() else 0.0
            if bench is not None and inside.any():
                x -= entry.beta * compound(bench[inside])
            total, squares = entry.total + x, entry.squares + x * x
            log_e = log_mixture(total, squares, entry.prior)
            entry = replace(entry, blocks=entry.blocks + 1, total=total, squares=squares,
                            log_e_max=max(entry.log_e_max, log_e), through=end)  # fmt: skip
            start = end + timedelta(days=1)
        return entry

    @property
    def forward_p(self) -> float:
        """The anytime-valid p-value of the forward record alone (1 / the e-process's running maximum)."""
        return float(min(1.0, math.exp(-self.log_e_max)))

    @property
    def crossed(self) -> bool:
        """Promoted: its forward e-process reached 1/alpha (its anytime p-value fell to its level)."""
        return self.blocks >= MIN_BLOCKS and self.total > 0.0 and self.log_e_max >= math.log(1.0 / self.alpha)

    def futile(self, day: date, max_days: int) -> str | None:
        """Why the probation ends without capital, or None while it may still cross."""
        losing = log_evidence_of_loss(self.total, self.squares, Prior(0.0, self.prior.sd))
        if self.blocks >= MIN_BLOCKS and losing >= math.log(1.0 / FUTILITY_LEVEL):
            return (f"futile: the {1 - FUTILITY_LEVEL:.0%} upper confidence bound of its forward excess is below zero "
                    f"(weekly mean {self.total / self.blocks:+.3%} over {self.blocks} weeks)")  # fmt: skip
        if (day - self.entered).days + 1 >= max_days:
            return f"futile: {max_days} forward days without crossing its bound"
        return None

    def daily_lower_bound(self) -> float:
        """The `RAMP_LEVEL` lower confidence bound of its mean daily forward excess (NaN before two weeks)."""
        return lower_bound(self.blocks, self.total, self.squares, self.prior, RAMP_LEVEL) / BLOCK_DAYS

    def daily_variance(self) -> float:
        if self.blocks < 2:
            return math.nan
        mean = self.total / self.blocks
        return max(self.squares / self.blocks - mean * mean, 0.0) / BLOCK_DAYS

    def describe(self) -> str:
        return (f"{self.blocks} forward weeks, weekly excess {self.total / max(self.blocks, 1):+.3%}, anytime p "
                f"{self.forward_p:.3g} against its level {self.alpha:.3%} (entered {self.entered.isoformat()})")  # fmt: skip

    def summary(self) -> dict[str, float | int | bool | str]:
        """Flat figures for the plan's looks and a strategy's metrics (JSON scalars)."""
        return {"probation_weeks": self.blocks, "probation_forward_p": self.forward_p, "probation_alpha": self.alpha,
                "probation_gate_p": self.gate_p, "probation_promoted": self.promoted_on is not None,
                "probation_entered": self.entered.isoformat()}  # fmt: skip

    # --- persistence ----------------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {
            "entered": self.entered.isoformat(), "alpha": self.alpha, "gate_p": self.gate_p, "beta": self.beta,
            "prior_mean": self.prior.mean, "prior_sd": self.prior.sd, "genome": self.genome, "blocks": self.blocks,
            "total": self.total, "squares": self.squares, "log_e_max": self.log_e_max,
            "through": None if self.through is None else self.through.isoformat(),
            "promoted_on": None if self.promoted_on is None else self.promoted_on.isoformat(),
        }  # fmt: skip

    @classmethod
    def from_dict(cls, data: Mapping) -> ProbationEntry:
        def day(value):
            return None if value is None else date.fromisoformat(str(value))

        return cls(
            date.fromisoformat(str(data["entered"])), float(data["alpha"]), float(data["gate_p"]), float(data["beta"]),
            Prior(float(data["prior_mean"]), float(data["prior_sd"])), str(data["genome"]), int(data["blocks"]),
            float(data["total"]), float(data["squares"]), float(data["log_e_max"]), day(data.get("through")),
            day(data.get("promoted_on")),
        )  # fmt: skip


def bonferroni_p(t_stat: float | None, judged: int | None) -> float:
    """The family-wise adjusted one-sided p-value of a held-out t-statistic among `judged` candidates (Bonferroni:
    valid for the one the gate chose, whatever the dependence between candidates)."""
    if t_stat is None or judged is None or not math.isfinite(t_stat) or judged < 1:
        return 1.0
    return float(min(1.0, judged * special.ndtr(-t_stat)))
