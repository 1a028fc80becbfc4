"""Daily net returns of a portfolio book (weights per day and coin) and of the universe's equal-weight market.

Timing: weights set from day t's close are held over day t+1, whose return is labelled t+1; so a return on
day d was earned by weights known at the close of d-1. A coin with no close on a day (before its listing,
after its delisting) earns nothing there: a delisted coin's position is closed at its last bar's close, and
every return up to that bar counts. Costs: every change of weight pays the taker fee plus slippage on the
traded notional (target changes fill as market orders, as in the bar backtest; see backtest/costs.py).
Funding: a long pays the day's funding (the sum of its hourly rates), a short receives it.
"""

from __future__ import annotations

import pandas as pd

from quant_organism.backtest.costs import CostModel
from quant_organism.strategies.portfolio import coin_returns


def portfolio_returns(
    weights: pd.DataFrame,
    closes: pd.DataFrame,
    costs: CostModel | None = None,
    funding: pd.DataFrame | None = None,
) -> pd.Series:
    """The book's net daily return: held weights x coin returns, less trading costs and funding paid."""
    costs = CostModel() if costs is None else costs
    weights = weights.reindex_like(closes).fillna(0.0)
    held = weights.shift(1).fillna(0.0)
    gross = (held * coin_returns(closes)).sum(axis=1)
    turnover = weights.diff().abs().sum(axis=1)
    turnover.iloc[0] = weights.iloc[0].abs().sum()
    # a day-t trade is made at day t's close, so its cost lands on the return labelled t+1 with that book
    traded = turnover.shift(1).fillna(0.0) * (costs.taker_fee + costs.slippage)
    paid = 0.0
    if funding is not None:
        paid = (held * funding.reindex_like(closes).fillna(0.0)).sum(axis=1)
    net = gross - traded - paid
    net.name = "return"
    return net


def equal_weight_market(
    closes: pd.DataFrame, members: pd.DataFrame | None = None, funding: pd.DataFrame | None = None
) -> pd.Series:
    """The universe's equal-weight buy-and-hold return, rebalanced daily over the members of the day before. With
    `funding`, the market as a perpetuals holder holds it: each long pays its funding, as `portfolio_returns` charges
    a book (without it a short book's funding income would read as alpha over the market)."""
    eligible = closes.notna() if members is None else (members.reindex_like(closes).fillna(False).astype(bool) & closes.notna())
    held = eligible.shift(1, fill_value=False)
    count = held.sum(axis=1)
    earned = coin_returns(closes)
    if funding is not None:
        earned = earned - funding.reindex_like(closes).fillna(0.0)
    market = (earned.where(held, 0.0).sum(axis=1) / count.where(count > 0)).fillna(0.0)
    market.name = "market"
    return market
