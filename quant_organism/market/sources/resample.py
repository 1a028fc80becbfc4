"""Bars of a coarser interval built from complete runs of finer ones: a 1h bar from its four 15m bars.

Why complete runs only: a bar built from some of its sub-bars carries a wrong open, close, range or volume
while looking whole. A coarse bar with a sub-bar missing, duplicated, off its grid or inconsistent (a high
below the open, a price that is not positive) is not built: it is missing from the coarse history, where the
quality rules count it as a gap, and the count of such bars is reported.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from quant_organism.market.schema import INTERVALS, conform_candles

OHLCV_AGGREGATION = {  # a coarse bar from its sub-bars, as named aggregations of a pandas groupby
    "open": ("open", "first"),
    "high": ("high", "max"),
    "low": ("low", "min"),
    "close": ("close", "last"),
    "volume": ("volume", "sum"),
}


@dataclass(frozen=True)
class Resampled:
    frame: pd.DataFrame  # canonical candles at the coarse interval, in time order
    left_out: int  # coarse bars some of whose sub-bars exist that could not be built


def interval_of_token(token: str) -> pd.Timedelta | None:
    """The length a file name's interval token states ("15m", "2h", "1d"); None for months or nonsense."""
    if token in INTERVALS:
        return INTERVALS[token]
    if not token or token[-1] not in "mhdw":
        return None
    try:
        delta = pd.Timedelta(token)
    except ValueError:
        return None
    return delta if delta > pd.Timedelta(0) else None


def finer_interval(available: Iterable[str], interval: str) -> str | None:
    """The coarsest of `available` intervals strictly finer than `interval` that divides it, or None."""
    step = INTERVALS[interval]
    fits = [(delta, token) for token in set(available) if (delta := interval_of_token(token)) is not None]
    fits = [(delta, token) for delta, token in fits if delta < step and step % delta == pd.Timedelta(0)]
    return max(fits)[1] if fits else None


def resample_candles(frame: pd.DataFrame, finer: pd.Timedelta, step: pd.Timedelta) -> Resampled:
    """Canonical candles at `finer` spacing to bars of `step` (open first, high max, low min, close last, volume
    summed), stamped at their open on the UTC grid of `step`; only coarse bars whose every sub-bar is present
    once, on its grid and consistent are built."""
    count = int(step // finer)
    bars = frame.sort_values("timestamp", kind="stable")
    times = bars["timestamp"]
    slot = times.dt.floor(step)
    o, h, lo, c, v = (bars[k].to_numpy(np.float64) for k in ("open", "high", "low", "close", "volume"))
    with np.errstate(invalid="ignore"):
        sound = (
            np.isfinite(o + h + lo + c + v)
            & (np.minimum(np.minimum(o, c), lo) > 0)
            & (h >= np.maximum(o, c))
            & (lo <= np.minimum(o, c))
            & (v >= 0)
            & ((times - slot) % finer == pd.Timedelta(0)).to_numpy()
        )
    grouped = pd.DataFrame({"slot": slot, "time": times, "open": o, "high": h, "low": lo, "close": c, "volume": v,
                            "unsound": ~sound}).groupby("slot", sort=True)  # fmt: skip
    built = grouped.agg(
        **OHLCV_AGGREGATION,
        rows=("time", "size"),
        distinct=("time", "nunique"),
        unsound=("unsound", "sum"),
    )
    whole = (built["rows"] == count) & (built["distinct"] == count) & (built["unsound"] == 0)
    out = built[whole].reset_index().rename(columns={"slot": "timestamp"})
    out["coin"] = frame["coin"].iloc[0] if len(frame) else ""
    return Resampled(conform_candles(out[["timestamp", "coin", "open", "high", "low", "close", "volume"]]), int((~whole).sum()))
