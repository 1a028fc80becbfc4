"""The portfolio search's gate: genomes chosen on the train window, judged once on the held-out days after it.

The search (evolution/portfolio_search.py) reads the train window only and sends its best `candidates` by train
excess Sharpe here. Each candidate's net daily returns on the held-out span (its weights from the data up to each
day, the point-in-time universe) are matched to the equal-weight market held as perpetuals at the candidate's own
beta over the span (core/beta.py), and the excess goes to Hansen's SPA and Romano-Wolf's StepM (validation/
superiority.py) at the portfolio search's fixed share of the night's error (validation/tiers.py). What StepM
rejects passes. Nothing the search saw is judged: the held-out span starts the day after the train window ends.

**Assumptions, and what enforces them.** The stationary bootstrap assumes the excess is stationary and weakly
dependent over the span, with a mean that is the candidate's edge; its size is measured on nulls that break that
(fat tails, clustered volatility, a bull drift: `bench organism --evidence --search-only`). Selection spent many
trials on the train window; the gate pays only for the candidates it judges, which is valid because the train and
held-out days are disjoint. The number of effective trials selection spent (Li & Ji, over the train excess returns
of every genome tried) is counted and reported, with the Sharpe this test could see (validation/power.py).

Names: a passer trades as its genome's name (`searched.<genes>`, strategies/portfolio_genome.py), a rule book like
a documented rule's (deployment/documented_capital.py), under the same decision, probation and weekly stop.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from quant_organism.backtest.costs import CostModel
from quant_organism.backtest.portfolio_returns import equal_weight_market
from quant_organism.core.artifacts import finite_or_none
from quant_organism.core.beta import beta_matched_excess
from quant_organism.core.metrics import sharpe
from quant_organism.core.windows import Window
from quant_organism.evolution.portfolio_search import (
    DEFAULT_SETTINGS,
    PortfolioSearchResult,
    PortfolioSearchSettings,
    search_portfolios,
)
from quant_organism.market.panel import DailyPanel
from quant_organism.strategies.portfolio_genome import PortfolioGenome
from quant_organism.validation.documented import rule_returns
from quant_organism.validation.power import DetectableSharpe, effective_number, plan
from quant_organism.validation.superiority import superiority_test
from quant_organism.validation.tiers import PORTFOLIO_SEARCH_LEVEL

DAYS_PER_YEAR = 365.0
MIN_HELD_OUT_DAYS = 60  # below this the gate is not run: a test on fewer days has no power worth its error


@dataclass(frozen=True)
class SearchedFigures:
    """One candidate: its train excess Sharpe (where it was chosen) and its held-out figures (where it is judged)."""

    name: str
    train_excess_sharpe: float
    held_out_sharpe: float
    held_out_excess_sharpe: float
    alpha: float  # annual, held-out
    beta: float
    t_stat: float
    superior: bool

    def to_dict(self) -> dict[str, Any]:
        return {k: finite_or_none(v) if isinstance(v, float) else v for k, v in self.__dict__.items()}


@dataclass
class SearchedVerdict:
    """The night's portfolio search and its gate."""

    date: pd.Timestamp
    train: Window
    held_out: Window
    level: float
    tried: int  # distinct genomes evaluated on the train window
    effective_trials: float  # Li & Ji over their train excess returns
    candidates: list[PortfolioGenome]
    figures: dict[str, SearchedFigures] = field(default_factory=dict)
    spa_pvalue: float = 1.0
    reach: DetectableSharpe | None = None
    reason: str = ""  # why the gate did not run, when it did not
    daily: pd.DataFrame = field(default_factory=pd.DataFrame)  # candidates' net daily returns, held-out days only

    @property
    def passed(self) -> list[str]:
        """Passers, best held-out t first."""
        superior = [f for f in self.figures.values() if f.superior]
        return [f.name for f in sorted(superior, key=lambda f: -f.t_stat)]

    @property
    def best(self) -> SearchedFigures | None:
        """The candidate chosen first on train (the search's best in-sample)."""
        return self.figures.get(self.candidates[0].name) if self.candidates else None

    def summary(self) -> str:
        head = (f"portfolio search: {self.tried} genomes tried on train {self.train.start.date()}.."
                f"{(self.train.end - pd.Timedelta(days=1)).date()} (~{self.effective_trials:.0f} effective), "
                f"{len(self.candidates)} judged on {self.held_out_days} held-out days at {self.level:.2%}")  # fmt: skip
        if self.reason:
            return f"{head}: not judged ({self.reason})"
        return f"{head}: SPA p {self.spa_pvalue:.4f}, passed {len(self.passed)}" + (f" ({self.passed[0]})" if self.passed else "")

    @property
    def held_out_days(self) -> int:
        return max(0, (self.held_out.end - self.held_out.start).days)

    def to_dict(self) -> dict[str, Any]:
        return {
            "date": self.date.date().isoformat(),
            "train": self.train.to_dict(),
            "held_out": self.held_out.to_dict(),
            "level": self.level,
            "tried": self.tried,
            "effective_trials": finite_or_none(self.effective_trials),
            "spa_pvalue": finite_or_none(self.spa_pvalue),
            "passed": self.passed,
            "reason": self.reason,
            "candidates": {
                g.name: {**g.to_dict(), **self.figures[g.name].to_dict()} if g.name in self.figures else g.to_dict()
                for g in self.candidates
            },  # fmt: skip
            **({} if self.reach is None else self.reach.to_dict()),
            "summary": self.summary(),
        }


