"""Reading one candle or funding file (CSV, gzipped or zipped CSV, Parquet, Feather, JSON) into the canonical schema.

Columns (matched case-insensitively; spaces, dashes and camelCase read as `_`):
- time, first present of: open_time, time_open, timestamp, timestamp_ms, time_ms, time, datetime, date, unix,
  calc_time.
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
- funding: funding_rate (or fundingRate, funding, last_funding_rate); percentages (`0.0100%`) read as rates (0.0001).
- Parquet: the times may be the frame's index instead of a column (an unnamed time index counts as timestamp).
- A CSV of numbers with no header (Binance's kline downloads) is read in the kline layout: open time, open, high,
  low, close, volume, then anything; kept only where those columns are consistent as a bar's prices.
- Other writers' layouts: yfinance's three-line header (`Price,Close,...` / `Ticker,BTC-USD,...` / `Date,,...`);
  Hyperliquid's own field letters (`t` open time, `T` close time, `o h l c v`, `s` coin), as its candle API answers;
  `startTime`, `openPrice` ... `closePrice` (Bybit's names); freqtrade's funding files hold the rate in `open`;
  MetaTrader's `<DATE>` (`2024.01.31`) and `<TIME>` (`14:00:00`), a time of day joined to its date.
- Feather (freqtrade's default format) is read as Parquet is. JSON holds a list of candles: arrays in the kline
  layout (freqtrade's JSON, the exchanges' kline APIs) or objects with named fields (Hyperliquid's candleSnapshot,
  its fundingHistory: `time`, `fundingRate`), possibly under a `data` key.
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
import json
import os
import re
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

import numpy as np
import pandas as pd

from quant_organism.core.timeutil import DAY_MONTH_YEAR, AmbiguousDatesError, year_last_dates
from quant_organism.market.schema import MarketDataError, column_key, conform_candles, conform_funding
from quant_organism.market.sources.number_text import plain_numbers

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
    "start_time",  # Bybit's kline fields
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
PRICE_ALIASES = {f"{name}_price": name for name in PRICE_COLUMNS}  # Bybit's openPrice ... closePrice
HYPERLIQUID_FIELDS = {  # its candle API's letters; case matters (t opens, T closes the bar)
    "t": "open_time", "T": "close_time", "s": "symbol", "i": "interval",
    "o": "open", "h": "high", "l": "low", "c": "close", "v": "volume", "n": "trades",
}  # fmt: skip
YFINANCE_HEADER = ("price", "ticker")  # yfinance's first cells of its header's first two lines
FREQTRADE_FUNDING_SUFFIX = "-funding_rate"  # freqtrade's funding files keep the rate in their `open` column
HEADER_SEARCH_LINES = 20
AMPM_FORMAT = "%Y-%m-%d %I-%p"
_AMPM = re.compile(r"\d{4}-\d{2}-\d{2} \d{1,2}-[AaPp][Mm]")
_TIME_OF_DAY = re.compile(r"\d{1,2}:\d{2}(?::\d{2})?")  # 14:00[:00], beside a date column
_DOTTED_YEAR_FIRST = re.compile(r"(\d{4})\.(\d{1,2})\.(\d{1,2})(?=$|[ T])")  # MetaTrader's 2024.01.31[ 14:00]
_DOTTED_DAY_FIRST = re.compile(r"\d{1,2}\.\d{1,2}\.\d{4}(?:[ T]\d{1,2}:\d{2}(?::\d{2})?)?")  # 19.08.2020 14:00
_KNOWN_COLUMNS = frozenset(
    (*TIME_COLUMNS, *PRICE_COLUMNS, *PRICE_ALIASES, *BASE_VOLUME_COLUMNS, *PLAIN_VOLUME_COLUMNS, *FUNDING_RATE_COLUMNS)
)


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
    times = _time_values(raw, columns, picked["timestamp"])
    frame = pd.DataFrame({"timestamp": _parse_times(times, path, picked["timestamp"])})
    frame["coin"] = coin
    numbers = plain_numbers({name: raw[picked[name]] for name in (*PRICE_COLUMNS, "volume")})
    for name in (*PRICE_COLUMNS, "volume"):
        frame[name] = numbers[name].to_numpy()
    dated, undated = _split_undated(frame, times, path)
    return conform_candles(_newest_first_reversed(dated)), undated


def read_funding_rows(path: str | os.PathLike[str], coin: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(dated rows as a canonical funding frame, undated rows with a reason) of one funding file."""
    path = Path(path)
    raw = _read_table(path)
    columns = _column_index(raw)
    time_col = _time_column(columns, path, raw)
    rate = next((c for c in FUNDING_RATE_COLUMNS if c in columns), None)
    if rate is None and f"{FREQTRADE_FUNDING_SUFFIX}." in path.name and "open" in columns:
        rate = "open"
    if rate is None:
        raise MarketDataError(
            f"{path}: no funding rate column; found columns {list(raw.columns)}; "
            f"expected a time column ({' | '.join(TIME_COLUMNS)}) and funding_rate"
        )
    rate_col = _one(columns, rate, path)
    _check_single_coin(raw, columns, path)
    times = _time_values(raw, columns, time_col)
    frame = pd.DataFrame({"timestamp": _parse_times(times, path, time_col)})
    frame["coin"] = coin
    frame["funding_rate"] = plain_numbers({"funding_rate": raw[rate_col]})["funding_rate"].to_numpy()
    dated, undated = _split_undated(frame, times, path)
    return conform_funding(_newest_first_reversed(dated)), undated


