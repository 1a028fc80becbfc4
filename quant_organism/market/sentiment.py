"""Market sentiment: the Crypto Fear & Greed Index (0-100, five classes), one value per UTC day.

Sources, in the same pattern as market data:
- `FearGreedApi`: the public API's format (`GET {base}/fng/?limit=N`: `data` rows with string `value`,
  `value_classification` and `timestamp` in Unix seconds, newest first), through retries with backoff
  and a circuit breaker (market/resilience.py);
- `FearGreedFile`: the same rows saved to CSV (the real history in `../shared/market-data`, newest first,
  `timestamp` as `YYYY-MM-DD` or Unix seconds), or the API's JSON answer saved to a file; found in a directory
  by its name (`*fear_greed*`). Other exports' column names are read too (`FILE_COLUMNS`: e.g. `date`,
  `fng_value`, `fng_classification`); a file without classes gets alternative.me's bands (`classify`);
- `SyntheticSentiment`: derived causally from a market source's daily closes (a trailing-return and
  volatility score), so everything runs offline.

Every source returns the days it has (`date`, `value`, `classification`) and nothing for the days it
lacks: a missing day stays missing (`regime.py` marks it), never filled silently. A value published
for day D describes day D, so it is usable from the first bar after D.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np
import pandas as pd

from quant_organism.core.timeutil import DAY_MONTH_YEAR, AmbiguousDatesError, year_last_dates
from quant_organism.market.resilience import CircuitBreaker, RetryPolicy, retry_call
from quant_organism.market.schema import MarketDataError, column_key

CLASSES = ("Extreme Fear", "Fear", "Neutral", "Greed", "Extreme Greed")
SENTIMENT_COLUMNS = ("date", "value", "classification")
FILE_MARKER = "fear_greed"


def is_fear_greed_file(name: str) -> bool:
    """A file holding the index, by its name: `fear_greed`, `fear-greed`, `Fear and Greed`, ... anywhere in it."""
    plain = column_key(name).replace("_and_", "_")
    return FILE_MARKER in plain


def default_source(market: str, files_dir: str | Path | None) -> str:
    """The sentiment source that goes with a market source: `files` beside files when a file there is the
    index by its name (`is_fear_greed_file`, the rule the reader finds it by), else `none`; `api` with
    hyperliquid; `synthetic` with the synthetic and planted markets."""
    if market == "files":
        folder = Path(files_dir) if files_dir else None
        found = folder is not None and folder.is_dir() and any(is_fear_greed_file(p.name) for p in folder.iterdir())
        return "files" if found else "none"
    return "api" if market == "hyperliquid" else "synthetic"


def classify(value: float) -> str:
    """alternative.me's bands: 0-24 extreme fear, 25-46 fear, 47-54 neutral, 55-75 greed, 76-100 extreme greed."""
    return CLASSES[int(np.searchsorted([25, 47, 55, 76], value, side="right"))]


def empty_sentiment() -> pd.DataFrame:
    return pd.DataFrame(
        {"date": pd.Series(dtype="datetime64[ns]"), "value": pd.Series(dtype=float), "classification": pd.Series(dtype=object)}
    )


def _window(frame: pd.DataFrame, first: str, last: str) -> pd.DataFrame:
    days = frame["date"]
    out = frame[(days >= pd.Timestamp(first)) & (days <= pd.Timestamp(last))]
    return out.sort_values("date").reset_index(drop=True)


def _checked(rows: pd.DataFrame, where: str) -> pd.DataFrame:
    """Values 0..100 and known classes, one row per day; raises naming the first bad row."""
    value = pd.to_numeric(rows["value"], errors="coerce")
    bad = value.isna() | (value < 0) | (value > 100) | ~rows["classification"].isin(CLASSES)
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise MarketDataError(f"{where}: row {i + 1} is not a Fear & Greed value: {rows.iloc[i].to_dict()}")
    dupes = rows["date"].duplicated(keep=False)
    if dupes.any():
        raise MarketDataError(f"{where}: several values for {sorted(rows['date'][dupes].dt.date.astype(str).unique())[:5]}")
    return pd.DataFrame(
        {
            "date": rows["date"].to_numpy(),
            "value": value.astype(float).to_numpy(),
            "classification": rows["classification"].astype(str).to_numpy(),
        }
    )


