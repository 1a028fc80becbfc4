"""Probation: capital only for a strategy whose own forward record agrees with the evidence that chose it.

Why: the gate bounds false passes per run (2.5% family-wise), but the automation re-judges almost the same
held-out windows night after night, so over a year of unattended operation the chances add up (measured by
`bench organism --nightly`). Data the gate never saw is the one thing a new night cannot re-use, so:
- a strategy the decision engine newly chooses enters on probation: it trades at a small incubation
  allocation (`DecisionConfig.probation_allocation`, 2%), so its paper book is real while the error that
  matters, Kelly capital on a false edge, waits for the look;
- once its forward record (per-day returns on bars after the data that chose it,
  validation/held_out.forward_returns) spans `days` days, it gets exactly one look: a one-sided t-test of
  its mean daily return against zero (scipy). p <= alpha: promoted, and from then on it competes for Kelly
  capital like any incumbent; otherwise it is retired. One look per strategy, so a null strategy's chance
  of capital is alpha per probation, whatever the cadence.
Off with `days = 0` (every chosen strategy gets Kelly capital at once).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats


@dataclass(frozen=True)
class ForwardTest:
    """The one look at a probationer's forward record."""

    days: int
    mean: float  # mean daily return
    t: float
    pvalue: float
    alpha: float

    @property
    def promoted(self) -> bool:
        return math.isfinite(self.pvalue) and self.pvalue <= self.alpha

    def describe(self) -> str:
        verdict = "promoted" if self.promoted else "failed probation"
        return (f"{verdict}: forward record of {self.days} days, mean daily return {self.mean:+.4%}, "
                f"t = {self.t:.2f}, one-sided p = {self.pvalue:.3g} (alpha {self.alpha:g})")  # fmt: skip


def forward_test(daily: pd.Series, alpha: float) -> ForwardTest:
    """One-sided t-test of H0: mean daily forward return <= 0, on the finite days of `daily`."""
    values = np.asarray(pd.Series(daily, dtype=float).dropna(), dtype=float)
    days = int(values.size)
    if days < 2 or not np.std(values) > 0.0:
        mean = float(values.mean()) if days else math.nan
        return ForwardTest(days, mean, math.nan, 1.0, alpha)  # no dispersion: nothing to promote on
    result = stats.ttest_1samp(values, 0.0, alternative="greater")
    return ForwardTest(days, float(values.mean()), float(result.statistic), float(result.pvalue), alpha)
