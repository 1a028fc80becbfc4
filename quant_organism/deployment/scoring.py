"""The deployment score: Sharpe, consistency, drawdown and age, each in [0, 1], combined by fixed weights.

    score = 0.40 * sharpe + 0.25 * consistency + 0.20 * drawdown + 0.15 * age

- sharpe: the annualised Sharpe of the held-out daily returns over 4, clipped to [0, 1]; for a strategy
  already trading (an incumbent), blended with its paper Sharpe, the paper weighing days / (days + 30);
- consistency: the share of calendar weeks with a positive return (held-out, or blended with paper);
- drawdown: 1 - (maximum drawdown / 25%), clipped (held-out; the worse of held-out and paper);
- age: 0.5 for a new candidate (no paper record yet); for a strategy with paper days min(1, paper days / 30) when its paper
  Sharpe is positive, 0 when it is not or it is decaying.
Sharpe, consistency and drawdown are core/metrics.py's figures (its one convention).
The decision engine walks candidates by this score (best first) through the correlation filter, then
sizes the chosen ones with fractional Kelly under the caps (allocation.py). Plain, documented weights:
they order candidates that all passed validation; they decide nothing about whether an edge is real.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import pandas as pd

from quant_organism.core.metrics import DAYS_PER_YEAR, figures

WEIGHTS = {"sharpe": 0.40, "consistency": 0.25, "drawdown": 0.20, "age": 0.15}
SHARPE_SCALE = 4.0
DRAWDOWN_SCALE = 0.25
AGE_DAYS = 30.0


@dataclass(frozen=True)
class PaperRecord:
    days: int
    sharpe: float | None
    max_drawdown: float | None
    decaying: bool = False
    capital: bool = True  # False while on probation (deployment/probation.py): incubation allocation only
    probation: dict | None = None  # its sequential record (deployment/probation.ProbationEntry.to_dict), carried nightly
    allocation: float | None = None  # what it holds now (kept as is while its forward record is too short to judge)


@dataclass(frozen=True)
class Score:
    total: float
    sharpe: float
    consistency: float
    drawdown: float
    age: float

    def to_dict(self) -> dict[str, float]:
        return {k: round(v, 6) for k, v in asdict(self).items()}


def _clip(x: float) -> float:
    return float(min(1.0, max(0.0, x))) if math.isfinite(x) else 0.0


def held_out_figures(daily: pd.Series) -> tuple[float, float, float]:
    """(annualised Sharpe, share of positive calendar weeks, max drawdown) of daily returns (core/metrics.py)."""
    daily = daily.dropna()
    days = pd.DatetimeIndex(daily.index)
    days = days.tz_convert(None) if days.tz is not None else days  # UTC days; periods carry no time zone
    weeks = pd.factorize(days.to_period("W"))[0]  # the index is sorted: weeks numbered in order
    measured = figures(daily, DAYS_PER_YEAR, weeks)
    return measured["sharpe"], measured["consistency"], measured["max_drawdown"]


def score(daily: pd.Series, paper: PaperRecord | None = None) -> Score:
    """The composite score of a strategy from its held-out daily returns and, for an incumbent, its paper record."""
    sharpe, consistency, drawdown = held_out_figures(daily)
    if paper is None or paper.days == 0:  # no record yet: neutral age, held-out evidence only
        age = 0.5
    else:
        w = paper.days / (paper.days + AGE_DAYS) if paper.days > 0 else 0.0
        if paper.sharpe is not None and math.isfinite(paper.sharpe):
            sharpe = (1 - w) * sharpe + w * paper.sharpe
            consistency = (1 - w) * consistency + w * (1.0 if paper.sharpe > 0 else 0.0)
        if paper.max_drawdown is not None:
            drawdown = max(drawdown, paper.max_drawdown)
        good = paper.sharpe is not None and paper.sharpe > 0 and not paper.decaying
        age = min(1.0, paper.days / AGE_DAYS) if good else 0.0
    parts = {
        "sharpe": _clip(sharpe / SHARPE_SCALE),
        "consistency": _clip(consistency),
        "drawdown": _clip(1.0 - drawdown / DRAWDOWN_SCALE),
        "age": _clip(age),
    }
    return Score(total=sum(WEIGHTS[k] * v for k, v in parts.items()), **parts)


def scores(daily_returns: pd.DataFrame, paper: dict[str, PaperRecord] | None = None) -> dict[str, Score]:
    paper = paper or {}
    return {name: score(daily_returns[name], paper.get(name)) for name in daily_returns.columns}