def _days_from(stamps: pd.Series, where: str) -> pd.Series:
    """UTC days from Unix seconds, ISO dates or year-last dates (`19-08-2020`, `08/19/2020`: the order told by
    the values, core/timeutil.year_last_dates)."""
    text = stamps.astype(str).str.strip()
    numeric = pd.to_numeric(text, errors="coerce")
    if numeric.notna().all():
        parsed = pd.to_datetime(numeric, unit="s", errors="coerce")
    elif len(text) and DAY_MONTH_YEAR.fullmatch(text.iloc[0]):
        try:
            parsed = year_last_dates(text)
        except AmbiguousDatesError as exc:
            raise MarketDataError(f"{where}: {exc}") from None
    else:
        parsed = pd.to_datetime(text, errors="coerce")
    if parsed.isna().any():
        i = int(np.flatnonzero(parsed.isna().to_numpy())[0])
        raise MarketDataError(f"{where}: timestamp {stamps.iloc[i]!r} (row {i + 1}) is neither Unix seconds nor a date")
    return parsed.dt.tz_localize(None).dt.floor("D") if parsed.dt.tz is not None else parsed.dt.floor("D")


FILE_COLUMNS: dict[str, tuple[str, ...]] = {
    "date": ("timestamp", "date", "time", "datetime", "day"),
    "value": ("value", "fng_value", "fear_greed", "fear_greed_index", "fear_and_greed_index", "fear_and_greed"),
    "classification": ("value_classification", "classification", "fng_classification", "class", "label"),
}
"""Column names a Fear & Greed file may use (case, spaces and dashes aside), in order of preference."""


def _file_rows(path: Path) -> pd.DataFrame:
    """A saved index as text columns: a CSV, or the API's JSON answer saved to a file (its `data` rows)."""
    try:
        if path.suffix.lower() == ".json":
            payload = json.loads(path.read_text())
            rows = payload.get("data") if isinstance(payload, dict) else payload
            if not isinstance(rows, list) or not rows:
                raise MarketDataError(f"{path}: no rows (expected the API's answer, with a 'data' list, or a list of rows)")
            return pd.DataFrame(rows).astype(str)
        return pd.read_csv(path, dtype=str, sep=None, engine="python", encoding="utf-8-sig")
    except (OSError, ValueError, UnicodeDecodeError) as exc:  # json.JSONDecodeError is a ValueError
        raise MarketDataError(f"{path}: cannot read as CSV or JSON: {exc}") from None


class SentimentSource(ABC):
    name = "abstract"

    @abstractmethod
    def daily(self, first: str, last: str) -> pd.DataFrame:
        """Days in [first, last] the source has a value for: date, value (0-100), classification."""


class FearGreedFile(SentimentSource):
    """The index from a CSV file (or the one file in a directory whose name contains `fear_greed`)."""

    name = "files"

    def __init__(self, path: str | Path) -> None:
        path = Path(path)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if is_fear_greed_file(p.name) and p.is_file())
            if len(found) != 1:
                raise MarketDataError(f"expected one file named *{FILE_MARKER}* in {path}; found {[p.name for p in found]}")
            path = found[0]
        self.path = path
        self._frame: pd.DataFrame | None = None

    def frame(self) -> pd.DataFrame:
        if self._frame is None:
            raw = _file_rows(self.path)
            columns = {column_key(c): c for c in raw.columns}
            picked = {role: next((columns[n] for n in names if n in columns), None) for role, names in FILE_COLUMNS.items()}
            missing = [role for role in ("date", "value") if picked[role] is None]
            if missing:
                expected = "; ".join(f"{role}: {' | '.join(FILE_COLUMNS[role])}" for role in missing)
                raise MarketDataError(f"{self.path}: no {' or '.join(missing)} column ({expected}); found {list(raw.columns)}")
            value = raw[picked["value"]]
            if picked["classification"] is None:  # alternative.me's bands (`classify`), for files that carry the value only
                numbers = pd.to_numeric(value, errors="coerce")
                classes = pd.Series([classify(v) if np.isfinite(v) else "" for v in numbers], index=raw.index)
            else:
                stated = raw[picked["classification"]].astype(str).str.strip().str.lower()
                classes = stated.map({c.lower(): c for c in CLASSES}).fillna(raw[picked["classification"]].astype(str))
            rows = pd.DataFrame(
                {"date": _days_from(raw[picked["date"]], str(self.path)), "value": value, "classification": classes}
            )
            self._frame = _checked(rows, str(self.path)).sort_values("date").reset_index(drop=True)
        return self._frame

    def daily(self, first: str, last: str) -> pd.DataFrame:
        return _window(self.frame(), first, last)


