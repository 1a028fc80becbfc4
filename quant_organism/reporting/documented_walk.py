"""The documented tier walked through history: on each date the tier is judged on the data before it only, and
what it chose is followed until the next date (forward), beside cash, the equal-weight market, the plain trend
rule at its pre-registered default and the naive choice "the grid's best rule in sample".

Every forward figure here is on days after the date that chose: the only figures a quant should trust.
The universe is point in time (market/universe.py): each date's members come from data before it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from quant_organism.backtest.costs import CostModel
from quant_organism.backtest.portfolio_returns import equal_weight_market
from quant_organism.core.metrics import max_drawdown, sharpe, total_return
from quant_organism.market.panel import DailyPanel
from quant_organism.strategies.portfolio import DEFAULT_RULE, DOCUMENTED_RULES
from quant_organism.validation.documented import MIN_EVIDENCE_DAYS, evidence_span, judge_documented, rule_returns, runnable_rules

COLUMNS = ("tier", "default_rule", "naive_best", "market", "cash")


def monthly_dates(panel: DailyPanel, first: str | None = None, last: str | None = None) -> list[pd.Timestamp]:
    """The 1st of each month from the first with enough evidence (or `first`) to the last the data follows."""
    index = panel.closes.index
    ready = evidence_span(index, index[-1])
    if len(ready) <= MIN_EVIDENCE_DAYS:
        return []
    start = ready[MIN_EVIDENCE_DAYS]
    if first:
        start = max(start, pd.Timestamp(first, tz="UTC"))
    end = index[-1] - pd.Timedelta(days=1)  # a date needs a forward day after it
    if last:
        end = min(end, pd.Timestamp(last, tz="UTC"))
    return list(pd.date_range(start + pd.offsets.MonthBegin(0), end, freq="MS"))


def walk(
    panel: DailyPanel,
    members: pd.DataFrame,
    dates: Sequence[pd.Timestamp],
    costs: CostModel | None = None,
    progress: Callable[[dict], None] | None = None,
) -> tuple[list[dict], pd.DataFrame]:
    """(one row per date, the chained forward daily returns of each column in COLUMNS)."""
    rules, _ = runnable_rules(tuple(r for family in DOCUMENTED_RULES.values() for r in family), panel)
    every_rule = rule_returns(panel, rules, members, costs)  # causal: equal on each prefix (tested)
    market = equal_weight_market(panel.closes, members)
    rows, pieces = [], []
    index = panel.closes.index
    for k, date in enumerate(dates):
        following = dates[k + 1] if k + 1 < len(dates) else index[-1]
        verdict = judge_documented(panel, date, members, costs)
        span = (index >= verdict.start) & (index <= date) if verdict.start is not None else np.zeros(len(index), bool)
        in_sample = {name: sharpe(every_rule.loc[span, name].to_numpy(), 365.0) for name in every_rule.columns}
        naive = max(in_sample, key=in_sample.get)
        pick = verdict.best()
        forward = (index > date) & (index <= following)
        piece = pd.DataFrame(
            {
                "tier": every_rule.loc[forward, pick] if pick else 0.0,
                "default_rule": every_rule.loc[forward, DEFAULT_RULE.name],
                "naive_best": every_rule.loc[forward, naive],
                "market": market.loc[forward],
                "cash": 0.0,
            },
            index=index[forward],
        )
        pieces.append(piece)
        trend = next(f for f in verdict.families if f.family == "ts_trend")
        row = {
            "date": date.date().isoformat(),
            "until": following.date().isoformat(),
            "members": int(members.loc[date].sum()) if date in members.index else 0,
            "evidence_days": verdict.n_days,
            "passed": list(verdict.passed),
            "pick": pick,
            "pick_beta": verdict.rules[pick].beta if pick else None,
            "naive": naive,
            "pvalues": {f.family: (round(f.pvalue, 4) if f.tested else None) for f in verdict.families},
            "not_judged": {f.family: f.reason for f in verdict.families if not f.tested},
            "detectable_sharpe_50": None if trend.power is None else round(trend.power.at_50, 3),
            "detectable_sharpe_80": None if trend.power is None else round(trend.power.at_80, 3),
            "forward_return": {c: float((1.0 + piece[c]).prod() - 1.0) for c in COLUMNS},
        }
        rows.append(row)
        if progress:
            progress(row)
    curves = pd.concat(pieces) if pieces else pd.DataFrame(columns=list(COLUMNS))
    return rows, curves


def chained(curves: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Per column: total return, annual Sharpe and max drawdown of the chained forward record (core/metrics.py)."""
    out = {}
    for column in curves.columns:
        returns = curves[column].to_numpy(dtype=float)
        out[column] = {
            "return": total_return(returns) if len(returns) else 0.0,
            "sharpe": float(sharpe(returns, 365.0)) if len(returns) > 1 else math.nan,
            "max_drawdown": max_drawdown(returns) if len(returns) else 0.0,
        }
    return out
