"""Market frames for strategies: per-coin OHLCV with the funding rate, read from the lake.

A strategy sees one DataFrame per coin: a UTC DatetimeIndex of bar open times, `open, high, low,
close, volume`, and `funding_rate`. Funding stamped at time T (Hyperliquid stamps a few milliseconds
past the hour) is placed on the bar that opens at floor(T): it is published before that bar closes,
so a signal at the bar's close may use it, and the backtest pays it on the position carried into
that bar. Bars with no funding carry NaN (the backtest pays nothing; seeds carry the last rate).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from quant_organism.market.lake import MarketLake
from quant_organism.market.schema import interval_delta

OHLCV = ["open", "high", "low", "close", "volume"]


@dataclass
class MarketFrames:
    """Per-coin strategy frames over [start, end), and what could not be used."""

    frames: dict[str, pd.DataFrame]
    start: pd.Timestamp
    end: pd.Timestamp
    interval: str
    skipped: list[str] = field(default_factory=list)

    def coverage(self) -> float:
        """Share of the expected bars (all coins) that are present."""
        expected = len(self.frames or [None]) * ((self.end - self.start) / interval_delta(self.interval))
        present = sum(len(f) for f in self.frames.values())
        return present / expected if expected else 0.0


def to_strategy_frame(candles: pd.DataFrame, funding: pd.DataFrame, interval: str = "1h") -> pd.DataFrame:
    """One coin's candles (canonical rows) joined with its funding on the bar grid."""
    bars = candles.set_index("timestamp")[OHLCV].sort_index()
    bars.index.name = None
    if funding.empty:
        bars["funding_rate"] = float("nan")
        return bars
    slot = funding["timestamp"].dt.floor(interval_delta(interval))
    per_bar = funding.assign(slot=slot).groupby("slot")["funding_rate"].last()
    bars["funding_rate"] = per_bar.reindex(bars.index)
    return bars


def load_market_frames(
    lake: MarketLake, coins, start: str | pd.Timestamp, end: str | pd.Timestamp, interval: str = "1h"
) -> MarketFrames:
    """Strategy frames for `coins` over [start, end) from partitions that exist and passed quality."""
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    start = start.tz_localize("UTC") if start.tzinfo is None else start
    end = end.tz_localize("UTC") if end.tzinfo is None else end
    candles, skipped = lake.read("candles", coins, start, end, interval)
    funding, skipped_funding = lake.read("funding_rates", coins, start, end)
    frames = {}
    for coin in coins:
        coin_candles = candles[candles["coin"] == coin] if len(candles) else candles
        if len(coin_candles) == 0:
            continue
        coin_funding = funding[funding["coin"] == coin] if len(funding) else funding
        frames[coin] = to_strategy_frame(coin_candles, coin_funding, interval)
    return MarketFrames(frames, start, end, interval, skipped + skipped_funding)