class FearGreedApi(SentimentSource):
    """The public API (`{base_url}/fng/?limit=N`), with retries (429, 5xx, connection errors) and a breaker."""

    name = "api"

    def __init__(
        self,
        base_url: str = "https://api.alternative.me",
        *,
        timeout_s: float = 10.0,
        policy: RetryPolicy = RetryPolicy(max_attempts=4, base_delay=0.2, max_delay=5.0),
        breaker: CircuitBreaker | None = None,
        today: pd.Timestamp | None = None,
        sleep=None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.policy = policy
        self.breaker = breaker or CircuitBreaker(failure_threshold=5, reset_timeout=60.0, name="fear-greed api")
        self.today = today
        self.requests = 0
        self._sleep = sleep

    def _get(self, limit: int) -> dict:
        url = f"{self.base_url}/fng/?limit={limit}&format=json"

        def once() -> dict:
            self.requests += 1
            with urllib.request.urlopen(url, timeout=self.timeout_s) as response:
                return json.loads(response.read())

        def retryable(exc: BaseException) -> bool:
            if isinstance(exc, urllib.error.HTTPError):
                return exc.code == 429 or exc.code >= 500
            return isinstance(exc, (urllib.error.URLError, OSError, TimeoutError))

        kwargs = {"sleep": self._sleep} if self._sleep else {}
        try:
            return retry_call(
                lambda: self.breaker.call(once, is_failure=retryable), policy=self.policy, is_retryable=retryable, **kwargs
            )
        except json.JSONDecodeError as exc:
            raise MarketDataError(f"{url}: the answer is not JSON ({exc})") from None
        except urllib.error.HTTPError as exc:
            raise MarketDataError(f"{url}: HTTP {exc.code}") from None
        except Exception as exc:  # noqa: BLE001 - retries exhausted or the breaker open: one clear error
            raise MarketDataError(f"{url}: {exc}") from None

    def daily(self, first: str, last: str) -> pd.DataFrame:
        now = self.today if self.today is not None else pd.Timestamp.now(tz="UTC")
        today = now.tz_localize(None) if now.tzinfo else now
        limit = max(1, (today.floor("D") - pd.Timestamp(first)).days + 1)  # the API pages by "the latest N days"
        payload = self._get(limit)
        where = f"{self.base_url}/fng/?limit={limit}"
        if not isinstance(payload, dict) or not isinstance(payload.get("data"), list):
            raise MarketDataError(f"{where}: malformed payload, no 'data' list: {str(payload)[:200]}")
        error = (payload.get("metadata") or {}).get("error")
        if error:
            raise MarketDataError(f"{where}: the API reported an error: {error}")
        if not payload["data"]:
            return empty_sentiment()
        try:
            raw = pd.DataFrame(payload["data"])[["value", "value_classification", "timestamp"]]
        except KeyError as exc:
            raise MarketDataError(f"{where}: malformed rows, missing {exc}: {str(payload['data'][0])[:200]}") from None
        rows = pd.DataFrame(
            {"date": _days_from(raw["timestamp"], where), "value": raw["value"], "classification": raw["value_classification"]}
        )
        return _window(_checked(rows, where), first, last)


class SyntheticSentiment(SentimentSource):
    """A Fear & Greed value computed causally from a market source's daily closes (the mean of the coins'
    14-day log returns over their 14-day volatility, squashed into 0-100): day D uses closes up to D's end."""

    name = "synthetic"

    def __init__(self, market, coins: tuple[str, ...]) -> None:
        self.market, self.coins = market, tuple(coins)

    def daily(self, first: str, last: str) -> pd.DataFrame:
        start = pd.Timestamp(first) - pd.Timedelta(days=40)
        end = pd.Timestamp(last) + pd.Timedelta(days=1)
        closes = {}
        for coin in self.coins:
            bars = self.market.candles(coin, start.tz_localize("UTC"), end.tz_localize("UTC"), "1h")
            if len(bars):
                daily = bars.set_index("timestamp")["close"].resample("1D").last()
                closes[coin] = daily[daily.index + pd.Timedelta(days=1) <= pd.Timestamp.now(tz="UTC")]  # closed days only
        if not closes:
            return empty_sentiment()
        frame = pd.DataFrame(closes).dropna(how="all")
        returns = np.log(frame).diff()
        score = (returns.rolling(14).sum() / (returns.rolling(14).std() * np.sqrt(14))).mean(axis=1)
        value = (50.0 + 50.0 * np.tanh(0.6 * score)).round()
        out = pd.DataFrame({"date": value.index.tz_localize(None), "value": value.to_numpy()}).dropna()
        out["classification"] = [classify(v) for v in out["value"]]
        return _window(out, first, last)


class NoSentiment(SentimentSource):
    """No sentiment source configured (a files directory without a Fear & Greed file): every day missing."""

    name = "none"

    def daily(self, first: str, last: str) -> pd.DataFrame:
        return empty_sentiment()
