"""Turn caller frames (bars, funding, signals) into the plain arrays the kernel runs on, checking them.

Everything here is validated once per call so that the compiled kernel can trust its inputs, and
every problem is reported with what was expected.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from quant_organism.core import metrics
from quant_organism.core.bars import PRICE_COLUMNS, BarContractError, funding_at_bars


@dataclass(frozen=True)
class Bars:
    """OHLC arrays of one market on one bar grid, with what annualisation needs."""

    index: pd.Index
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    bars_per_year: float

    def __len__(self) -> int:
        return len(self.index)


def prepare_bars(ohlcv: pd.DataFrame, bars_per_year: float | None = None) -> Bars:
    """Validate OHLC(V) bars indexed by time (or canonical candles with a `timestamp` column).

    Bars per year come from the bar interval (the median spacing of the index) unless given.
    """
    if not isinstance(ohlcv, pd.DataFrame):
        raise TypeError(f"ohlcv must be a pandas DataFrame; got {type(ohlcv).__name__}")
    frame = ohlcv.set_index("timestamp") if "timestamp" in ohlcv.columns else ohlcv
    missing = [c for c in PRICE_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"ohlcv is missing column(s) {missing}; got {list(frame.columns)}")
    if len(frame) < 2:
        raise ValueError(f"ohlcv needs at least 2 bars; got {len(frame)}")
    index = frame.index
    if not index.is_monotonic_increasing or not index.is_unique:
        raise ValueError("ohlcv index must be strictly increasing (sorted, no duplicate bars)")
    arrays = {c: np.ascontiguousarray(frame[c].to_numpy(dtype=np.float64)) for c in PRICE_COLUMNS}
    for name, values in arrays.items():
        if not np.all(np.isfinite(values)) or np.any(values <= 0.0):
            bad = int(np.flatnonzero(~np.isfinite(values) | (values <= 0.0))[0])
            raise ValueError(f"ohlcv column {name!r} must be finite and > 0; bar {index[bad]} has {values[bad]}")
    o, h, lo, c = (arrays[k] for k in PRICE_COLUMNS)
    if np.any(h < np.maximum(o, c)) or np.any(lo > np.minimum(o, c)):
        raise ValueError("ohlcv has bars whose high/low do not contain their open and close")
    if bars_per_year is None:
        if not isinstance(index, pd.DatetimeIndex):
            raise ValueError("ohlcv has no DatetimeIndex: pass bars_per_year to annualise")
        bars_per_year = metrics.bars_per_year(index)
    if not np.isfinite(bars_per_year) or bars_per_year <= 0:
        raise ValueError(f"bars_per_year must be a positive number; got {bars_per_year!r}")
    return Bars(index, o, h, lo, c, float(bars_per_year))


def align_funding(funding: pd.Series | pd.DataFrame | np.ndarray | None, bars: Bars) -> np.ndarray:
    """Funding rate paid at each bar's open (0 where none), from a rate series stamped by time.

    A rate stamped at time T is charged at the first bar opening at or after T (one minute's tolerance
    for timestamp jitter), on the position carried into that bar; several rates falling on one bar add
    up; missing (NaN) rates count as 0. Accepts a Series indexed by time, a canonical funding frame
    (`timestamp`, `funding_rate`), or an array already aligned to the bars.
    """
    n = len(bars)
    if funding is None:
        return np.zeros(n)
    if isinstance(funding, np.ndarray):
        if funding.shape != (n,):
            raise ValueError(f"funding array must have one rate per bar, shape ({n},); got {funding.shape}")
        return np.nan_to_num(funding.astype(np.float64), nan=0.0)
    if not isinstance(funding, (pd.Series, pd.DataFrame)):
        raise TypeError(f"funding must be a Series, DataFrame, array or None; got {type(funding).__name__}")
    if not isinstance(bars.index, pd.DatetimeIndex):
        raise ValueError("funding and bars must both be indexed by time to align funding")
    try:
        return np.nan_to_num(funding_at_bars(bars.index, funding), nan=0.0)
    except BarContractError as exc:
        raise ValueError(str(exc)) from None


def period_ids(bars: Bars, period: str | int) -> tuple[np.ndarray, int]:
    """Sub-period number of each bar for consistency: a pandas period alias ('W', 'M', 'D') or a bar count."""
    n = len(bars)
    if isinstance(period, (int, np.integer)):
        if period < 1:
            raise ValueError(f"consistency period in bars must be >= 1; got {period}")
        ids = np.arange(n, dtype=np.int64) // int(period)
        return ids, int(ids[-1]) + 1
    if not isinstance(bars.index, pd.DatetimeIndex):
        raise ValueError("calendar consistency periods need a DatetimeIndex; pass a bar count instead")
    naive = bars.index.tz_localize(None) if bars.index.tz is not None else bars.index
    if period in ("W", "W-SUN") and not naive.hasnans:
        # Weeks ending on Sunday (pandas' "W") counted from the days since 1970-01-01, a Thursday: the same codes as
        # factorising `to_period("W")`, without building a period per bar (0.9 of a fresh year's 1 ms).
        days = naive.to_numpy().astype("datetime64[D]").astype(np.int64)
        codes, uniques = pd.factorize((days + 3) // 7)
        return codes.astype(np.int64), len(uniques)
    try:
        codes, uniques = pd.factorize(naive.to_period(period))
    except ValueError as exc:
        raise ValueError(f"unknown consistency period {period!r}: {exc}") from None
    return codes.astype(np.int64), len(uniques)


def targets_array(signals: pd.DataFrame | np.ndarray, bars: Bars) -> np.ndarray:
    """Target positions as int8 in {-1, 0, 1}, bars x columns, column-major for the kernel.

    NaN (an indicator still warming up) means flat; anything else outside {-1, 0, 1} is an error.
    """
    if isinstance(signals, pd.DataFrame):
        if len(signals) != len(bars):
            raise ValueError(f"signals have {len(signals)} rows but there are {len(bars)} bars")
        if isinstance(signals.index, pd.DatetimeIndex) and not signals.index.equals(bars.index):
            raise ValueError("signals index differs from the bars index; align them first")
        values = signals.to_numpy()
    else:
        values = np.asarray(signals)
    if values.ndim == 1:
        values = values[:, None]
    if values.ndim != 2 or values.shape[0] != len(bars):
        raise ValueError(f"signals must be bars x columns with {len(bars)} rows; got shape {values.shape}")
    if values.dtype == np.int8:
        out = values
    elif values.dtype.kind in "iub":
        out = values.astype(np.int8)
        if np.any(out != values):
            raise ValueError("signals must be target positions in {-1, 0, 1}")
    else:
        values = values.astype(np.float64)
        values = np.where(np.isnan(values), 0.0, values)
        out = values.astype(np.int8)
        if np.any(out != values):
            raise ValueError("signals must be target positions in {-1, 0, 1} (NaN = flat)")
    if out.size and (out.min() < -1 or out.max() > 1):
        raise ValueError(f"signals must be target positions in {{-1, 0, 1}}; found values in [{out.min()}, {out.max()}]")
    return np.asfortranarray(out)


def per_column(value: float | np.ndarray | pd.Series | list, n_columns: int, name: str, low: float, high: float) -> np.ndarray:
    """A per-column parameter (a scalar broadcast, or one value per column) checked against [low, high]."""
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        arr = np.full(n_columns, float(arr))
    if arr.shape != (n_columns,):
        raise ValueError(f"{name} needs one value per signal column ({n_columns}); got shape {arr.shape}")
    if not np.all(np.isfinite(arr)) or np.any(arr < low) or np.any(arr > high):
        raise ValueError(f"{name} must be finite and within [{low}, {high}]; got min {arr.min()}, max {arr.max()}")
    return np.ascontiguousarray(arr)
