"""Paper trading of a documented portfolio rule: one book for the whole universe, stepped one closed day at a time.

A pre-registered rule (strategies/portfolio.py) holds weights across the point-in-time universe. Its book acts at
each UTC day's close, the day's last bar: it earns the day on the weights it set at the previous close, pays the
funding those positions carried and the costs of the previous close's rebalance (backtest/portfolio_returns.py's timing
and cost model), then reads the rule's weights from the panel *as it stood at this close* (`panel.until(day)`:
nothing later exists for it) and rebalances to them. A book deployed for day `since` starts flat, enters at the
close of the day before (the night that chose it) and pays that entry on its first day.

The backtest of the same book is `portfolio_returns` over the rule's weights on the whole panel, flat before the
entry (strategies/portfolio.deployed_weights). `rule_parity` compares the two day by day: the stepped book reads
prefixes only, so any lookahead in the rule or the universe, or any drift in the cost accounting, shows as a gap.

A rule on probation trades under its weekly stop (runtime/weekly_stop.py): at the close of the day its week's excess
reaches the stop, it sets no weights, and it sets none again until the close before its next week begins. The backtest
knows no stop, so parity is judged up to the first day a stop acts.

The book's state after a day (weights held, the rebalance's turnover, equity) is its row in the ledger
(runtime/rule_ledger.py): a later run resumes from the last row before its first day (its week replayed from the
record, `resume`), and a rerun of a day replaces its row.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

import pandas as pd

from quant_organism.backtest.costs import CostModel
from quant_organism.backtest.portfolio_returns import portfolio_returns
from quant_organism.market.panel import DailyPanel
from quant_organism.market.universe import MIN_HISTORY_DAYS, panel_members
from quant_organism.strategies.portfolio import WARMUP_DAYS, PortfolioRule, deployed_weights
from quant_organism.strategies.portfolio_genome import WARMUP_DAYS as GENOME_WARMUP_DAYS
from quant_organism.strategies.portfolio_genome import PortfolioGenome

from .weekly_stop import StopWeek, WeeklyStop, replay

PARITY_TOLERANCE = 1e-12  # per day, absolute: the book and the backtest sum the same terms in another order
HISTORY_DAYS = max(WARMUP_DAYS, GENOME_WARMUP_DAYS) + MIN_HISTORY_DAYS + 31
"""Days of history a rule book reads before its first day: the longest signal, volatility and age windows of a
documented rule or a searched genome, a coin's minimum history in the universe and its trailing volume, so its
weights and members are those of any longer one."""


@dataclass(frozen=True)
class RuleDay:
    """One closed day of a rule's book: what it earned, the rebalance it made at the close, the weights it then held."""

    strategy: str
    day: pd.Timestamp
    ret: float
    turnover: float
    equity: float
    weights: dict[str, float] = field(default_factory=dict)
    week: StopWeek | None = field(default=None, compare=False)  # its weekly stop's week after the day (with a stop)


