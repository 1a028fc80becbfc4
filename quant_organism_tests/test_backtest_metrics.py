"""Metrics against independent computations, and fitness rules (too few trades, no NaN/inf leaks)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from deap import base

from quant_organism.backtest import (
    OBJECTIVE_COLUMNS,
    OBJECTIVE_WEIGHTS,
    WORST_OBJECTIVES,
    CostModel,
    FitnessConfig,
    equity_metrics,
    evaluate_signals,
    fitness_columns,
    objectives_tuple,
    run_backtest,
)
from quant_organism.backtest.inputs import period_ids, prepare_bars

CASH = 10_000.0


def random_market(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    opens = np.r_[100.0, close[:-1]]
    index = pd.date_range("2024-01-01", periods=n, freq="h", tz="UTC")
    return pd.DataFrame(
        {
            "open": opens,
            "high": np.maximum(opens, close) * (1 + rng.uniform(0, 0.006, n)),
            "low": np.minimum(opens, close) * (1 - rng.uniform(0, 0.006, n)),
            "close": close,
            "volume": 1.0,
        },
        index=index,
    )


def test_equity_metrics_match_a_hand_computation():
    equity = np.array([110.0, 99.0, 108.9, 120.0])
    out = equity_metrics(equity, init_cash=100.0, bars_per_year=4.0, period_ids=np.array([0, 0, 1, 1]))
    r = np.array([0.1, -0.1, 0.1, 120 / 108.9 - 1])
    assert out["total_return"] == pytest.approx(0.2)
    assert out["sharpe"] == pytest.approx(r.mean() / r.std(ddof=1) * 2.0)
    assert out["sortino"] == pytest.approx(r.mean() / math.sqrt(0.01 / 4) * 2.0)
    assert out["max_drawdown"] == pytest.approx(0.1)  # 110 -> 99
    assert out["consistency"] == pytest.approx(0.5)  # first period 100 -> 99 lost, second 99 -> 120 gained


def test_flat_equity_scores_zero_not_nan():
    out = equity_metrics(np.full(50, 100.0), init_cash=100.0, bars_per_year=8760.0)
    assert out == {"total_return": 0.0, "sharpe": 0.0, "sortino": 0.0, "max_drawdown": 0.0, "consistency": 0.0, "exposure": 0.0}


def test_return_ratios_agree_with_vectorbts_returns_accessor():
    import vectorbt  # noqa: F401 - registers the .vbt accessor (the package itself never imports vectorbt)

    rng = np.random.default_rng(11)
    index = pd.date_range("2024-01-01", periods=2000, freq="h")
    returns = pd.Series(rng.normal(0.0002, 0.01, len(index)), index=index)
    equity = CASH * (1 + returns).cumprod()
    ours = equity_metrics(equity.to_numpy(), CASH, bars_per_year=8760.0)
    accessor = returns.vbt.returns(freq="1h", year_freq="365 days")
    assert accessor.ann_factor == 8760.0
    assert ours["sharpe"] == pytest.approx(accessor.sharpe_ratio(), rel=1e-9)
    assert ours["sortino"] == pytest.approx(accessor.sortino_ratio(), rel=1e-9)
    assert ours["max_drawdown"] == pytest.approx(-accessor.max_drawdown(), rel=1e-9)


def test_run_metrics_match_pandas_computations_on_the_detailed_run():
    ohlcv = random_market(24 * 7 * 6, seed=2)
    rng = np.random.default_rng(4)
    raw = pd.Series(rng.integers(-1, 2, len(ohlcv)), index=ohlcv.index, dtype=float)
    signals = raw.where(rng.random(len(ohlcv)) < 0.1).ffill().fillna(0).to_frame("s")
    funding = pd.Series(rng.normal(2e-5, 5e-5, len(ohlcv)), index=ohlcv.index)
    result = run_backtest(ohlcv, signals, stop_loss=0.015, take_profit=0.03, position_size=0.8, funding=funding)
    m = result.metrics.loc["s"]
    equity = result.equity["s"]
    returns = result.returns["s"]
    trades = result.trades
    assert m["total_return"] == pytest.approx(equity.iloc[-1] / CASH - 1)
    assert m["sharpe"] == pytest.approx(returns.mean() / returns.std() * math.sqrt(8760))
    assert m["sortino"] == pytest.approx(returns.mean() / math.sqrt((returns.clip(upper=0) ** 2).mean()) * math.sqrt(8760))
    peak = np.maximum.accumulate(np.r_[CASH, equity.to_numpy()])[1:]
    assert m["max_drawdown"] == pytest.approx((1 - equity / peak).max())
    assert m["trade_count"] == len(trades) > 10
    assert m["win_rate"] == pytest.approx((trades["pnl"] > 0).mean())
    assert m["profit_factor"] == pytest.approx(
        trades.loc[trades.pnl > 0, "pnl"].sum() / -trades.loc[trades.pnl <= 0, "pnl"].sum()
    )
    assert m["exposure"] == pytest.approx((result.position["s"] != 0).mean())
    assert m["fees"] == pytest.approx(result.orders["fees"].sum() / CASH)
    weekly_close = equity.groupby(equity.index.tz_localize(None).to_period("W")).last()
    weekly_start = weekly_close.shift(1).fillna(CASH)
    assert m["consistency"] == pytest.approx((weekly_close > weekly_start).mean())
    assert set(trades["exit_reason"]) >= {"signal", "stop_loss", "take_profit"}


def test_turnover_counts_notional_over_equity_per_year():
    ohlcv = random_market(100, seed=1)
    signals = pd.DataFrame({"s": [0] * 10 + [1] * 20 + [0] * 70}, index=ohlcv.index)
    result = run_backtest(ohlcv, signals, costs=CostModel.free())
    # One entry and one exit, each trading the whole equity, over 100 of 8,760 bars a year.
    assert result.metrics.loc["s", "turnover"] == pytest.approx(2 * 8760 / 100)
    half = run_backtest(ohlcv, signals, costs=CostModel.free(), position_size=0.5)
    growth = ohlcv["open"].iloc[31] / ohlcv["open"].iloc[11]  # the exit trades half the equity grown by this
    assert half.metrics.loc["s", "turnover"] == pytest.approx((0.5 + growth / (1 + growth)) * 8760 / 100)


def test_annualisation_follows_the_bar_interval():
    ohlcv = random_market(50, seed=0)
    assert prepare_bars(ohlcv).bars_per_year == 8760.0
    four_hourly = ohlcv.set_axis(pd.date_range("2024-01-01", periods=50, freq="4h", tz="UTC"))
    assert prepare_bars(four_hourly).bars_per_year == 2190.0
    with pytest.raises(ValueError, match="bars_per_year"):
        prepare_bars(ohlcv.reset_index(drop=True))
    ids, count = period_ids(prepare_bars(ohlcv), 10)
    assert count == 5 and ids[-1] == 4


@pytest.mark.parametrize(
    "index",
    [
        pd.date_range("2024-01-01", periods=8784, freq="h", tz="UTC"),  # a leap year of hours
        pd.date_range("1969-12-20", periods=400, freq="7h"),  # naive, across the epoch (a Thursday)
        pd.date_range("2023-03-20", periods=900, freq="h", tz="Europe/Berlin"),  # weeks by the wall clock, DST
        pd.date_range("2024-01-01", periods=300, freq="min").as_unit("s"),
        pd.DatetimeIndex(np.random.default_rng(3).permutation(pd.date_range("2020-01-01", periods=600, freq="5h"))),
    ],
    ids=["hours", "naive-epoch", "dst", "seconds", "unordered"],
)
def test_weekly_consistency_periods_are_pandas_weeks(index):
    """Weeks are numbered from the days since the epoch, not through `to_period`: the very codes pandas' weeks give."""
    bars = prepare_bars(random_market(len(index), seed=1).set_axis(index)) if index.is_monotonic_increasing else None
    naive = index.tz_localize(None) if index.tz is not None else index
    expected, uniques = pd.factorize(naive.to_period("W"))

    class Unordered:  # prepare_bars refuses unordered bars; period_ids only reads the index
        def __init__(self, index):
            self.index = index

        def __len__(self):
            return len(self.index)

    for period in ("W", "W-SUN"):
        ids, count = period_ids(bars if bars is not None else Unordered(index), period)
        assert np.array_equal(ids, expected) and count == len(uniques) and ids.dtype == np.int64


