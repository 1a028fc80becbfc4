"""The documented tier as a path to capital: its passing rules become candidates of the same decision engine.

A pre-registered portfolio rule (strategies/portfolio.py) that the documented tier passes (validation/documented.py:
its family's closed e-test on every week before the date, against the beta-matched market, at the family's
fixed level, valid across nights) competes beside the search's passers, under the same rules: the correlation filter, Kelly sizing and
probation (deployment/selection.py). Nothing is waved through: it enters at the incubation allocation and holds
Kelly capital only once its forward record earns it, exactly as a searched strategy does.

Names: a rule trades as `documented.<rule>` (e.g. `documented.ts_trend_60d_long_flat`), one name per rule, so
its record follows the rule across nights. Its returns are the rule's net daily portfolio returns
(backtest/portfolio_returns.py) on the chain's universe, each day's landing on that day's last bar, so they sit in the
same per-bar table as the search's candidates and compound with them.

The universe is point in time (market/universe.py): on each day the `top_n` coins by trailing dollar volume with
`MIN_HISTORY_DAYS` (market/universe.py) of bars before it, all of them when `top_n` is None. Nothing after a day decides its weights.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from quant_organism.backtest.costs import CostModel
from quant_organism.backtest.portfolio_returns import portfolio_returns
from quant_organism.market.panel import DailyPanel, daily_panel
from quant_organism.market.universe import panel_members
from quant_organism.strategies.portfolio import PortfolioRule, deployed_weights, rule_named
from quant_organism.strategies.portfolio_genome import PREFIX as SEARCHED_PREFIX
from quant_organism.strategies.portfolio_genome import PortfolioGenome, from_name
from quant_organism.validation.documented import DocumentedVerdict, judge_documented, missing_inputs
from quant_organism.validation.tiers import DOCUMENTED_LEVEL

PREFIX = "documented."


def documented_name(rule: str) -> str:
    """The strategy name a documented rule trades under."""
    return PREFIX + rule


def is_documented(name: str) -> bool:
    return name.startswith(PREFIX)


def is_rule(name: str) -> bool:
    """A strategy that trades as one book across the universe (a rule book): a documented rule or a searched genome."""
    return is_documented(name) or name.startswith(SEARCHED_PREFIX)


def rule_of(name: str) -> PortfolioRule | PortfolioGenome:
    """The rule behind a rule book's name: the pre-registered rule of `documented.<rule>`, the genome of
    `searched.<genes>` (KeyError for any other name)."""
    if name.startswith(SEARCHED_PREFIX):
        try:
            return from_name(name)
        except ValueError as error:
            raise KeyError(str(error)) from None
    if not is_documented(name):
        raise KeyError(f"{name!r} is not a rule book's name (they start with {PREFIX!r} or {SEARCHED_PREFIX!r})")
    return rule_named(name[len(PREFIX) :])


def rule_family(name: str) -> str:
    """The family a rule book's death report and track record group it under: `documented_<family>` for a
    pre-registered rule, the genome's `searched_<construction>_<signal>` for a searched one."""
    rule = rule_of(name)
    return f"documented_{rule.family}" if is_documented(name) else rule.family


def frames_panel(frames: Mapping[str, pd.DataFrame]) -> DailyPanel:
    """The daily panel of per-coin bar frames (close, volume, and funding_rate where present)."""
    bars = {coin: f[["close", "volume"]] for coin, f in frames.items() if len(f)}
    if not bars:
        raise ValueError("no bars to build the documented tier's panel from")
    funding = {coin: f[["funding_rate"]].dropna() for coin, f in frames.items() if len(f) and "funding_rate" in f.columns}
    return daily_panel(bars, {c: f for c, f in funding.items() if len(f)} or None)


def universe(panel: DailyPanel, top_n: int | None = None) -> pd.DataFrame:
    """The point-in-time members of every day of the panel (days x coins)."""
    return panel_members(panel.dollar_volume, top_n)


