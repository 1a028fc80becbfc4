"""Issue 78: the probation's weekly stop is enforced where the sleeve trades, by the rule the test counts.

The betting test (validation/sequential.py) is valid for weekly excesses bounded below; the bound holds because a
probation sleeve goes flat at the day's close where its week's excess reaches the stop (runtime/weekly_stop.py).
Constructed hourly markets with a known answer: a gap down that a long book rides loses the stop within a day, so
the paper engine flattens the sleeve at that day's last close, takes no entry until the next week begins, carries
the week across resumed runs, and the evidence's `stopped_week` on the paper's daily returns stops on the same day
at the same sum.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from quant_organism.runtime import PaperLedger, PaperTrader, RiskLimits, RuntimePolicy, StrategyRuntimeEngine
from quant_organism.runtime.weekly_stop import StopWeek, WeeklyStop, stopped_week
from quant_organism.validation.held_out import daily_returns
from quant_organism_tests.support.runtime_cases import always_long, market

ORIGIN = date(2024, 1, 1)  # a Monday: weeks are Jan 1-7, Jan 8-14, ...
RULE = WeeklyStop(ORIGIN, 0.05)


def at(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def gap_market() -> pd.DataFrame:
    """Three days of rise (the book goes long), a 12% gap down on Jan 4 held for two days, then a slow rise."""
    rise = 100 * np.exp(np.linspace(0, 0.05, 24 * 3))
    drop = np.full(24 * 2, rise[-1] * 0.88)
    return market(np.r_[rise, drop, drop[-1] * np.exp(np.linspace(0, 0.08, 24 * 9)[1:])])


def engine(stops=None) -> StrategyRuntimeEngine:
    return StrategyRuntimeEngine([always_long("a", 0.02)], policy=RuntimePolicy.backtest_parity(), coins=["BTC"],
                                 risk=RiskLimits.off(), weekly_stops=stops)  # fmt: skip


def test_the_rule_sums_a_week_up_to_its_stop_and_starts_afresh_the_next_week():
    state = StopWeek(0)
    for k, ret in enumerate([0.01, -0.03, -0.04, 0.20, 0.01]):
        state = state.after_day(RULE, date(2024, 1, 1 + k), ret)
    assert state.stopped and state.excess == pytest.approx(-0.06)  # the +20% after the stop is not counted
    assert state.stopped_on(RULE, date(2024, 1, 7)) and not state.stopped_on(RULE, date(2024, 1, 8))
    state = state.after_day(RULE, date(2024, 1, 8), 0.01)
    assert (state.week, state.excess, state.stopped) == (1, pytest.approx(0.01), False)
    beta = WeeklyStop(ORIGIN, 0.05, beta=1.0)  # the excess over the market is what is stopped
    assert StopWeek(0).after_day(beta, ORIGIN, 0.0, market=0.06).stopped
    assert stopped_week(np.array([0.01, -0.03, -0.04, 0.20]), 0.05) == (pytest.approx(-0.06), True)
    with pytest.raises(ValueError, match="positive loss"):
        WeeklyStop(ORIGIN, 0.0)


def test_the_engine_flattens_a_sleeve_at_the_close_its_week_reaches_the_stop_and_waits_for_the_next_week():
    frame = gap_market()
    free = engine().run({"BTC": frame})
    assert not free.risk_events
    stopped = engine({"a": RULE}).run({"BTC": frame})
    first = stopped.risk_events[0]
    assert (first.kind, first.strategy, first.time) == ("weekly_stop", "a", at("2024-01-04 23:00"))
    assert "next week begins on 2024-01-08" in first.detail
    units = stopped.marks_frame().set_index("time")["units"]
    assert (units[first.time + pd.Timedelta(hours=1) : at("2024-01-07 23:00")] == 0).all()  # flat from the next open
    assert units[at("2024-01-08 00:00")] != 0  # re-entered at the week's last close: the next week trades whole
    free_units = free.marks_frame().set_index("time")["units"]
    assert (free_units[at("2024-01-05") : at("2024-01-07 23:00")] != 0).all()  # without the stop the book held on

    # the evidence's rule on the paper's own daily returns stops on the same day at the same sum
    equity = stopped.marks_frame().set_index("time")["equity"]
    daily = daily_returns((equity / equity.shift(1).fillna(equity.iloc[0]) - 1.0).to_frame("a"))["a"]
    week = daily[at("2024-01-01") : at("2024-01-07")].to_numpy()
    total, fired = stopped_week(week, RULE.stop)
    assert fired and f"{total:+.2%}" in first.detail
    assert np.cumsum(week)[3] <= -RULE.stop < np.cumsum(week)[2]  # Jan 4 is the first day past the stop


def test_a_resumed_run_carries_the_week_and_its_stop(tmp_path):
    frame = gap_market()
    whole = PaperTrader(engine({"a": RULE}), PaperLedger(tmp_path / "whole.duckdb"), version="v1").run({"BTC": frame})
    ledger = PaperLedger(tmp_path / "split.duckdb")
    for start, end, version in [(None, "2024-01-04 12:00", "v1"), ("2024-01-04 12:00", "2024-01-06", "v2"),
                                ("2024-01-06", None, "v3")]:  # fmt: skip
        PaperTrader(engine({"a": RULE}), ledger, version=version).run({"BTC": frame}, start=start, end=end)
    events = ledger.risk_events()
    assert list(events["kind"]) == [e.kind for e in whole.result.risk_events] and (events["strategy"] == "a").all()
    split, one = ledger.table("positions"), PaperLedger(tmp_path / "whole.duckdb").table("positions")
    assert np.allclose(split["units"].to_numpy(), one["units"].to_numpy())


def test_a_documented_rule_on_probation_is_flat_after_its_stop_day_and_back_for_its_next_week(tmp_path):
    """A rule book under a tight stop (0.5% a week on a volatile trend rule): flat from the close of each stop day to
    the close before its next week, where it takes its weights again; resumed from the ledger it trades the same
    days; parity with the stop-less backtest is judged up to the first stop."""
    from quant_organism.market.sources.planted_panel import PanelMarket
    from quant_organism.runtime.rule_book import RuleBook, rule_parity
    from quant_organism.runtime.rule_ledger import last_rule_day, rule_record, write_rule_days
    from quant_organism.runtime.weekly_stop import flat_days
    from quant_organism.strategies.portfolio import rule_named

    panel = PanelMarket("trend", 1.5, seed=11, coins=8, days=420, forward_days=0).panel()
    since, name = panel.closes.index[300], "documented.ts_trend_20d_long_short"
    rule = WeeklyStop(since.date(), 0.005)
    book = RuleBook(name, rule_named("ts_trend_20d_long_short"), since, stop=rule)
    days = book.run(panel, panel.closes.index[300:380])
    stops = [d for d in days if d.week.stopped and d.week.excess <= -rule.stop and d.weights == {}]
    assert stops, "a 0.5% weekly stop on a volatile rule must act"
    for d in days:
        tomorrow_stopped = d.week.stopped_on(rule, (d.day + pd.Timedelta(days=1)).date())
        assert (d.weights == {}) == tomorrow_stopped or not book.weights_at(panel, d.day)
    record = pd.Series([d.ret for d in days], index=pd.DatetimeIndex([d.day for d in days]))
    flat = flat_days(record, None, WeeklyStop(since.date(), 0.005))  # the retrospective's mask agrees on the days
    assert set(flat) == {d.day.date() for d in days[1:] if days[days.index(d) - 1].weights == {} and
                         days[days.index(d) - 1].week.stopped_on(rule, d.day.date())}  # fmt: skip
    parity = rule_parity(book, panel, record)
    assert parity.ok and parity.until == str(book.stopped_days(panel, record)[0].date())
    free = RuleBook(name, rule_named("ts_trend_20d_long_short"), since)
    assert not rule_parity(free, panel, record).ok  # the stopped record is not the stop-less book's

    ledger = PaperLedger(tmp_path / "ledger.duckdb")
    write_rule_days(ledger, book.run(panel, panel.closes.index[300:333]))
    last = book.resume(panel, rule_record(ledger, name), last_rule_day(ledger, name, panel.closes.index[333]))
    write_rule_days(ledger, book.run(panel, panel.closes.index[333:380], last))
    assert rule_record(ledger, name).to_numpy() == pytest.approx(record.to_numpy(), abs=0.0)


def test_the_paper_asset_trades_each_sleeve_with_a_probation_record_under_its_entry_s_stop():
    from quant_organism.defs.runtime.assets import weekly_stops
    from quant_organism.deployment.probation import ProbationEntry

    days = pd.date_range("2023-07-01", periods=180, freq="D", tz="UTC")
    held_out = pd.Series(np.random.default_rng(3).normal(0.001, 0.01, days.size), index=days)
    entry = ProbationEntry.open(ORIGIN, 0.0304, 0.01, 0.4, held_out, "genome")
    stops = weekly_stops({"strategies": [{"name": "a", "probation": entry.to_dict()}, {"name": "b", "allocation": 0.3}]})
    assert stops == {"a": WeeklyStop(ORIGIN, entry.stop, 0.4)}
    assert entry.stop == pytest.approx(min(0.10, 3 * held_out.std(ddof=0) * 7**0.5))
