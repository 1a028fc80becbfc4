"""A daily panel of a whole universe: closes, dollar volume and funding per UTC day and coin.

The documented tier's portfolio rules and the point-in-time universe read the market as one table, a column a
coin, NaN where the coin had no bar (before its first traded bar, after its delisting). Bars of any interval
are taken to UTC days: the day's close is its last bar's close, its dollar volume the sum of close x volume,
its funding the sum of the rates paid in it. A day is labelled by its open, as bars are.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from quant_organism.market.sources.file_names import parse_file_name
from quant_organism.market.sources.file_tables import read_candle_file, read_funding_rows


@dataclass(frozen=True)
class DailyPanel:
    closes: pd.DataFrame
    dollar_volume: pd.DataFrame
    funding: pd.DataFrame | None = None

    def until(self, day: str | pd.Timestamp) -> "DailyPanel":
        """The panel as it stood at the close of `day`: its rows up to and including that day."""
        stamp = pd.Timestamp(day)
        stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
        keep = self.closes.index <= stamp
        funding = None if self.funding is None else self.funding.loc[keep]
        return DailyPanel(self.closes.loc[keep], self.dollar_volume.loc[keep], funding)


def daily_panel(bars: Mapping[str, pd.DataFrame], funding: Mapping[str, pd.DataFrame] | None = None) -> DailyPanel:
    """The panel of per-coin bar frames (a UTC time index or a `timestamp` column; close, volume)."""
    closes, volume = {}, {}
    for coin, frame in bars.items():
        frame = _time_indexed(frame)
        by_day = frame.groupby(frame.index.floor("D"))
        closes[coin] = by_day["close"].last()
        volume[coin] = (frame["close"] * frame["volume"]).groupby(frame.index.floor("D")).sum()
    close_panel = pd.DataFrame(closes).sort_index()
    days = pd.date_range(close_panel.index.min(), close_panel.index.max(), freq="D")
    close_panel = close_panel.reindex(days)
    volume_panel = pd.DataFrame(volume).reindex(days).where(close_panel.notna())
    funding_panel = None
    if funding:
        rates = {}
        for coin, frame in funding.items():
            frame = _time_indexed(frame)
            rates[coin] = frame["funding_rate"].groupby(frame.index.floor("D")).sum()
        funding_panel = pd.DataFrame(rates).reindex(index=days, columns=close_panel.columns)
    return DailyPanel(close_panel, volume_panel, funding_panel)


def panel_from_rows(candles: pd.DataFrame, funding: pd.DataFrame | None = None) -> DailyPanel:
    """The panel of the lake's rows (a `coin` and a `timestamp` column each), as `MarketLake.read` returns them."""
    if candles.empty:
        raise ValueError("no candles to build a panel from")
    bars = {coin: rows for coin, rows in candles.groupby("coin", sort=True)}
    rates = {coin: rows for coin, rows in funding.groupby("coin", sort=True)} if funding is not None and len(funding) else None
    return daily_panel(bars, rates)


def load_folder_panel(folder: str | Path, interval: str = "1d") -> DailyPanel:
    """The panel of every coin's candle file of `interval` in a folder (and its funding files), e.g. the
    186-perpetual `hyperliquid-universe` folder: delisted coins included, each from its first traded bar."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"no such folder: {folder}")
    bars, rates = {}, {}
    for path in sorted(folder.iterdir()):
        entry = parse_file_name(path)
        if entry is None:
            continue
        if entry.kind == "candles" and entry.interval == interval:
            bars[entry.coin] = read_candle_file(path, entry.coin)
        elif entry.kind == "funding":
            rates[entry.coin] = read_funding_rows(path, entry.coin)[0]
    if not bars:
        raise FileNotFoundError(f"{folder}: no candle files of interval {interval!r}")
    return daily_panel(bars, {c: f for c, f in rates.items() if c in bars} or None)


def _time_indexed(frame: pd.DataFrame) -> pd.DataFrame:
    if "timestamp" in frame.columns:
        frame = frame.set_index(pd.DatetimeIndex(pd.to_datetime(frame["timestamp"], utc=True)))
    if not isinstance(frame.index, pd.DatetimeIndex) or frame.index.tz is None:
        raise ValueError("bars must have a UTC DatetimeIndex or a `timestamp` column")
    return frame.sort_index()
