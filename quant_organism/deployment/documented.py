"""The documented tier as a path to capital: its passing rules become candidates of the same decision engine.

A pre-registered portfolio rule (strategies/portfolio.py) that the documented tier passes (validation/documented.py:
its family's SPA/StepM on every day before the date, against the beta-matched market, at the family's fixed
level) competes beside the search's passers, under the same rules: the correlation filter, Kelly sizing and
probation (deployment/selection.py). Nothing is waved through: it enters at the incubation allocation and holds
Kelly capital only once its forward record earns it, exactly as a searched strategy does.

Names: a rule trades as `documented.<rule>` (e.g. `documented.ts_trend_60d_long_flat`), one name per rule, so
its record follows the rule across nights. Its returns are the rule's net daily portfolio returns
(backtest/portfolio.py) on the chain's universe, each day's landing on that day's last bar, so they sit in the
same per-bar table as the search's candidates and compound with them.

The universe is point in time (market/universe.py): on each day the `top_n` coins by trailing dollar volume with
`MIN_HISTORY_DAYS` (market/universe.py) of bars before it, all of them when `top_n` is None. Nothing after a day decides its weights.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from quant_organism.backtest.costs import CostModel
from quant_organism.backtest.portfolio import portfolio_returns
from quant_organism.market.panel import DailyPanel, daily_panel
from quant_organism.market.universe import point_in_time_members
from quant_organism.strategies.portfolio import PortfolioRule, rule_named
from quant_organism.validation.documented import DocumentedVerdict, judge_documented
from quant_organism.validation.tiers import DOCUMENTED_LEVEL

PREFIX = "documented."


def documented_name(rule: str) -> str:
    """The strategy name a documented rule trades under."""
    return PREFIX + rule


def is_documented(name: str) -> bool:
    return name.startswith(PREFIX)


def rule_of(name: str) -> PortfolioRule:
    """The pre-registered rule behind a `documented.<rule>` name (KeyError for any other name)."""
    if not is_documented(name):
        raise KeyError(f"{name!r} is not a documented rule's name (they start with {PREFIX!r})")
    return rule_named(name[len(PREFIX) :])


def frames_panel(frames: Mapping[str, pd.DataFrame]) -> DailyPanel:
    """The daily panel of per-coin bar frames (close, volume, and funding_rate where present)."""
    bars = {coin: f[["close", "volume"]] for coin, f in frames.items() if len(f)}
    if not bars:
        raise ValueError("no bars to build the documented tier's panel from")
    funding = {coin: f[["funding_rate"]].dropna() for coin, f in frames.items() if len(f) and "funding_rate" in f.columns}
    return daily_panel(bars, {c: f for c, f in funding.items() if len(f)} or None)


def universe(panel: DailyPanel, top_n: int | None = None) -> pd.DataFrame:
    """The point-in-time members of every day of the panel (days x coins)."""
    size = len(panel.closes.columns) if top_n is None else int(top_n)
    return point_in_time_members(panel.dollar_volume, top_n=max(1, size))


def judge(
    frames: Mapping[str, pd.DataFrame], date: str | pd.Timestamp, top_n: int | None = None, costs: CostModel | None = None
) -> DocumentedVerdict:
    """The documented tier on the bars of `frames` up to `date` (the chain's last day of data)."""
    panel = frames_panel(frames)
    return judge_documented(panel, date, universe(panel, top_n), costs)


def candidate_verdicts(verdict: DocumentedVerdict) -> list[dict]:
    """Verdict dicts (the shape deployment/selection.py reads) for the rules the tier passed."""
    out = []
    for name in verdict.passed:
        evidence = verdict.rules[name]
        family = next(f for f in verdict.families if name in f.superior)
        out.append(
            {
                "candidate_id": documented_name(name),
                "score": float(evidence.t_stat),
                "passed": True,
                "mode": "documented",
                # the family's SPA p-value, weighted-Bonferroni over the tier's families: valid for the one chosen
                "gate_pvalue": min(1.0, float(family.spa_pvalue) * DOCUMENTED_LEVEL / family.level),
                "beta": float(evidence.beta),
                "reasons": [
                    f"documented tier: {family.family} at {family.level:.2%} (SPA p {family.spa_pvalue:.3f}) over "
                    f"{verdict.n_days} days; excess Sharpe {evidence.excess_sharpe:.2f}, alpha {evidence.alpha:+.1%}, "
                    f"beta {evidence.beta:.2f}"
                ],
            }
        )
    return out


def rule_bar_returns(
    frames: Mapping[str, pd.DataFrame],
    names: Iterable[str],
    index: pd.DatetimeIndex,
    top_n: int | None = None,
    costs: CostModel | None = None,
) -> pd.DataFrame:
    """Per-bar returns of documented rules (by strategy name) on the bars `index`: each day's net portfolio return
    on that day's last bar of `index`, 0 on the others. Weights come from the frames' closes up to each day."""
    names = list(names)
    out = pd.DataFrame(0.0, index=index, columns=names, dtype=np.float64)
    if not names or len(index) == 0:
        return out
    panel = frames_panel(frames)
    members = universe(panel, top_n)
    last_bar = pd.Series(index, index=index).groupby(index.floor("D")).last()
    for name in names:
        rule = rule_of(name)
        daily = portfolio_returns(rule.weights(panel.closes, members, panel.funding), panel.closes, costs, panel.funding)
        landed = last_bar.reindex(daily.index).dropna()
        out.loc[pd.DatetimeIndex(landed.to_numpy()), name] = daily.loc[landed.index].to_numpy()
    return out