def test_too_few_trades_gets_the_worst_fitness():
    ohlcv = random_market(500, seed=6)
    rng = np.random.default_rng(6)
    busy = pd.Series(rng.integers(-1, 2, 500)).where(rng.random(500) < 0.2).ffill().fillna(0).to_numpy()
    lazy = np.r_[np.zeros(100), np.ones(100), np.zeros(300)]
    signals = pd.DataFrame({"busy": busy, "lazy": lazy, "never": 0}, index=ohlcv.index)
    out = evaluate_signals(ohlcv, signals, fitness=FitnessConfig(min_trades=5))
    assert out.loc["busy", "valid"] and not out.loc["lazy", "valid"] and not out.loc["never", "valid"]
    assert objectives_tuple(out.loc["lazy"]) == WORST_OBJECTIVES == objectives_tuple(out.loc["never"])
    assert out.loc["lazy", "score"] == FitnessConfig().worst_score < out.loc["busy", "score"]
    assert np.isfinite(out[list(OBJECTIVE_COLUMNS) + ["score"]].to_numpy()).all()

    class Fitness(base.Fitness):
        weights = OBJECTIVE_WEIGHTS

    busy_fitness = Fitness(objectives_tuple(out.loc["busy"]))
    worst_fitness = Fitness(WORST_OBJECTIVES)
    assert not worst_fitness.dominates(busy_fitness)
    assert busy_fitness >= worst_fitness  # lexicographic on weighted values: Sharpe first


def test_non_finite_metrics_never_leak_into_fitness():
    metrics = pd.DataFrame(
        {
            "sharpe": [np.nan, np.inf, 500.0, 1.0],
            "consistency": [0.5, 0.5, 0.5, 0.5],
            "max_drawdown": [0.1, 0.1, 0.1, 0.1],
            "turnover": [10.0, 10.0, 10.0, np.inf],
            "trade_count": [50, 50, 50, 50],
        }
    )
    out = fitness_columns(metrics, FitnessConfig(min_trades=1))
    assert np.isfinite(out[list(OBJECTIVE_COLUMNS) + ["score"]].to_numpy()).all()
    assert out["valid"].tolist() == [False, False, True, False]
    assert out.loc[2, "obj_sharpe"] == 100.0  # clipped to the bound


def test_score_rises_with_every_objective_in_its_preferred_direction():
    config = FitnessConfig()
    base_row = np.array([[1.0, 0.5, 0.2, 20.0]])
    for k, weight in enumerate(OBJECTIVE_WEIGHTS):
        better = base_row.copy()
        better[0, k] += 0.1 * weight
        assert config.score(better)[0] > config.score(base_row)[0]
    assert config.worst_score <= config.score(base_row)[0]
