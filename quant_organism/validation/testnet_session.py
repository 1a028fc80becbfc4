"""The testnet stage's trading session: the candidate's own orders, live, for N bars, against its backtest.

Why: the connectivity check (testnet_stage.py) proves orders can be placed and cancelled; it says nothing
about what the strategy's real orders cost. Here the candidate trades `bars` bars of the exchange's own
market through the real SDK (`Exchange`, `Info`): after each bar of `interval` closes, the session reads the
exchange's candles (and funding), asks the candidate's rule for its target on that bar (causal: the bars
up to the one that closed), and sends an immediate-or-cancel order for the change, sized at `notional_usd`
times its position size, priced at most `max_slippage` beyond the last close. After the last bar it
closes what is open. Then the same bars are backtested with the project's engine and costs:
- fills: every order's filled size and average price (a partial or no fill is a failure);
- slippage: each fill's price against the backtest's fill (the next bar's open), in basis points, signed so
  that positive is worse;
- P&L: the session's return on `notional_usd` (fills, fees at the cost model's taker rate) beside the
  backtest's return on the same bars.
Stops and take-profits are not placed on the exchange in the session, and the backtest beside it leaves
them out too. The session waits on `clock` (wall time by default: `bars` bars of `interval` take that long); tests pass
a clock that jumps to each bar's close while a local exchange on 127.0.0.1 moves its book with it.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd

from quant_organism.backtest.costs import CostModel
from quant_organism.backtest.simulate import run_backtest
from quant_organism.market.frames import join_funding
from quant_organism.market.schema import interval_delta
from quant_organism.strategies.genes import SeedGenes
from quant_organism.strategies.registry import get_registry
from quant_organism.validation.exchange_orders import limit_price, order_outcome


class Clock(Protocol):
    def now(self) -> pd.Timestamp: ...

    def sleep_until(self, moment: pd.Timestamp) -> None: ...


class WallClock:
    def now(self) -> pd.Timestamp:
        return pd.Timestamp.now(tz="UTC")

    def sleep_until(self, moment: pd.Timestamp) -> None:
        time.sleep(max(0.0, (moment - self.now()).total_seconds()))


@dataclass(frozen=True)
class SessionConfig:
    coin: str = "BTC"
    interval: str = "1h"
    bars: int = 3
    history_bars: int = 600  # warm-up the rule reads before each decision
    notional_usd: float = 50.0
    max_slippage: float = 0.01  # IOC limit beyond the last close
    max_slippage_bps: float = 50.0  # a fill worse than this against the backtest's fails the session
    settle_s: float = 5.0  # after a bar's close, before reading it (the exchange publishes it)
    costs: CostModel = CostModel()

    def __post_init__(self) -> None:
        if self.bars < 1 or self.history_bars < 2:
            raise ValueError(f"SessionConfig: bars >= 1 and history_bars >= 2; got {self.bars}, {self.history_bars}")
        if not 10.0 <= self.notional_usd <= 1000.0:
            raise ValueError(f"SessionConfig.notional_usd must be in [10, 1000]; got {self.notional_usd!r}")
        if not 0.0 < self.max_slippage < 0.1:
            raise ValueError(f"SessionConfig.max_slippage must be in (0, 0.1); got {self.max_slippage!r}")


def trade_session(exchange, genes: SeedGenes, config: SessionConfig, clock: Clock) -> dict:
    """Trade `genes` on `config.coin` for `config.bars` bars through `exchange` (an SDK Exchange); the
    session's record: orders and fills, slippage, its P&L and the backtest's on the same bars, problems."""
    info, step = exchange.info, interval_delta(config.interval)
    seed = get_registry().create_seed(genes.seed_type, genes)
    sz_decimals = info.asset_to_sz_decimals[info.name_to_asset(config.coin)]
    units, orders, problems, decided_at = 0.0, [], [], []
    frame = pd.DataFrame()
    for k in range(config.bars + 1):  # bars decisions, then one more close to flatten
        close_time = _next_close(clock.now(), step)
        clock.sleep_until(close_time + pd.Timedelta(seconds=config.settle_s))
        frame = _bars(info, config, close_time, step)
        if frame.empty or frame.index[-1] != close_time - step:
            problems.append(f"the exchange had no {config.interval} bar closing at {close_time}")
            break
        last_close = float(frame["close"].iloc[-1])
        target = 0 if k == config.bars else int(seed.generate_signals(frame).iloc[-1])
        wanted = target * genes.position_size * config.notional_usd / last_close
        decided_at.append((frame.index[-1], target))
        delta = round(wanted - units, sz_decimals)
        if abs(delta) * last_close < 10.0 and target != 0 and units == 0.0:
            problems.append(f"an order of {abs(delta)} {config.coin} is under the exchange's $10 minimum (raise notional_usd)")
            break
        if delta == 0.0 or (target != 0 and abs(delta) * last_close < 10.0):
            continue
        order = _send(exchange, config, delta, last_close, sz_decimals, frame.index[-1])
        orders.append(order)
        if order["problem"]:
            problems.append(order["problem"])
            break
        units += math.copysign(order["filled_sz"], delta)
    return _judge(frame, decided_at, orders, problems, genes, config, seed, units)


def _next_close(now: pd.Timestamp, step: pd.Timedelta) -> pd.Timestamp:
    return now.floor(step) + step


def _bars(info, config: SessionConfig, close_time: pd.Timestamp, step: pd.Timedelta) -> pd.DataFrame:
    """The exchange's closed bars up to `close_time` (history_bars of them), with funding on the bar grid."""
    start = close_time - step * config.history_bars
    ms = lambda t: int(t.value // 1_000_000)  # noqa: E731
    rows = info.candles_snapshot(config.coin, config.interval, ms(start), ms(close_time) - 1)
    bars = pd.DataFrame(
        {"open": [float(r["o"]) for r in rows], "high": [float(r["h"]) for r in rows], "low": [float(r["l"]) for r in rows],
         "close": [float(r["c"]) for r in rows], "volume": [float(r["v"]) for r in rows]},
        index=pd.DatetimeIndex([pd.Timestamp(int(r["t"]), unit="ms", tz="UTC") for r in rows]),
    )  # fmt: skip
    bars = bars[bars.index < close_time].sort_index()  # closed bars only (one opening at close_time is forming)
    bars = bars[~bars.index.duplicated(keep="last")]
    funding = info.funding_history(config.coin, ms(start), ms(close_time))
    rates = pd.DataFrame({"timestamp": [pd.Timestamp(int(r["time"]), unit="ms", tz="UTC") for r in funding],
                          "funding_rate": [float(r["fundingRate"]) for r in funding]})  # fmt: skip
    return join_funding(bars, rates)


def _send(exchange, config: SessionConfig, delta: float, last_close: float, sz_decimals: int, bar) -> dict:
    is_buy = delta > 0
    px = limit_price(last_close * (1 + config.max_slippage if is_buy else 1 - config.max_slippage), sz_decimals)
    size = abs(delta)
    started = time.perf_counter()
    answer = exchange.order(config.coin, is_buy, size, px, {"limit": {"tif": "Ioc"}})
    record = {"bar": str(bar), "side": "buy" if is_buy else "sell", "sz": size, "limit_px": px,
              "latency_s": round(time.perf_counter() - started, 4), "filled_sz": 0.0, "avg_px": None, "problem": None}  # fmt: skip
    status, detail = order_outcome(answer)
    if status != "filled":
        record["problem"] = f"{config.coin} {record['side']} {size} at most {px}: not filled ({status}: {str(detail)[:200]})"
        return record
    record.update(filled_sz=float(detail["totalSz"]), avg_px=float(detail["avgPx"]))
    if abs(record["filled_sz"] - size) > 10.0**-sz_decimals / 2:
        record["problem"] = f"{config.coin} {record['side']}: filled {record['filled_sz']} of {size}"
    return record


def _judge(frame, decided_at, orders, problems, genes, config: SessionConfig, seed, units: float) -> dict:
    """The session's fills and P&L beside the backtest of the same bars; its problems."""
    out = {"coin": config.coin, "interval": config.interval, "bars": config.bars, "orders": orders,
           "problems": problems, "open_units": units}  # fmt: skip
    if units != 0.0 and not problems:
        problems.append(f"{units} {config.coin} still open after the session")
    if not decided_at or frame.empty:
        return out
    first, last = decided_at[0][0], decided_at[-1][0]
    window = frame.loc[first:last]
    if len(window) < 2:  # stopped at its first bar: nothing to compare with a backtest
        return out
    targets = pd.Series([t for _, t in decided_at], index=pd.DatetimeIndex([b for b, _ in decided_at]), dtype=np.int8)
    backtest = run_backtest(
        window[["open", "high", "low", "close"]],
        targets.reindex(window.index).rename(genes.seed_id),
        stop_loss=0.0,
        take_profit=0.0,
        position_size=genes.position_size,
        funding=np.nan_to_num(window["funding_rate"].to_numpy(dtype=np.float64)),
        costs=config.costs,
    )
    opens = window["open"]
    slippage = []
    for order in orders:
        bar = pd.Timestamp(order["bar"])
        following = opens.index[opens.index > bar]
        if order["avg_px"] is None or not len(following):
            continue
        reference = float(opens.loc[following[0]])  # the backtest fills a decision at the next bar's open
        sign = 1.0 if order["side"] == "buy" else -1.0
        order["slippage_bps"] = round(sign * (order["avg_px"] / reference - 1.0) * 1e4, 3)
        slippage.append(order["slippage_bps"])
    cash = -sum((1 if o["side"] == "buy" else -1) * o["filled_sz"] * o["avg_px"] for o in orders if o["avg_px"] is not None)
    fees = sum(o["filled_sz"] * o["avg_px"] * config.costs.taker_fee for o in orders if o["avg_px"] is not None)
    session_return = (cash - fees) / config.notional_usd
    backtest_return = float(backtest.metrics["total_return"].iloc[0])
    worse = [s for s in slippage if s > config.max_slippage_bps]
    if worse:
        problems.append(
            f"{len(worse)} fill(s) worse than {config.max_slippage_bps:g} bps against the backtest's (max {max(worse):.1f})"
        )
    out.update(
        traded_bars=[str(b) for b in window.index],
        fills=sum(o["avg_px"] is not None for o in orders),
        slippage_bps=slippage,
        median_slippage_bps=statistics.median(slippage) if slippage else None,
        session_return=round(session_return, 8),
        backtest_return=round(backtest_return, 8),
        return_gap=round(session_return - backtest_return, 8),
        fees_usd=round(fees, 6),
    )
    return out
