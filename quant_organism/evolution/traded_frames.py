"""The market evolution trades on: one OHLCV frame per coin, funding joined on as a column.

Format (the one evolution, fitness and the Ray object store use): `dict[coin, DataFrame]`, each frame
indexed by a UTC DatetimeIndex of bar open times, strictly increasing, with float columns
open, high, low, close, volume and `funding_rate` (the rate charged at that bar's open; NaN where
none was published, which the seeds read as "no new rate"). `market_frames` builds it from any
`MarketDataSource`; `prepare_frames` checks and normalises frames built elsewhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pandas as pd

from quant_organism.core.bars import OHLCV_COLUMNS, check_strategy_frames
from quant_organism.core.timeutil import utc_timestamp
from quant_organism.market.frames import join_funding
from quant_organism.market.sources.interface import MarketDataSource


def prepare_frames(frames: Mapping[str, pd.DataFrame], need_funding: bool = False) -> dict[str, pd.DataFrame]:
    """Check and normalise frames to the bar contract (core/bars.py; a `timestamp` column becomes the index).

    `need_funding` requires a `funding_rate` column (the funding_carry seed trades on it).
    """
    return check_strategy_frames(frames, need_funding)


def market_frames(
    source: MarketDataSource,
    coins: Iterable[str],
    start: pd.Timestamp | str,
    end: pd.Timestamp | str,
    interval: str = "1h",
) -> dict[str, pd.DataFrame]:
    """Bars [start, end) of each coin from a source, with its funding joined on (see module doc)."""
    start, end = utc_timestamp(start, "start"), utc_timestamp(end, "end")
    frames: dict[str, pd.DataFrame] = {}
    for coin in coins:
        candles = source.candles(coin, start, end, interval)
        bars = candles.set_index("timestamp").loc[:, list(OHLCV_COLUMNS)]
        frames[coin] = join_funding(bars, source.funding(coin, start, end))
    return prepare_frames(frames)


def infer_interval(frames: Mapping[str, pd.DataFrame]) -> str | None:
    """The bar interval as a string ('1h', '15m', '1d'), from the median spacing of the first frame."""
    for frame in frames.values():
        if len(frame) < 2:
            continue
        step = pd.Series(frame.index).diff().median()
        seconds = int(step.total_seconds())
        for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
            if seconds and seconds % size == 0:
                return f"{seconds // size}{unit}"
        return f"{seconds}s"
    return None
