"""The canonical shape of candles and funding rates, shared by every source and the lake.

Candles: one row per bar, `timestamp` = bar open time (UTC, tz-aware, ns precision),
`open, high, low, close, volume` as float64 (volume in coin units), and the `coin`.
Funding: `timestamp` (UTC), `coin`, `funding_rate` (float64, per funding interval, e.g. hourly).
Sources return these frames *unvalidated*: quality rules (market/quality.py) decide what is clean
and what goes to quarantine, so no source silently fixes or drops rows.
"""

from __future__ import annotations

import re

import pandas as pd
import pyarrow as pa

CANDLE_COLUMNS: tuple[str, ...] = ("timestamp", "coin", "open", "high", "low", "close", "volume")
FUNDING_COLUMNS: tuple[str, ...] = ("timestamp", "coin", "funding_rate")
PRICE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close")

INTERVALS: dict[str, pd.Timedelta] = {
    "1m": pd.Timedelta(minutes=1),
    "5m": pd.Timedelta(minutes=5),
    "15m": pd.Timedelta(minutes=15),
    "1h": pd.Timedelta(hours=1),
    "4h": pd.Timedelta(hours=4),
    "1d": pd.Timedelta(days=1),
}


class MarketDataError(Exception):
    """Input that cannot be turned into candles or funding rates; the message says what is wrong."""


class SourceUnreachableError(MarketDataError):
    """A source that answers over the network gave no answer at all (timeouts, refused or dropped connections):
    the network or the address is the likelier cause than the data."""


class UnknownCoinError(MarketDataError, KeyError):
    """The source does not list this coin."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else "unknown coin"


def interval_delta(interval: str) -> pd.Timedelta:
    """Bar length of an interval string such as '1h'."""
    try:
        return INTERVALS[interval]
    except KeyError:
        raise MarketDataError(f"unsupported interval {interval!r}; expected one of {sorted(INTERVALS)}") from None


def empty_candles() -> pd.DataFrame:
    """A zero-row candle frame with the canonical dtypes."""
    return conform_candles(pd.DataFrame({c: [] for c in CANDLE_COLUMNS}))


def empty_funding() -> pd.DataFrame:
    """A zero-row funding frame with the canonical dtypes."""
    return conform_funding(pd.DataFrame({c: [] for c in FUNDING_COLUMNS}))


def _require(frame: pd.DataFrame, columns: tuple[str, ...], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise MarketDataError(f"{what}: missing column(s) {missing}; got {list(frame.columns)}")


def _is_canonical(frame: pd.DataFrame, columns: tuple[str, ...]) -> bool:
    """True when the frame already has exactly the canonical columns, dtypes and a fresh RangeIndex."""
    if tuple(frame.columns) != columns or not isinstance(frame.index, pd.RangeIndex) or frame.index.start != 0:
        return False
    if str(frame["timestamp"].dtype) != "datetime64[ns, UTC]" or frame["coin"].dtype != object:
        return False
    return all(frame[c].dtype == "float64" for c in columns[2:])


def conform_candles(frame: pd.DataFrame) -> pd.DataFrame:
    """Cast a frame to the canonical candle columns and dtypes, keeping every row and its order.

    Values that are not numbers become NaN (quality rules quarantine them); nothing is dropped.
    A frame that is already canonical is returned as it is (ingest calls this per partition).
    """
    return _conform(frame, CANDLE_COLUMNS, "candles")


def conform_funding(frame: pd.DataFrame) -> pd.DataFrame:
    """Cast a frame to the canonical funding columns and dtypes, keeping every row and its order."""
    return _conform(frame, FUNDING_COLUMNS, "funding")


def _conform(frame: pd.DataFrame, columns: tuple[str, ...], what: str) -> pd.DataFrame:
    if _is_canonical(frame, columns):
        return frame
    _require(frame, columns, what)
    out = pd.DataFrame(
        {
            "timestamp": pd.to_datetime(frame["timestamp"], utc=True).astype("datetime64[ns, UTC]"),
            "coin": frame["coin"].astype(str),
            **{c: pd.to_numeric(frame[c], errors="coerce").astype("float64") for c in columns[2:]},
        }
    )
    return out.reset_index(drop=True)


def frame_to_arrow(frame: pd.DataFrame) -> pa.Table:
    """Arrow table straight from the columns: UTC timestamps, float64 and text (anything else as text).

    pandas' generic converter costs milliseconds per call, which a year-long backfill would pay per file.
    """
    arrays, names = [], []
    for name in frame.columns:
        column = frame[name]
        if str(column.dtype) == "datetime64[ns, UTC]":
            values = column.to_numpy("datetime64[ns]").view("int64")
            arrays.append(pa.array(values, type=pa.timestamp("ns", tz="UTC")))
        elif column.dtype == "float64":
            arrays.append(pa.array(column.to_numpy(), type=pa.float64()))
        else:
            arrays.append(pa.array(column.astype(str).to_numpy(), type=pa.string()))
        names.append(str(name))
    return pa.Table.from_arrays(arrays, names=names)


def to_arrow(frame: pd.DataFrame, columns: tuple[str, ...]) -> pa.Table:
    """The canonical `columns` of a conformed frame as an Arrow table."""
    return frame_to_arrow(frame if tuple(frame.columns) == columns else frame[list(columns)])


def arrow_to_frame(table: pa.Table) -> pd.DataFrame:
    """Back to pandas with the canonical dtypes (timestamps stay tz-aware UTC nanoseconds)."""
    frame = table.to_pandas()
    if "timestamp" in frame.columns:
        frame["timestamp"] = frame["timestamp"].astype("datetime64[ns, UTC]")
    return frame


def column_key(name: object) -> str:
    """A column (or file) name in canonical spelling, so exports' headers match: 'Volume USD' -> volume_usd,
    'fundingRate' -> funding_rate, 'Fear-and-Greed Index' -> fear_and_greed_index."""
    text = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", str(name).strip())
    return re.sub(r"[^0-9a-zA-Z]+", "_", text).strip("_").lower()
