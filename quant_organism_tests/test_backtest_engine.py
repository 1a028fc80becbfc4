"""Engine semantics on tiny crafted series: every rule of the execution convention in backtest/simulate.py."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quant_organism.backtest import CostModel, evaluate_signals, run_backtest

CASH = 10_000.0
FEE, MAKER, SLIP = 0.001, 0.0004, 0.002
COSTS = CostModel(taker_fee=FEE, maker_fee=MAKER, slippage=SLIP)
FREE = CostModel.free()


def bars(opens, highs=None, lows=None, closes=None) -> pd.DataFrame:
    """Hourly UTC bars; by default close = next open, high/low = the open/close envelope."""
    o = np.asarray(opens, dtype=float)
    c = np.asarray(closes, dtype=float) if closes is not None else np.r_[o[1:], o[-1]]
    h = np.asarray(highs, dtype=float) if highs is not None else np.maximum(o, c)
    lo = np.asarray(lows, dtype=float) if lows is not None else np.minimum(o, c)
    index = pd.date_range("2024-01-01", periods=len(o), freq="h", tz="UTC")
    return pd.DataFrame({"open": o, "high": h, "low": lo, "close": c, "volume": 1.0}, index=index)


def run(ohlcv, targets, **kwargs):
    signals = pd.DataFrame({"s": targets}, index=ohlcv.index)
    kwargs.setdefault("costs", FREE)
    return run_backtest(ohlcv, signals, **kwargs)


def test_target_fills_at_next_open_not_before():
    ohlcv = bars([100, 100, 110, 121, 121, 121])
    result = run(ohlcv, [0, 1, 1, 0, 0, 0])
    position = result.position["s"].to_numpy()
    assert position[:2].tolist() == [0.0, 0.0]  # decided at bar 1's close: nothing held during bar 1
    assert position[2] == pytest.approx(CASH / 110)  # bought at bar 2's open of 110
    trade = result.trades.iloc[0]
    assert (trade.entry_idx, trade.exit_idx, trade.entry_price, trade.exit_price) == (2, 4, 110.0, 121.0)
    assert result.equity["s"].iloc[-1] == pytest.approx(CASH * 121 / 110)


def test_long_round_trip_pays_taker_fee_and_slippage_both_ways():
    ohlcv = bars([100, 100, 100, 120, 120])
    result = run(ohlcv, [1, 1, 0, 0, 0], costs=COSTS)
    buy = 100 * (1 + SLIP)
    units = CASH / (buy * (1 + FEE))  # the entry spends all equity on notional plus its fee
    sell = 120 * (1 - SLIP)
    final = CASH - units * buy * (1 + FEE) + units * sell * (1 - FEE)
    assert result.equity["s"].iloc[-1] == pytest.approx(final, rel=1e-12)
    trade = result.trades.iloc[0]
    assert trade.entry_price == pytest.approx(buy) and trade.exit_price == pytest.approx(sell)
    assert trade.fees == pytest.approx(units * buy * FEE + units * sell * FEE)
    assert result.metrics.loc["s", "fees"] == pytest.approx(trade.fees / CASH)


def test_short_gains_when_price_falls_and_pays_costs_both_ways():
    ohlcv = bars([100, 100, 80, 80])
    result = run(ohlcv, [-1, 0, 0, 0], costs=COSTS)
    sell = 100 * (1 - SLIP)
    units = CASH / (sell * (1 + FEE))
    cover = 80 * (1 + SLIP)
    final = CASH + units * (sell - cover) - units * sell * FEE - units * cover * FEE
    assert result.position["s"].iloc[1] == pytest.approx(-units)
    assert result.equity["s"].iloc[-1] == pytest.approx(final, rel=1e-12)
    assert final > CASH
    long = run(ohlcv, [1, 0, 0, 0], costs=COSTS)
    assert long.equity["s"].iloc[-1] < CASH


def test_reversal_closes_then_opens_at_the_same_open_with_two_fees():
    ohlcv = bars([100, 100, 100, 100, 100])
    result = run(ohlcv, [1, -1, 0, 0, 0], costs=CostModel(taker_fee=FEE, maker_fee=0.0, slippage=0.0))
    orders = result.orders
    assert orders["idx"].tolist() == [1, 2, 2, 3]
    assert orders["side"].tolist() == [0, 1, 1, 0]  # buy, sell to close, sell to open short, buy to cover
    equity_after_close = CASH * (1 - FEE) / (1 + FEE)
    assert orders["size"][2] * 100 * (1 + FEE) == pytest.approx(equity_after_close)  # sized on equity after close
    assert result.metrics.loc["s", "trade_count"] == 2


def test_position_size_is_a_fraction_of_equity():
    ohlcv = bars([100, 100, 150, 150])
    result = run(ohlcv, [1, 0, 0, 0], position_size=0.25)
    assert result.position["s"].iloc[1] == pytest.approx(0.25 * CASH / 100)
    assert result.metrics.loc["s", "total_return"] == pytest.approx(0.25 * 0.5)


def test_stop_loss_exits_intrabar_at_the_stop_price_from_the_bar_after_entry():
    # Entry at bar 1's open (100). Bar 1 itself dips to 90, below the 5% stop: not checked on the entry bar.
    # Bar 2 opens at 99 and trades down to 94: the stop at 95 fills, less slippage, with the taker fee.
    opens = [100, 100, 99, 96, 96]
    lows = [100, 90, 94, 96, 96]
    ohlcv = bars(opens, lows=lows, highs=[100, 100, 100, 97, 97], closes=[100, 99, 96, 96, 96])
    costs = CostModel(taker_fee=FEE, maker_fee=MAKER, slippage=SLIP)
    result = run(ohlcv, [1, 1, 1, 1, 1], stop_loss=0.05, costs=costs)
    trade = result.trades.iloc[0]
    entry = 100 * (1 + SLIP)
    assert trade.exit_reason == "stop_loss" and trade.exit_idx == 2
    assert trade.exit_price == pytest.approx(entry * 0.95 * (1 - SLIP))
    units = CASH / (entry * (1 + FEE))
    assert result.equity["s"].iloc[2] == pytest.approx(units * entry * 0.95 * (1 - SLIP) * (1 - FEE))


def test_take_profit_fills_at_the_target_as_a_maker_limit():
    ohlcv = bars([100, 100, 104, 105, 105], highs=[100, 104, 111, 106, 105], closes=[100, 104, 105, 105, 105])
    result = run(ohlcv, [1, 1, 1, 1, 1], take_profit=0.1, costs=COSTS)
    trade = result.trades.iloc[0]
    entry = 100 * (1 + SLIP)
    assert trade.exit_reason == "take_profit" and trade.exit_idx == 2
    assert trade.exit_price == pytest.approx(entry * 1.1)  # no slippage on a resting limit
    units = CASH / (entry * (1 + FEE))
    assert result.equity["s"].iloc[2] == pytest.approx(units * entry * 1.1 * (1 - MAKER))
    market = run(ohlcv, [1, 1, 1, 1, 1], take_profit=0.1, costs=CostModel(FEE, MAKER, SLIP, take_profit_order="market"))
    assert market.trades.iloc[0].exit_price == pytest.approx(entry * 1.1 * (1 - SLIP))


def test_gap_through_fills_at_the_open():
    # Long from 100; bar 2 opens at 80, far below the 5% stop: the fill is the open, not the stop price.
    ohlcv = bars([100, 100, 80, 80], closes=[100, 100, 80, 80])
    result = run(ohlcv, [1, 1, 1, 1], stop_loss=0.05)
    assert result.trades.iloc[0].exit_price == 80.0
    assert result.trades.iloc[0].exit_reason == "stop_loss"
    # Short from 100; bar 2 opens at 80, through a 10% take-profit: filled at the (better) open.
    short = run(ohlcv, [-1, -1, -1, -1], take_profit=0.1)
    assert short.trades.iloc[0].exit_price == 80.0
    assert short.trades.iloc[0].exit_reason == "take_profit"
    # Short stop gapped through upwards.
    up = bars([100, 100, 130, 130])
    assert run(up, [-1, -1, -1, -1], stop_loss=0.05).trades.iloc[0].exit_price == 130.0


def test_bar_touching_stop_and_target_takes_the_stop():
    ohlcv = bars([100, 100, 100, 100], highs=[100, 100, 120, 100], lows=[100, 100, 80, 100], closes=[100] * 4)
    for direction in (1, -1):
        result = run(ohlcv, [direction] * 4, stop_loss=0.05, take_profit=0.05)
        trade = result.trades.iloc[0]
        assert trade.exit_reason == "stop_loss"
        assert trade.exit_price == pytest.approx(100 * (1 - 0.05 * direction))


def test_stays_flat_after_a_stop_until_the_target_changes():
    opens = [100, 100, 100, 90, 90, 90, 90, 90, 90]
    ohlcv = bars(opens, closes=[100, 100, 100, 90, 90, 90, 90, 90, 90])
    targets = [1, 1, 1, 1, 1, 0, 1, 1, 1]
    result = run(ohlcv, targets, stop_loss=0.05)
    position = result.position["s"].to_numpy()
    assert result.trades.iloc[0].exit_idx == 3  # gap from 100 to 90
    assert np.all(position[3:7] == 0.0)  # target still +1 at bars 3 and 4: stays flat; 0 at bar 5
    assert position[7] > 0  # target went 0 then back to +1: re-entered at bar 7's open
    # A direct change of target after a stop also re-arms it.
    flipped = run(ohlcv, [1, 1, 1, 1, -1, -1, -1, -1, -1], stop_loss=0.05)
    assert flipped.position["s"].iloc[4] == 0.0 and flipped.position["s"].iloc[5] < 0


def test_funding_long_pays_and_short_receives_on_the_position_carried_into_the_bar():
    ohlcv = bars([100, 100, 100, 100, 100], closes=[100] * 5)
    rate = 0.001
    # Rates stamped with exchange jitter (a few ms late) still land on their bar.
    stamps = ohlcv.index + pd.Timedelta(milliseconds=7)
    funding = pd.Series(rate, index=stamps)
    long = run(ohlcv, [1, 1, 0, 0, 0], funding=funding)
    units = CASH / 100
    # Entered at bar 1's open (no funding on the entry bar), held into bar 2 (pays once), closed at bar 3's open
    # (the position carried into bar 3 pays again, before the close fills).
    assert long.equity["s"].iloc[-1] == pytest.approx(CASH - 2 * rate * units * 100)
    assert long.metrics.loc["s", "funding"] == pytest.approx(2 * rate * units * 100 / CASH)
    assert long.trades.iloc[0].funding == pytest.approx(2 * rate * units * 100)
    short = run(ohlcv, [-1, -1, 0, 0, 0], funding=funding)
    assert short.equity["s"].iloc[-1] == pytest.approx(CASH + 2 * rate * units * 100)
    negative = run(ohlcv, [1, 1, 0, 0, 0], funding=-funding)
    assert negative.equity["s"].iloc[-1] > CASH


def test_funding_frame_and_array_inputs_agree():
    ohlcv = bars([100, 101, 102, 103, 104, 105])
    rates = np.array([0.0, 0.0003, -0.0002, 0.0001, 0.0004, 0.0])
    frame = pd.DataFrame({"timestamp": ohlcv.index, "coin": "BTC", "funding_rate": rates})
    a = run(ohlcv, [1, 1, 1, 1, 0, 0], funding=frame).equity
    b = run(ohlcv, [1, 1, 1, 1, 0, 0], funding=rates).equity
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(run(ohlcv, [1, 1, 1, 1, 0, 0]).equity)


def test_open_trade_at_the_end_is_marked_to_the_last_close_and_counted():
    ohlcv = bars([100, 100, 110], closes=[100, 110, 120])
    result = run(ohlcv, [1, 1, 1], costs=COSTS)
    trade = result.trades.iloc[0]
    assert trade.exit_reason == "open" and trade.exit_price == 120.0
    assert result.metrics.loc["s", "trade_count"] == 1
    assert trade.pnl == pytest.approx(result.equity["s"].iloc[-1] - CASH)


def test_batch_of_columns_equals_one_column_at_a_time():
    rng = np.random.default_rng(3)
    n, m = 400, 12
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    opens = np.r_[100.0, close[:-1]] * np.exp(rng.normal(0, 0.002, n))
    ohlcv = bars(
        opens,
        highs=np.maximum(opens, close) * (1 + rng.uniform(0, 0.01, n)),
        lows=np.minimum(opens, close) * (1 - rng.uniform(0, 0.01, n)),
        closes=close,
    )
    signals = pd.DataFrame(rng.integers(-1, 2, (n, m)), index=ohlcv.index, columns=[f"g{k}" for k in range(m)])
    signals = signals.where(rng.random((n, m)) < 0.9).ffill().fillna(0)  # hold positions for a while
    genes = dict(stop_loss=rng.uniform(0, 0.05, m), take_profit=rng.uniform(0, 0.08, m), position_size=rng.uniform(0.1, 1, m))
    funding = pd.Series(rng.normal(0, 1e-4, n), index=ohlcv.index)
    batch = run_backtest(ohlcv, signals, funding=funding, costs=COSTS, **genes)
    chunked = evaluate_signals(ohlcv, signals, funding=funding, costs=COSTS, chunk_size=5, **genes)
    for k, column in enumerate(signals.columns):
        single = run_backtest(ohlcv, signals[[column]], funding=funding, costs=COSTS, **{g: v[k] for g, v in genes.items()})
        np.testing.assert_array_equal(single.equity[column], batch.equity[column])
        pd.testing.assert_series_equal(single.metrics.loc[column], batch.metrics.loc[column])
        in_chunks = chunked.loc[column, single.metrics.columns].astype(float)
        np.testing.assert_array_equal(single.metrics.loc[column].to_numpy(float), in_chunks.to_numpy())
    assert (batch.metrics["trade_count"] > 10).all()
    assert set(batch.trades["exit_reason"]) >= {"signal", "stop_loss", "take_profit"}


def test_fills_are_vectorbt_order_records_that_rebuild_the_same_equity():
    rng = np.random.default_rng(5)
    n = 300
    close = 50 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    ohlcv = bars(np.r_[50.0, close[:-1]], closes=close)
    signals = pd.DataFrame({"a": rng.integers(-1, 2, n), "b": rng.integers(0, 2, n)}, index=ohlcv.index)
    result = run_backtest(ohlcv, signals, costs=COSTS, stop_loss=0.02, position_size=0.7)
    portfolio = result.to_vectorbt()
    np.testing.assert_allclose(portfolio.value().to_numpy(), result.equity.to_numpy(), rtol=1e-10)
    np.testing.assert_allclose(portfolio.assets().to_numpy(), result.position.to_numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(position_size=1.5), "position_size"),
        (dict(stop_loss=-0.1), "stop_loss"),
        (dict(stop_loss=[0.1, 0.2]), "one value per signal column"),
    ],
)
def test_bad_genes_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        run(bars([100, 101, 102]), [1, 0, 0], **kwargs)


def test_bad_signals_and_bars_are_rejected():
    ohlcv = bars([100, 101, 102])
    with pytest.raises(ValueError, match=r"\{-1, 0, 1\}"):
        run(ohlcv, [2, 0, 0])
    with pytest.raises(ValueError, match=r"\{-1, 0, 1\}"):
        run(ohlcv, [0.5, 0, 0])
    with pytest.raises(ValueError, match="rows"):
        run_backtest(ohlcv, pd.DataFrame({"s": [1, 0]}))
    broken = ohlcv.copy()
    broken.loc[broken.index[1], "close"] = np.nan
    with pytest.raises(ValueError, match="finite"):
        run(broken, [1, 0, 0])
    with pytest.raises(ValueError, match="taker_fee"):
        CostModel(taker_fee=0.05 * 100)
    # NaN targets (indicator warm-up) mean flat.
    assert run(ohlcv, [np.nan, np.nan, 1]).metrics.loc["s", "trade_count"] == 0


def test_no_lookahead_equity_up_to_a_bar_ignores_every_later_bar():
    rng = np.random.default_rng(9)
    n, cut = 300, 170
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    opens = np.r_[100.0, close[:-1]]
    ohlcv = bars(opens, highs=np.maximum(opens, close) * 1.004, lows=np.minimum(opens, close) * 0.996, closes=close)
    signals = pd.DataFrame({"s": rng.integers(-1, 2, n)}, index=ohlcv.index).where(rng.random((n, 1)) < 0.2).ffill().fillna(0)
    funding = pd.Series(rng.normal(0, 1e-4, n), index=ohlcv.index)
    genes = dict(stop_loss=0.01, take_profit=0.02, position_size=0.6, costs=COSTS)
    full = run_backtest(ohlcv, signals, funding=funding, **genes)
    # Same past, a wildly different future: the first `cut` bars must not change.
    future = ohlcv.copy()
    future.iloc[cut:, :4] *= 3.0
    shocked = run_backtest(
        future, signals.where(np.arange(n)[:, None] < cut, 1), funding=funding.where(np.arange(n) < cut, 5 * funding), **genes
    )
    prefix = run_backtest(ohlcv.iloc[:cut], signals.iloc[:cut], funding=funding.iloc[:cut], **genes)
    np.testing.assert_array_equal(full.equity["s"].iloc[:cut], prefix.equity["s"])
    np.testing.assert_array_equal(full.equity["s"].iloc[:cut], shocked.equity["s"].iloc[:cut])
    np.testing.assert_array_equal(full.position["s"].iloc[:cut], prefix.position["s"])


def test_an_exhausted_account_is_liquidated_and_stays_flat():
    ohlcv = bars([100, 100, 150, 260, 260, 100], closes=[100, 150, 260, 260, 100, 100])
    result = run(ohlcv, [-1, -1, -1, -1, -1, -1])
    equity = result.equity["s"].to_numpy()
    assert equity[2] == 0.0 and np.all(equity[2:] == 0.0)  # short from 100, price 260: equity gone at bar 2's close
    assert result.trades.iloc[0].exit_reason == "bankrupt"
    m = result.metrics.loc["s"]
    assert m["total_return"] == -1.0 and m["max_drawdown"] == 1.0 and m["trade_count"] == 1


@pytest.mark.parametrize("side", [1, -1])
def test_a_held_position_pays_funding_and_marks_every_bar_until_its_stop(side):
    """Bars in a position with nothing to fill (the kernel's held stretch) each pay the bar's funding on the position
    carried in and mark it to the close; the bar whose range reaches the stop is the stretch's end and exits there."""
    n = 300
    rng = np.random.default_rng(4)
    path = 100 * np.exp(np.cumsum(rng.normal(0, 0.002, n)))
    path[-20:] = path[-21] * (1 - side * 0.2)  # 20% against the position (bar n - 21 closes there): the stop at 10%
    ohlcv = bars(path)
    rates = rng.choice([0.0, 1e-4, -2e-4], n)
    result = run(ohlcv, [side] * n, stop_loss=0.1, funding=rates)
    equity, position = result.equity["s"].to_numpy(), result.position["s"].to_numpy()
    trade = result.trades.iloc[0]
    exit_bar = trade.exit_idx
    assert trade.exit_reason == "stop_loss" and exit_bar == n - 21 and len(result.trades) == 1
    held = np.arange(2, exit_bar)  # entered at bar 1's open: the held stretch is bars 2 .. the stop's bar - 1
    units = position[1]
    assert np.all(position[held] == units) and side * units > 0
    # each held bar: the previous mark, less funding at this open, plus the move from the previous close
    step = -rates[held] * units * ohlcv["open"].to_numpy()[held] + units * np.diff(ohlcv["close"].to_numpy())[held - 1]
    np.testing.assert_allclose(equity[held], equity[held - 1] + step, rtol=1e-12)
    paid = rates[1 + 1 : exit_bar + 1] * units * ohlcv["open"].to_numpy()[2 : exit_bar + 1]  # the exit bar pays too
    assert trade.funding == pytest.approx(paid.sum(), rel=1e-12)
    m = result.metrics.loc["s"]
    assert m["funding"] == pytest.approx(paid.sum() / CASH, rel=1e-12)
    assert m["exposure"] == pytest.approx((exit_bar - 1) / n)  # closing in the position: bars 1 .. exit_bar - 1
    assert np.all(equity[exit_bar:] == equity[exit_bar])  # flat after the stop (the target never changes)


def test_the_kernel_takes_its_figures_from_each_mark_as_the_metrics_module_does_from_the_stored_path():
    """The simulation feeds each bar's mark into the path figures as it makes it, and books a flat stretch's
    unchanged marks in one step (`path_hold_nb`): its total return, Sharpe, Sortino, drawdown and consistency are
    bit for bit `path_figures_nb` of its own marked path, through flat stretches that cross weeks, held positions,
    stops, reversals and costs that take nearly everything."""
    from quant_organism.backtest.simulate import Market
    from quant_organism.core.compiled.metric_kernels import path_figures_nb

    rng = np.random.default_rng(29)
    n = 24 * 60
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    ohlcv = bars(np.r_[100.0, close[:-1]], closes=close)
    ohlcv["high"], ohlcv["low"] = ohlcv[["open", "close"]].max(axis=1) * 1.003, ohlcv[["open", "close"]].min(axis=1) * 0.997
    columns = {}
    for k in range(12):
        state, path = 0, np.zeros(n, np.int8)
        switch = [0.002, 0.02, 0.2][k % 3]  # quiet weeks, days, hours between changes
        for t in range(n):
            if rng.random() < switch:
                state = int(rng.choice([-1, 0, 0, 1]))
            path[t] = state
        columns[f"s{k}"] = path
    signals = pd.DataFrame(columns, index=ohlcv.index)
    for costs in (COSTS, CostModel(taker_fee=0.09, slippage=0.09)):  # the second loses nearly all
        result = run_backtest(ohlcv, signals, stop_loss=0.02, take_profit=0.05, costs=costs, init_cash=CASH)
        market = Market.prepare(ohlcv, None, "W")
        for name in signals:
            expected = path_figures_nb(
                result.equity[name].to_numpy(), CASH, market.period_ids, market.n_periods, market.bars.bars_per_year
            )
            row = result.metrics.loc[name]
            got = (row["total_return"], row["sharpe"], row["sortino"], row["max_drawdown"], row["consistency"])
            assert got == expected, name
    assert (result.metrics["total_return"] <= -0.99).any()  # the costly run lost nearly everything somewhere
