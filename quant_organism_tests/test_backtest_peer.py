"""Peer cross-check: the same SMA-crossover targets through backtesting.py and through our engine.

Conventions aligned for the comparison:
- both fill a target decided at bar t's close at bar t+1's open (backtesting.py's default with
  `trade_on_close=False`); backtesting.py never calls `next()` on bar 0, so targets start flat there;
- `exclusive_orders=True` makes a reversal close the old trade and then open the new one, sized on the
  equity after the close, as our engine does; a fractional `size` sizes by equity net of commission,
  like our `units = size * equity / (price * (1 + fee))`;
- backtesting.py trades whole units: a huge cash balance makes its rounding negligible (< 1e-8);
- targets end flat a few bars before the end so that no trade is left for `finalize_trades` to close
  (backtesting.py closes it at a different price than our end-of-data mark);
- `commission=` is charged on entry and exit like our taker fee. `spread=` is not our slippage:
  backtesting.py applies it to the entry price only, while our slippage moves both the entry and the
  exit against the trader; so slippage is compared trade by trade instead (same entry prices, our exit
  prices worse by exactly the slippage), not by total return.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from backtesting import Backtest, Strategy

from quant_organism.backtest import CostModel, run_backtest

MARKET_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "market-data"
PEER_CASH = 1e13
FEE = 0.0005
SIZE = 0.5


class FollowTargets(Strategy):
    """Holds the given target position (+1 long, -1 short, 0 flat) at every bar's close."""

    targets: np.ndarray = np.zeros(0)
    size = SIZE

    def init(self) -> None:
        pass

    def next(self) -> None:
        want = self.targets[len(self.data) - 1]
        have = 1 if self.position.is_long else -1 if self.position.is_short else 0
        if want == have:
            return
        if want > 0:
            self.buy(size=self.size)
        elif want < 0:
            self.sell(size=self.size)
        else:
            self.position.close()


def sma_crossover_targets(close: pd.Series, fast: int = 12, slow: int = 48) -> pd.Series:
    diff = close.rolling(fast).mean() - close.rolling(slow).mean()
    targets = np.sign(diff).fillna(0.0)
    targets.iloc[-3:] = 0.0  # end flat (see the module docstring)
    return targets.astype(np.int8)


def peer_run(ohlcv: pd.DataFrame, targets: pd.Series, commission: float = 0.0, spread: float = 0.0):
    data = ohlcv.rename(columns=str.capitalize)[["Open", "High", "Low", "Close", "Volume"]]
    bt = Backtest(
        data,
        FollowTargets,
        cash=PEER_CASH,
        commission=commission,
        spread=spread,
        margin=1.0,
        trade_on_close=False,
        exclusive_orders=True,
        finalize_trades=True,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bt.run(targets=targets.to_numpy(), size=SIZE)


def real_btc() -> pd.DataFrame:
    path = MARKET_DATA / "hyperliquid__BTC_1h.csv"
    if not path.exists():
        pytest.skip(f"real market data not available at {path} (only present in the project workplace)")
    raw = pd.read_csv(path)
    index = pd.to_datetime(raw.pop("timestamp_ms"), unit="ms", utc=True)
    return raw.set_index(index)[["open", "high", "low", "close", "volume"]].astype(float)


def random_walk(n: int = 4000, seed: int = 21) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.008, n)))
    opens = np.r_[100.0, close[:-1]] * np.exp(rng.normal(0, 0.001, n))
    index = pd.date_range("2023-01-01", periods=n, freq="h", tz="UTC")
    return pd.DataFrame(
        {
            "open": opens,
            "high": np.maximum(opens, close) * (1 + rng.uniform(0, 0.004, n)),
            "low": np.minimum(opens, close) * (1 - rng.uniform(0, 0.004, n)),
            "close": close,
            "volume": 1.0,
        },
        index=index,
    )


MARKETS = {"real_btc_1h": real_btc, "random_walk": random_walk}


@pytest.mark.parametrize("market", sorted(MARKETS))
@pytest.mark.parametrize("fee", [0.0, FEE], ids=["zero_costs", "fees_only"])
def test_total_return_trades_and_equity_agree_with_backtesting_py(market, fee):
    ohlcv = MARKETS[market]()
    targets = sma_crossover_targets(ohlcv["close"])
    peer = peer_run(ohlcv, targets, commission=fee)
    ours = run_backtest(
        ohlcv, targets.to_frame("sma"), position_size=SIZE, costs=CostModel(taker_fee=fee, maker_fee=fee, slippage=0.0)
    )
    metrics = ours.metrics.loc["sma"]
    assert metrics["trade_count"] == peer["# Trades"] > 50
    assert abs(metrics["total_return"] - peer["Return [%]"] / 100) < 1e-6
    peer_equity = peer["_equity_curve"]["Equity"].to_numpy() / PEER_CASH
    np.testing.assert_allclose(ours.equity["sma"].to_numpy() / ours.init_cash, peer_equity, rtol=0, atol=1e-6)
    peer_trades = peer["_trades"]
    np.testing.assert_array_equal(ours.trades["entry_idx"], peer_trades["EntryBar"])
    np.testing.assert_array_equal(ours.trades["exit_idx"], peer_trades["ExitBar"])


@pytest.mark.parametrize("market", sorted(MARKETS))
def test_slippage_moves_entries_like_the_peers_spread_and_also_worsens_exits(market):
    ohlcv = MARKETS[market]()
    slip = 0.001
    targets = sma_crossover_targets(ohlcv["close"])
    peer = peer_run(ohlcv, targets, spread=slip)
    ours = run_backtest(ohlcv, targets.to_frame("sma"), position_size=SIZE, costs=CostModel(0.0, 0.0, slip))
    trades = ours.trades
    peer_trades = peer["_trades"]
    assert len(trades) == len(peer_trades)
    np.testing.assert_array_equal(np.sign(peer_trades["Size"]), trades["direction"])
    np.testing.assert_allclose(trades["entry_price"], peer_trades["EntryPrice"], rtol=1e-12)
    worse_exit = peer_trades["ExitPrice"] * (1 - slip * trades["direction"])
    np.testing.assert_allclose(trades["exit_price"], worse_exit, rtol=1e-12)
    assert ours.metrics.loc["sma", "total_return"] < peer["Return [%]"] / 100
