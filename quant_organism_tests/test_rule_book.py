"""A documented rule's paper book: stepped one closed day at a time on the panel as it stood, it earns exactly what
the vectorised backtest of the same deployed book earns; it resumes from its ledger row; the chain's and the
retrospective's figures for a deployed rule are that book's."""

from __future__ import annotations

import pandas as pd
import pytest

from quant_organism.backtest.costs import CostModel
from quant_organism.deployment import documented_capital as documented
from quant_organism.market.sources.planted_panel import PanelMarket
from quant_organism.runtime.ledger import PaperLedger
from quant_organism.runtime.rule_book import RuleBook, rule_parity
from quant_organism.runtime.rule_ledger import last_rule_day, rule_figures, rule_record, write_rule_days
from quant_organism.strategies.portfolio import rule_named

PANEL = PanelMarket("trend", 1.5, seed=11, coins=8, days=420, forward_days=0).panel()


@pytest.mark.parametrize(
    "rule",
    [
        "ts_trend_60d_long_flat",
        "xs_momentum_28d",
        "funding_carry_30d",
        "searched.risk_adjusted.follow.cross_section.long_flat.L40.q20.equal.r3.age60",  # a searched genome's book
        "searched.momentum.fade.time_series.long_short.L20.vol30.r7.age120",
    ],
)
def test_the_stepped_book_earns_what_its_backtest_earns(rule: str) -> None:
    since = PANEL.closes.index[300]
    name = rule if documented.is_rule(rule) else documented.documented_name(rule)
    book = RuleBook(name, documented.rule_of(name), since, top_n=6, costs=CostModel())
    days = book.run(PANEL, PANEL.closes.index[300:380])
    record = pd.Series([d.ret for d in days], index=pd.DatetimeIndex([d.day for d in days]))
    parity = rule_parity(book, PANEL, record)
    assert parity.ok and parity.days == 80, parity.first_gap
    assert days[0].ret != 0.0 and any(d.turnover > 0 for d in days)  # it entered and it rebalanced
    backtest = book.backtest(PANEL)
    assert (backtest.loc[backtest.index < since] == 0.0).all()  # flat before its entry


def test_a_record_off_by_a_day_breaks_parity() -> None:
    """The check can fail: a record whose days are shifted by one (each day credited with the next day's return, as
    a book reading a later close would earn) is caught on the first day it differs."""
    since = PANEL.closes.index[300]
    book = RuleBook("documented.ts_trend_20d_long_short", rule_named("ts_trend_20d_long_short"), since)
    days = book.run(PANEL, PANEL.closes.index[300:340])
    record = pd.Series([d.ret for d in days], index=pd.DatetimeIndex([d.day for d in days]))
    assert rule_parity(book, PANEL, record).ok
    shifted = pd.Series(record.to_numpy()[1:], index=record.index[:-1])  # each day given the next day's return
    assert not rule_parity(book, PANEL, shifted).ok


def test_the_book_resumes_from_its_ledger_row_and_a_rerun_replaces_it(tmp_path) -> None:
    name = "documented.ts_trend_60d_long_flat"
    since = PANEL.closes.index[300]
    book = RuleBook(name, rule_named("ts_trend_60d_long_flat"), since)
    ledger = PaperLedger(tmp_path / "ledger.duckdb")
    whole = book.run(PANEL, PANEL.closes.index[300:330])
    write_rule_days(ledger, book.run(PANEL, PANEL.closes.index[300:315]))
    resumed = book.run(PANEL, PANEL.closes.index[315:330], last_rule_day(ledger, name, PANEL.closes.index[315]))
    write_rule_days(ledger, resumed)
    write_rule_days(ledger, resumed[-3:])  # a rerun of the last three days
    record = rule_record(ledger, name)
    assert len(record) == 30
    assert record.to_numpy() == pytest.approx([d.ret for d in whole], abs=0.0)
    days, sharpe, drawdown = rule_figures(ledger, name)
    assert days == 30 and sharpe is not None and drawdown is not None and drawdown >= 0.0


def test_the_chain_s_deployed_rule_returns_are_the_book_s() -> None:
    """What the retrospective credits a newly deployed rule with (documented.rule_daily_returns with its `since`) is
    what the paper book earns: entered from flat at the close before, its entry paid."""
    name, since = "documented.xs_momentum_28d", PANEL.closes.index[300]
    frames = {coin: pd.DataFrame({"close": PANEL.closes[coin], "volume": PANEL.dollar_volume[coin] / PANEL.closes[coin],
                                  "funding_rate": PANEL.funding[coin]}).dropna(subset=["close"])
              for coin in PANEL.closes.columns if PANEL.closes[coin].notna().any()}  # fmt: skip
    chain = documented.rule_daily_returns(frames, [name], 6, CostModel(), since={name: since})[name]
    book = RuleBook(name, rule_named("xs_momentum_28d"), since, top_n=6)
    days = book.run(documented.frames_panel(frames), PANEL.closes.index[300:360])
    assert [d.ret for d in days] == pytest.approx(chain.loc[since:].iloc[:60].tolist(), abs=1e-12)