def _read_table(path: Path) -> pd.DataFrame:
    """The file's table with its own column names; a banner above the header is skipped."""
    try:
        if path.stat().st_size == 0:
            raise MarketDataError(f"{path}: file is empty")
        kind = _format(path)
        if kind == "Parquet":
            table = _index_as_column(pd.read_parquet(path))
        elif kind == "Feather":
            table = _index_as_column(pd.read_feather(path))
        elif kind == "JSON":
            table = _json_table(path)
        else:
            header_line, sep = _find_header(path)
            if header_line is None:
                return _headerless_klines(pd.read_csv(path, header=None, sep=sep, encoding="utf-8-sig", low_memory=False), path)
            table = _yfinance_header_undone(
                pd.read_csv(
                    path,
                    skiprows=header_line,
                    header=0,
                    sep=sep,
                    encoding="utf-8-sig",
                    low_memory=False,
                    skipinitialspace=True,
                ),
                path,
            )
    except MarketDataError:
        raise
    except (OSError, ValueError, UnicodeDecodeError, zipfile.BadZipFile) as exc:  # parser, Arrow, decoding, archive
        raise MarketDataError(f"{path}: cannot read as a {_format(path)} table: {exc}") from exc
    if table.empty:
        raise MarketDataError(f"{path}: has a header ({list(table.columns)}) but no data rows")
    return _hyperliquid_letters_named(table)


def _format(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(".parquet"):
        return "Parquet"
    if name.endswith(".feather"):
        return "Feather"
    return "JSON" if name.endswith((".json", ".json.gz")) else "CSV"


def _json_table(path: Path) -> pd.DataFrame:
    """A JSON list of candles or funding rows: arrays in the kline layout, or objects with named fields."""
    with _text_lines(path) as handle:
        document = json.load(handle)
    rows = document.get("data") if isinstance(document, dict) else document
    if not isinstance(rows, list) or not rows:
        held = f"an object with keys {list(document)[:8]}" if isinstance(document, dict) else repr(document)[:80]
        raise MarketDataError(
            f"{path}: a JSON file must hold a list of candles (arrays in the kline layout, or objects naming their "
            f"fields), possibly under 'data'; it holds {held}"
        )
    if all(isinstance(row, dict) for row in rows):
        return pd.DataFrame.from_records(rows)
    if all(isinstance(row, list) and len(row) >= 6 for row in rows):
        return _headerless_klines(pd.DataFrame(rows), path)
    raise MarketDataError(f"{path}: a JSON list of candles must hold only objects or only arrays of six or more values")


def _yfinance_header_undone(table: pd.DataFrame, path: Path) -> pd.DataFrame:
    """yfinance writes its header on three lines (`Price,Close,...`, `Ticker,BTC-USD,...`, `Date,,...`): the time
    column is named on the third line, and the second names the ticker of each column (one ticker per file)."""
    first = table.columns[0]
    if column_key(first) != YFINANCE_HEADER[0] or len(table) < 2 or column_key(table.iat[0, 0]) != YFINANCE_HEADER[1]:
        return table
    time_name = table.iat[1, 0]
    if column_key(time_name) not in TIME_COLUMNS or table.iloc[1, 1:].notna().any():
        return table
    tickers = table.iloc[0, 1:].dropna().unique()
    if len(tickers) > 1:
        shown = ", ".join(map(str, tickers[:5]))
        raise MarketDataError(f"{path}: yfinance's header names several tickers ({shown}); use one file per coin")
    return table.iloc[2:].rename(columns={first: time_name}).reset_index(drop=True)


def _hyperliquid_letters_named(table: pd.DataFrame) -> pd.DataFrame:
    """Hyperliquid's candle letters (`t`, `o`, `h`, `l`, `c`, `v`, ...) as the names the rest of the reader knows."""
    letters = {str(c) for c in table.columns}
    if not {"o", "h", "l", "c"} <= letters or "open" in {column_key(c) for c in table.columns}:
        return table
    return table.rename(columns={c: HYPERLIQUID_FIELDS[c] for c in table.columns if c in HYPERLIQUID_FIELDS})


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


def _headerless_klines(table: pd.DataFrame, path: Path) -> pd.DataFrame:
    """A table of numbers only, read in the kline layout (open time, open, high, low, close, volume, ...), kept only
    when its prices are consistent in that order (high the highest, low the lowest of each bar)."""
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
            hyperliquid_letters = {"o", "h", "l", "c"} <= {c.strip() for c in cells}
            hits = len({column_key(c) for c in cells} & _KNOWN_COLUMNS) + 4 * hyperliquid_letters
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
        key = column_key(column)
        index.setdefault(PRICE_ALIASES.get(key, key), []).append(column)
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


def _time_values(raw: pd.DataFrame, columns: dict[str, list[str]], time_col: str) -> pd.Series:
    """The time column's values; a time of day beside a `date` column (MetaTrader's `<DATE>`, `<TIME>`) is joined to
    it, so a bar's time is its day and its hour."""
    values = raw[time_col]
    if column_key(time_col) != "time" or "date" not in columns or len(columns["date"]) != 1:
        return values
    text = values.astype("string").str.strip()
    if not text.dropna().str.fullmatch(_TIME_OF_DAY.pattern).all():
        return values
    return raw[columns["date"][0]].astype("string").str.strip() + " " + text


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
            elif _DOTTED_YEAR_FIRST.match(sample):
                parsed = pd.to_datetime(text.str.replace(_DOTTED_YEAR_FIRST, r"\1-\2-\3", regex=True), format="ISO8601",
                                        utc=True, errors="coerce")  # fmt: skip
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