def judge(
    frames: Mapping[str, pd.DataFrame],
    date: str | pd.Timestamp,
    top_n: int | None = None,
    costs: CostModel | None = None,
    retired: Mapping[str, object] | None = None,
) -> DocumentedVerdict:
    """The documented tier on the bars of `frames` up to `date` (the chain's last day of data). `retired`: strategy
    name -> the day it was retired (anything `pd.Timestamp` reads); a documented rule among them is judged only on
    its record from the day after."""
    panel = frames_panel(frames)
    return judge_documented(panel, date, universe(panel, top_n), costs, origins=retirement_origins(retired or {}))


def retirement_origins(retired: Mapping[str, object]) -> dict[str, pd.Timestamp]:
    """rule name -> the first day of its record since retirement, for the documented names in `retired`."""
    out = {}
    for name, left in retired.items():
        if not is_documented(name):
            continue
        stamp = pd.Timestamp(left)
        stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
        out[name[len(PREFIX) :]] = stamp.normalize() + pd.Timedelta(days=1)
    return out


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
                # the rule's anytime p-value (1 / its e-value), weighted-Bonferroni over the tier's families (recorded)
                "gate_pvalue": min(1.0, math.exp(-evidence.log_e) * DOCUMENTED_LEVEL / family.level),
                "beta": float(evidence.beta),
                "reasons": [
                    f"documented tier: {family.family} at {family.level:.2%} (its anytime p {math.exp(-evidence.log_e):.4f}) over "
                    f"{verdict.n_days} days; excess Sharpe {evidence.excess_sharpe:.2f}, alpha {evidence.alpha:+.1%}, "
                    f"beta {evidence.beta:.2f}"
                ],
            }
        )
    return out


def rule_daily_returns(
    frames: Mapping[str, pd.DataFrame],
    names: Iterable[str],
    top_n: int | None = None,
    costs: CostModel | None = None,
    since: Mapping[str, pd.Timestamp] | None = None,
) -> pd.DataFrame:
    """Net daily portfolio returns (days x strategy names) of rule books (documented rules, searched genomes) on the frames' point-in-time universe;
    each day's weights come from the closes up to that day. A rule whose inputs the frames lack (carry without
    funding) is left out: validation/documented.missing_inputs says why.

    `since`: rules deployed on a day (their forward record's first): flat before it, their book set at the close of
    the day before and held from there, its entry paid: what paper trading earns (runtime/rule_book.py)."""
    names = list(names)
    if not names:
        return pd.DataFrame(dtype=np.float64)
    panel = frames_panel(frames)
    members = universe(panel, top_n)
    columns = {}
    for name in names:
        rule = rule_of(name)
        if missing_inputs("funding_carry" if rule.needs_funding else rule.family, panel) is None:
            weights = rule.weights(panel.closes, members, panel.funding)
            if since is not None and name in since:
                weights = deployed_weights(weights, since[name])
            columns[name] = portfolio_returns(weights, panel.closes, costs, panel.funding)
    return pd.DataFrame(columns, index=panel.closes.index, dtype=np.float64)


def landed(daily: pd.DataFrame, index: pd.DatetimeIndex, names: Iterable[str] | None = None) -> pd.DataFrame:
    """Daily returns put on the bars `index`: each day's return on that day's last bar of `index`, 0 on the others
    (and on the days `daily` lacks), so they sit in one per-bar table with the search's and compound with them."""
    names = list(daily.columns if names is None else names)
    out = pd.DataFrame(0.0, index=index, columns=names, dtype=np.float64)
    if not names or len(index) == 0:
        return out
    last_bar = pd.Series(index, index=index).groupby(index.floor("D")).last()
    for name in names:
        if name not in daily.columns:
            continue
        days = last_bar.reindex(daily.index).dropna()
        out.loc[pd.DatetimeIndex(days.to_numpy()), name] = daily.loc[days.index, name].to_numpy()
    return out


def rule_bar_returns(
    frames: Mapping[str, pd.DataFrame],
    names: Iterable[str],
    index: pd.DatetimeIndex,
    top_n: int | None = None,
    costs: CostModel | None = None,
    since: Mapping[str, pd.Timestamp] | None = None,
) -> pd.DataFrame:
    """Per-bar returns of documented rules (by strategy name) on the bars `index`: `rule_daily_returns` landed on
    each day's last bar of `index`, 0 on the others."""
    names = list(names)
    daily = rule_daily_returns(frames, names, top_n, costs, since) if len(index) else pd.DataFrame()
    return landed(daily, index, names)
