"""The market evolution trades on: one OHLCV frame per coin, funding joined on as a column.

Format (the one evolution, fitness and the Ray object store use): `dict[coin, DataFrame]`, each frame
indexed by a UTC DatetimeIndex of bar open times, strictly increasing, with float columns
open, high, low, close, volume and `funding_rate` (the rate charged at that bar's open; NaN where
none was published, which the seeds read as "no new rate"). `market_frames` builds it from any
`MarketDataSource`; `prepare_frames` checks and normalises frames built elsewhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from quant_organism.market.frames import FUNDING_TOLERANCE, join_funding  # noqa: F401 (re-exported)
from quant_organism.market.sources.base import MarketDataSource

OHLCV = ("open", "high", "low", "close", "volume")
FUNDING = "funding_rate"


def prepare_frames(frames: Mapping[str, pd.DataFrame], need_funding: bool = False) -> dict[str, pd.DataFrame]:
    """Check and normalise frames to the format above (a `timestamp` column becomes the index).

    `need_funding` requires a `funding_rate` column (the funding_carry seed trades on it).
    """
    if not isinstance(frames, Mapping) or not frames:
        raise ValueError("frames must be a non-empty mapping coin -> OHLCV DataFrame")
    out: dict[str, pd.DataFrame] = {}
    for coin, frame in frames.items():
        if not isinstance(frame, pd.DataFrame):
            raise TypeError(f"{coin}: expected a pandas DataFrame of bars, got {type(frame).__name__}")
        if "timestamp" in frame.columns:
            frame = frame.set_index("timestamp")
        index = frame.index
        if not isinstance(index, pd.DatetimeIndex) or index.tz is None:
            raise ValueError(f"{coin}: bars need a tz-aware UTC DatetimeIndex (or a 'timestamp' column)")
        if not (index.is_monotonic_increasing and index.is_unique):
            raise ValueError(f"{coin}: bar timestamps must be strictly increasing (sorted, no duplicates)")
        missing = [c for c in OHLCV if c not in frame.columns]
        if need_funding and FUNDING not in frame.columns:
            missing.append(FUNDING)
        if missing:
            raise ValueError(f"{coin}: missing column(s) {missing}; got {list(frame.columns)}")
        columns = [*OHLCV, *([FUNDING] if FUNDING in frame.columns else [])]
        clean = frame.loc[:, columns].astype(np.float64)
        if index.tz is not None and str(index.tz) != "UTC":
            clean.index = index.tz_convert("UTC")
        out[str(coin)] = clean
    return out


def market_frames(
    source: MarketDataSource,
    coins: Iterable[str],
    start: pd.Timestamp | str,
    end: pd.Timestamp | str,
    interval: str = "1h",
) -> dict[str, pd.DataFrame]:
    """Bars [start, end) of each coin from a source, with its funding joined on (see module doc)."""
    start, end = _utc(start), _utc(end)
    frames: dict[str, pd.DataFrame] = {}
    for coin in coins:
        candles = source.candles(coin, start, end, interval)
        bars = candles.set_index("timestamp").loc[:, list(OHLCV)]
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


def _utc(value: pd.Timestamp | str) -> pd.Timestamp:
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