@dataclass(frozen=True)
class RuleBook:
    """A deployed rule's paper book: its name, the rule, the first day it trades, its universe and costs."""

    strategy: str
    rule: PortfolioRule | PortfolioGenome
    since: pd.Timestamp
    top_n: int | None = None
    costs: CostModel = field(default_factory=CostModel)
    stop: WeeklyStop | None = None  # on probation: its sleeve's weekly stop

    def weights_at(self, panel: DailyPanel, day: pd.Timestamp) -> dict[str, float]:
        """The rule's weights set at `day`'s close, from the panel up to that close only."""
        seen = panel.until(day)
        if not len(seen.closes.index) or seen.closes.index[-1] != day:
            return {}
        members = panel_members(seen.dollar_volume, self.top_n)
        row = self.rule.weights(seen.closes, members, seen.funding).iloc[-1]
        return {str(coin): float(w) for coin, w in row.items() if w != 0.0}

    def step(self, panel: DailyPanel, day: pd.Timestamp, last: RuleDay | None) -> RuleDay:
        """The book through `day`'s close, from its state after the day before (`last`; None: not yet entered)."""
        previous = day - pd.Timedelta(days=1)
        if last is None:  # entered at the close of the night that chose it
            held = self.weights_at(panel, previous)
            turnover, equity = math.fsum(abs(w) for w in held.values()), 1.0
        else:
            if last.day != previous:
                raise ValueError(f"{self.strategy}: the book's last day is {last.day.date()}, not {previous.date()}: "
                                 "a day was skipped; trade the days in order")  # fmt: skip
            held, turnover, equity = last.weights, last.turnover, last.equity
        closes = panel.closes
        if day not in closes.index or previous not in closes.index:
            raise ValueError(f"{self.strategy}: the panel has no close on {previous.date()} and {day.date()}")
        moves = (closes.loc[day] / closes.loc[previous] - 1.0).fillna(0.0)
        funding = panel.funding.loc[day].fillna(0.0) if panel.funding is not None else None
        gross = math.fsum(w * float(moves.get(coin, 0.0)) for coin, w in held.items())
        paid = math.fsum(w * float(funding.get(coin, 0.0)) for coin, w in held.items()) if funding is not None else 0.0
        ret = gross - turnover * (self.costs.taker_fee + self.costs.slippage) - paid
        week, flat = None, False
        if self.stop is not None:
            before = last.week if last is not None and last.week is not None else StopWeek(self.stop.week_of(day.date()))
            week = before.after_day(self.stop, day.date(), ret, market_return(panel, day))
            flat = week.stopped_on(self.stop, (day + pd.Timedelta(days=1)).date())  # tomorrow is still in a stopped week
        target = {} if flat else self.weights_at(panel, day)
        traded = math.fsum(abs(target.get(c, 0.0) - held.get(c, 0.0)) for c in set(target) | set(held))
        return RuleDay(self.strategy, day, ret, traded, equity * (1.0 + ret), target, week)

    def resume(self, panel: DailyPanel, record: pd.Series, last: RuleDay | None) -> RuleDay | None:
        """`last` (the ledger's row) with its week under the stop, replayed from the record (day -> return) up to it."""
        if last is None or self.stop is None:
            return last
        weeks = self._weeks(panel, record.loc[record.index <= last.day])
        return replace(last, week=weeks[-1][2] if weeks else None)

    def stopped_days(self, panel: DailyPanel, record: pd.Series) -> list[pd.Timestamp]:
        """The days of the record at whose close its weekly stop acted."""
        return [day for day, before, after in self._weeks(panel, record)
                if after.stopped and not (before is not None and before.stopped_on(self.stop, day.date()))]  # fmt: skip

    def _weeks(self, panel: DailyPanel, record: pd.Series) -> list:
        return [] if self.stop is None else replay(self.stop, record.items(), lambda day: market_return(panel, day))

    @property
    def anchor(self) -> pd.Timestamp:
        """The first day of history its panel starts from, fixed by its first day so every run reads alike."""
        return pd.Timestamp(self.since).normalize() - pd.Timedelta(days=HISTORY_DAYS)

    def run(self, panel: DailyPanel, days: Iterable[pd.Timestamp], last: RuleDay | None = None) -> list[RuleDay]:
        """The book over `days` (from `since` on; earlier ones are not its days), resuming after `last`."""
        out = []
        for day in days:
            if day < self.since:
                continue
            last = self.step(panel, day, last)
            out.append(last)
        return out

    def backtest(self, panel: DailyPanel) -> pd.Series:
        """The same book's net daily returns, vectorised over the whole panel (flat before its entry)."""
        members = panel_members(panel.dollar_volume, self.top_n)
        weights = deployed_weights(self.rule.weights(panel.closes, members, panel.funding), self.since)
        return portfolio_returns(weights, panel.closes, self.costs, panel.funding)


def market_return(panel: DailyPanel, day: pd.Timestamp) -> float:
    """The equal-weight market's return on `day`: the mean close-to-close move of the coins with both closes (the
    market the probation's evidence is matched to, validation/held_out.buy_and_hold_returns)."""
    closes = panel.closes
    at = closes.index.get_indexer([day])[0]
    if at <= 0:
        return 0.0
    moves = (closes.iloc[at] / closes.iloc[at - 1] - 1.0).dropna()
    return float(moves.mean()) if len(moves) else 0.0


@dataclass(frozen=True)
class RuleParity:
    strategy: str
    days: int
    max_gap: float
    first_gap: str | None = None
    until: str | None = None  # judged up to this day: its weekly stop acted at its close

    @property
    def ok(self) -> bool:
        return self.first_gap is None

    def to_dict(self) -> dict:
        return {"strategy": self.strategy, "days": self.days, "max_gap": self.max_gap, "first_gap": self.first_gap,
                "until": self.until}  # fmt: skip


def rule_parity(book: RuleBook, panel: DailyPanel, record: pd.Series) -> RuleParity:
    """The paper record (day -> return, from the ledger) against the book's backtest on the same panel."""
    if record.empty:
        return RuleParity(book.strategy, 0, 0.0)
    stops = book.stopped_days(panel, record)
    record = record.loc[record.index <= stops[0]] if stops else record  # the backtest knows no stop
    expected = book.backtest(panel).reindex(record.index)
    gaps = (record - expected).abs().fillna(math.inf)
    bad = gaps[gaps > PARITY_TOLERANCE]
    first = None
    if len(bad):
        day = bad.index[0]
        first = f"{day.date()}: paper {record[day]:.12g}, backtest {expected[day]:.12g}"
    return RuleParity(book.strategy, len(record), float(gaps.max()), first, str(stops[0].date()) if stops else None)