def search_and_judge(
    panel: DailyPanel,
    members: pd.DataFrame,
    train: Window,
    date: pd.Timestamp,
    config: PortfolioSearchSettings = DEFAULT_SETTINGS,
    seed: int = 0,
    costs: CostModel | None = None,
    level: float = PORTFOLIO_SEARCH_LEVEL,
    reps: int = 1000,
) -> SearchedVerdict:
    """The search on `train`, then its candidates judged on [train.end, date] (see the module docstring)."""
    date = pd.Timestamp(date).normalize()
    held_out = Window(train.end, date + pd.Timedelta(days=1), "held_out")
    result = search_portfolios(panel, members, train, config, seed, costs)
    return judge(result, panel.until(date), members, held_out, date, costs, level, reps)


def judge(
    result: PortfolioSearchResult,
    panel: DailyPanel,
    members: pd.DataFrame,
    held_out: Window,
    date: pd.Timestamp,
    costs: CostModel | None = None,
    level: float = PORTFOLIO_SEARCH_LEVEL,
    reps: int = 1000,
) -> SearchedVerdict:
    """The gate on the search's candidates over `held_out` (the panel must end by `date`)."""
    tried = len(result.trials)
    effective = effective_number(pd.DataFrame(result.train_excess).to_numpy()) if result.train_excess else 0.0
    verdict = SearchedVerdict(date, result.train, held_out, level, tried, effective, list(result.candidates))
    days = panel.closes.index[(panel.closes.index >= held_out.start) & (panel.closes.index < held_out.end)]
    if len(days) < MIN_HELD_OUT_DAYS or not result.candidates:
        verdict.reason = f"{len(days)} held-out day(s) < {MIN_HELD_OUT_DAYS}" if result.candidates else "no candidate"
        return verdict
    daily = rule_returns(panel, tuple(result.candidates), members, costs).reindex(days)
    market = equal_weight_market(panel.closes, members, panel.funding).reindex(days).fillna(0.0)
    excess, alphas, betas = beta_matched_excess(daily.fillna(0.0), market)
    test = superiority_test(excess, alpha=level, reps=reps, seed=0)
    for genome in result.candidates:
        name = genome.name
        t_stat = test.candidates.get(name, {}).get("t_stat")
        verdict.figures[name] = SearchedFigures(
            name=name,
            train_excess_sharpe=float(result.trials[name].excess_sharpe),
            held_out_sharpe=float(sharpe(daily[name].fillna(0.0).to_numpy(), DAYS_PER_YEAR)),
            held_out_excess_sharpe=float(sharpe(excess[name].to_numpy(), DAYS_PER_YEAR)),
            alpha=float(alphas[name]),
            beta=float(betas[name]),
            t_stat=float(t_stat) if t_stat is not None and math.isfinite(t_stat) else math.nan,
            superior=name in test.superior,
        )
    verdict.spa_pvalue = float(test.spa_pvalue)
    verdict.reach = plan(excess.to_numpy(), level)
    verdict.daily = daily
    return verdict


def candidate_verdicts(verdict: SearchedVerdict) -> list[dict]:
    """Verdict dicts (the shape deployment/selection.py reads) for the genomes the gate passed."""
    out = []
    for name in verdict.passed:
        figures = verdict.figures[name]
        out.append(
            {
                "candidate_id": name,
                "score": float(figures.t_stat),
                "passed": True,
                "mode": "searched_portfolio",
                "gate_pvalue": float(verdict.spa_pvalue),
                "beta": float(figures.beta),
                "reasons": [
                    f"portfolio search: chosen on train (excess Sharpe {figures.train_excess_sharpe:.2f} among "
                    f"{verdict.tried} genomes, ~{verdict.effective_trials:.0f} effective), passed StepM among "
                    f"{len(verdict.candidates)} at {verdict.level:.2%} on {verdict.held_out_days} held-out days (SPA p "
                    f"{verdict.spa_pvalue:.4f}); held-out excess Sharpe {figures.held_out_excess_sharpe:.2f}, alpha "
                    f"{figures.alpha:+.1%}, beta {figures.beta:.2f}"
                ],
            }
        )
    return out


def held_out_only(daily: pd.DataFrame, held_out: Mapping[str, pd.Timestamp]) -> pd.DataFrame:
    """Daily returns with each named column NaN before its held-out start (its train days are never judged again)."""
    out = daily.copy()
    for name, start in held_out.items():
        if name in out.columns:
            out.loc[out.index < start, name] = float("nan")
    return out
