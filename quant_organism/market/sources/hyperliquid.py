"""Hyperliquid perpetuals through the official SDK (`hyperliquid.info.Info`), paged, retried, guarded.

Why the care: the exchange caps rows per response (about 5000 candles, 500 funding rows), rate-limits
with HTTP 429, and a long backfill must neither hammer a failing endpoint nor hand partial data on.

Paging: the range is walked in windows that each fit in one response (`max_*_per_request` rows: bars
of the interval for candles; hourly funding for funding), so a capped answer cannot hide rows whatever
end the server truncates from. Within a window, a page that came back shorter than the window is
continued from just past its last row; an empty page moves on to the next window (history may start
later than asked). Rows before the cursor (the server also returns the bar containing startTime) are
dropped, which removes overlaps at page boundaries; the result covers exactly [start, end).

Funding times: the exchange stamps funding a few ms after the hour (e.g. 10:00:00.048). The real time
is kept, not rounded, and [start, end) applies to it, so a daily partition holds its own 00:00 funding.

Payload rules: anything whose structure is wrong raises MarketDataError and nothing is returned: not
a JSON list (the SDK turns an unparsable body into a dict {"error": ...}), a row that is not an
object, a missing key (t,o,h,l,c,v for candles; time, fundingRate for funding), a time that is not an
integer, or a row for another coin or interval. A *value* that is present but not a number ("abc",
null) becomes NaN in the canonical frame, so quality rules quarantine that row later.

Errors: timeouts, connection errors, HTTP 429 and 5xx are retried with exponential backoff and jitter
(honouring Retry-After); other 4xx are not. Every HTTP attempt passes a circuit breaker, which opens
after `breaker_threshold` consecutive failures and then refuses calls for `breaker_cooldown` seconds.
Failures surface as HyperliquidRequestError (a MarketDataError) naming the endpoint, coin, status
and attempts; messages carry the host only, never credentials.
"""

from __future__ import annotations

import difflib
import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pandas as pd
import requests
from hyperliquid.info import Info
from hyperliquid.utils.constants import MAINNET_API_URL
from hyperliquid.utils.error import ClientError, ServerError

from quant_organism.market.resilience import CircuitBreaker, CircuitOpenError, RetryExhaustedError, RetryPolicy, retry_call
from quant_organism.market.schema import (
    MarketDataError,
    SourceUnreachableError,
    UnknownCoinError,
    conform_candles,
    conform_funding,
    empty_candles,
    empty_funding,
    interval_delta,
)
from quant_organism.market.sources.interface import MarketDataSource

logger = logging.getLogger(__name__)

MAX_CANDLES_PER_REQUEST = 5000
MAX_FUNDING_PER_REQUEST = 500
FUNDING_PERIOD_MS = 3_600_000  # hourly since 2023-06 (8-hourly before: windows then hold fewer rows)
_CANDLE_KEYS = ("t", "o", "h", "l", "c", "v")
_FUNDING_KEYS = ("time", "fundingRate")
_TRANSIENT = (
    requests.exceptions.Timeout,
    requests.exceptions.ConnectionError,
    requests.exceptions.ChunkedEncodingError,
)


class HyperliquidRequestError(MarketDataError):
    """A request to the exchange failed; says which endpoint, coin, HTTP status and attempts."""

    def __init__(self, message: str, *, endpoint: str, coin: str | None, status: int | None, attempts: int) -> None:
        super().__init__(message)
        self.endpoint = endpoint
        self.coin = coin
        self.status = status
        self.attempts = attempts


class ExchangeUnreachableError(HyperliquidRequestError, SourceUnreachableError):
    """The exchange gave no answer at all (timeouts, refused or dropped connections)."""


def _utc(ts: Any, what: str) -> pd.Timestamp:
    """A UTC timestamp; naive input is taken to be UTC already (the project's convention)."""
    try:
        stamp = pd.Timestamp(ts)
    except (TypeError, ValueError) as exc:
        raise MarketDataError(f"{what} is not a timestamp: {ts!r}") from exc
    if stamp is pd.NaT:
        raise MarketDataError(f"{what} is not a timestamp: {ts!r}")
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _ceil_ms(stamp: pd.Timestamp) -> int:
    """Smallest whole ms >= stamp, so integer-ms times compare with ms bounds exactly as with stamp."""
    return -(-stamp.value // 1_000_000)


def _iso(ms: int) -> str:
    return pd.Timestamp(ms, unit="ms", tz="UTC").strftime("%Y-%m-%dT%H:%M:%S.%fZ").replace(".000000Z", "Z")


def _number(value: Any) -> float:
    """A present value as float; anything that is not a number becomes NaN (quality rules decide)."""
    if isinstance(value, bool):
        return float("nan")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return float("nan")
    return float("nan")


def _rows(payload: Any, what: str, required: tuple[str, ...], time_key: str) -> list[dict[str, Any]]:
    """Check a page's structure; raise MarketDataError on anything but a list of complete objects."""
    if not isinstance(payload, list):
        if isinstance(payload, dict) and isinstance(payload.get("error"), str):
            detail = f"the SDK reported: {payload['error'][:200]!r}"
        else:
            detail = f"got {type(payload).__name__}: {str(payload)[:200]!r}"
        raise MarketDataError(f"{what}: malformed payload, expected a JSON list of rows; {detail}")
    for index, row in enumerate(payload):
        if not isinstance(row, dict):
            raise MarketDataError(f"{what}: malformed row {index}: expected an object, got {row!r:.200}")
        missing = [k for k in required if k not in row]
        if missing:
            raise MarketDataError(f"{what}: malformed row {index}: missing key(s) {missing}; got {sorted(row)}")
        stamp = row[time_key]
        if not isinstance(stamp, int) or isinstance(stamp, bool):
            raise MarketDataError(f"{what}: malformed row {index}: {time_key!r} must be integer ms, got {stamp!r}")
    return payload


class HyperliquidSource(MarketDataSource):
    """Candles and funding of Hyperliquid perpetuals over [start, end), in the canonical schema.

    `base_url`: mainnet by default; testnet (`hyperliquid.utils.constants.TESTNET_API_URL`) or a local
    `http://127.0.0.1:PORT` replay server work too. No network at construction: the coin universe
    (`meta`) is fetched once, through the same retries and breaker, on first use.
    """

    name = "hyperliquid"

    def __init__(
        self,
        base_url: str = MAINNET_API_URL,
        *,
        timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        breaker: CircuitBreaker | None = None,
        breaker_threshold: int = 5,
        breaker_cooldown: float = 30.0,
        max_rows_per_request: int | None = None,
        max_candles_per_request: int = MAX_CANDLES_PER_REQUEST,
        max_funding_per_request: int = MAX_FUNDING_PER_REQUEST,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        if max_rows_per_request is not None:  # one knob for both, e.g. to force paging in tests
            max_candles_per_request = max_funding_per_request = max_rows_per_request
        if max_candles_per_request < 1 or max_funding_per_request < 1:
            raise ValueError("max rows per request must be >= 1")
        if timeout <= 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout}")
        self.base_url = base_url.rstrip("/")
        parts = urlsplit(self.base_url)
        self.host = parts.hostname + (f":{parts.port}" if parts.port else "") if parts.hostname else "?"
        self.retry = retry or RetryPolicy()
        self.breaker = breaker or CircuitBreaker(breaker_threshold, breaker_cooldown, name=f"hyperliquid {self.host}/info")
        self.max_candles_per_request = max_candles_per_request
        self.max_funding_per_request = max_funding_per_request
        self._sleep = sleep
        self._rng = rng or random.Random()
        # meta/spot_meta given empty so that Info makes no request here; the universe comes later.
        self._info = Info(
            self.base_url,
            skip_ws=True,
            meta={"universe": []},
            spot_meta={"universe": [], "tokens": []},
            timeout=timeout,
        )
        self._observed = threading.local()
        self._info.session.hooks["response"].append(self._observe)
        self._universe: tuple[str, ...] | None = None
        self._meta_lock = threading.Lock()

    # public --------------------------------------------------------------------------------------
    def coins(self) -> tuple[str, ...]:
        """Perpetuals the exchange lists (fetched once per source)."""
        with self._meta_lock:
            if self._universe is None:
                meta = self._call("meta", None, "", self._info.meta)
                universe = meta.get("universe") if isinstance(meta, dict) else None
                if not isinstance(universe, list) or not all(
                    isinstance(a, dict) and isinstance(a.get("name"), str) and isinstance(a.get("szDecimals"), int)
                    for a in universe
                ):
                    raise MarketDataError(
                        "hyperliquid meta: malformed payload, expected {'universe': [{'name', 'szDecimals'}, ...]}; "
                        f"got {str(meta)[:200]!r}"
                    )
                self._info.set_perp_meta(meta, 0)
                self._universe = tuple(a["name"] for a in universe)
            return self._universe

    def top_coins(self, n: int | None) -> list[dict[str, Any]]:
        """The `n` listed perpetuals with the largest 24h notional volume (`metaAndAssetCtxs`; None: every listed
        one), delisted ones left out: [{coin, day_volume_usd, open_interest, mark_price}], largest first."""
        if n is not None and n < 1:
            raise ValueError(f"top_coins: n must be >= 1, got {n}")
        payload = self._call("metaAndAssetCtxs", None, "", self._info.meta_and_asset_ctxs)
        if (
            not isinstance(payload, list)
            or len(payload) != 2
            or not isinstance(payload[0], dict)
            or not isinstance(payload[0].get("universe"), list)
            or not isinstance(payload[1], list)
            or len(payload[0]["universe"]) != len(payload[1])
        ):
            raise MarketDataError(
                "hyperliquid metaAndAssetCtxs: malformed payload, expected [meta, [asset ctx per asset]]; "
                f"got {str(payload)[:200]!r}"
            )
        rows = []
        for asset, ctx in zip(payload[0]["universe"], payload[1]):
            if not isinstance(asset, dict) or not isinstance(ctx, dict) or asset.get("isDelisted"):
                continue
            volume = _number(ctx.get("dayNtlVlm"))
            if not isinstance(asset.get("name"), str) or volume != volume:  # no name, or a volume that is not a number
                continue
            rows.append(
                {
                    "coin": asset["name"],
                    "day_volume_usd": volume,
                    "open_interest": _number(ctx.get("openInterest")),
                    "mark_price": _number(ctx.get("markPx")),
                }
            )
        rows.sort(key=lambda r: (-r["day_volume_usd"], r["coin"]))
        return rows if n is None else rows[:n]

    def candles(self, coin: str, start: pd.Timestamp, end: pd.Timestamp, interval: str = "1h") -> pd.DataFrame:
        step_ms = int(interval_delta(interval).total_seconds() * 1000)
        start_ms, end_ms = self._bounds(start, end)
        self._check_coin(coin)
        what = f"candleSnapshot {coin} {interval}"

        def page(lo: int, hi: int) -> list[dict[str, Any]]:
            payload = self._call(
                "candleSnapshot",
                coin,
                f"{interval} {_iso(lo)}..{_iso(hi)}",
                lambda: self._info.candles_snapshot(coin, interval, lo, hi),
            )
            rows = _rows(payload, f"hyperliquid {what}", _CANDLE_KEYS, "t")
            for index, row in enumerate(rows):
                if row.get("s", coin) != coin or row.get("i", interval) != interval:
                    raise MarketDataError(
                        f"hyperliquid {what}: row {index} is for {row.get('s')!r} {row.get('i')!r}, not the requested series"
                    )
            return rows

        rows = self._walk(page, "t", start_ms, end_ms, self.max_candles_per_request * step_ms, step_ms)
        if not rows:
            return empty_candles()
        # the API keys each column by its first letter (o, h, l, c, v)
        values = {name: [_number(r[name[0]]) for r in rows] for name in ("open", "high", "low", "close", "volume")}
        times = pd.to_datetime([r["t"] for r in rows], unit="ms", utc=True)
        return conform_candles(pd.DataFrame({"timestamp": times, "coin": coin, **values}))

    def funding(self, coin: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
        start_ms, end_ms = self._bounds(start, end)
        self._check_coin(coin)
        what = f"fundingHistory {coin}"

        def page(lo: int, hi: int) -> list[dict[str, Any]]:
            payload = self._call(
                "fundingHistory", coin, f"{_iso(lo)}..{_iso(hi)}", lambda: self._info.funding_history(coin, lo, hi)
            )
            rows = _rows(payload, f"hyperliquid {what}", _FUNDING_KEYS, "time")
            for index, row in enumerate(rows):
                if row.get("coin", coin) != coin:
                    raise MarketDataError(f"hyperliquid {what}: row {index} is for coin {row.get('coin')!r}")
            return rows

        rows = self._walk(page, "time", start_ms, end_ms, self.max_funding_per_request * FUNDING_PERIOD_MS, 1)
        if not rows:
            return empty_funding()
        frame = pd.DataFrame(
            {
                "timestamp": pd.to_datetime([r["time"] for r in rows], unit="ms", utc=True),
                "coin": coin,
                "funding_rate": [_number(r["fundingRate"]) for r in rows],
            }
        )
        return conform_funding(frame)

    def close(self) -> None:
        """Release the HTTP connections the SDK keeps open."""
        self._info.session.close()

    # paging ----------------------------------------------------------------------------------------
    @staticmethod
    def _walk(
        page: Callable[[int, int], list[dict[str, Any]]],
        time_key: str,
        start_ms: int,
        end_ms: int,
        window_ms: int,
        step_ms: int,
    ) -> list[dict[str, Any]]:
        """Collect rows with start_ms <= time < end_ms; the cursor only ever moves forward."""
        out: list[dict[str, Any]] = []
        cursor = start_ms
        while cursor < end_ms:
            window_end = min(end_ms, cursor + window_ms)
            fresh = [r for r in page(cursor, window_end - 1) if cursor <= r[time_key] < end_ms]
            if fresh:
                out.extend(fresh)
                cursor = max(r[time_key] for r in fresh) + step_ms
            else:
                cursor = window_end
        return out

    def _bounds(self, start: Any, end: Any) -> tuple[int, int]:
        return _ceil_ms(_utc(start, "start")), _ceil_ms(_utc(end, "end"))

    def _check_coin(self, coin: str) -> None:
        if not isinstance(coin, str) or not coin:
            raise UnknownCoinError(f"coin must be a non-empty string, got {coin!r}")
        known = self.coins()
        if coin in known:
            return
        close = difflib.get_close_matches(coin, known, n=3, cutoff=0.5)
        close += [k for k in known if k.lower() == coin.lower() and k not in close]
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise UnknownCoinError(
            f"hyperliquid ({self.host}) lists no perpetual {coin!r}{hint} "
            f"Known coins include {', '.join(known[:10])} ({len(known)} listed)."
        )

    # resilient calls -------------------------------------------------------------------------------
    def _observe(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self._observed.response = response

    def _status(self, exc: BaseException) -> int | None:
        if isinstance(exc, (ClientError, ServerError)):
            return int(exc.status_code)
        response = getattr(self._observed, "response", None)  # the SDK's own error parsing may fail
        return None if response is None else int(response.status_code)

    @staticmethod
    def _error_class(last: BaseException | None) -> type[HyperliquidRequestError]:
        """ExchangeUnreachableError when the last failure got no answer from the exchange."""
        return ExchangeUnreachableError if isinstance(last, _TRANSIENT) else HyperliquidRequestError

    def _retryable(self, exc: BaseException) -> bool:
        if isinstance(exc, _TRANSIENT):
            return True
        status = self._status(exc)
        return status is not None and (status == 429 or status >= 500)

    def _describe(self, exc: BaseException) -> str:
        if isinstance(exc, requests.exceptions.Timeout):
            return "timeout"
        if isinstance(exc, _TRANSIENT):
            return f"connection error ({type(exc).__name__})"
        status = self._status(exc)
        message = getattr(exc, "error_message", None) or getattr(exc, "message", None)
        detail = f": {str(message)[:120]}" if message else ""
        return f"HTTP {status}{detail}" if status is not None else f"{type(exc).__name__}: {str(exc)[:120]}"

    def _retry_after(self, exc: BaseException) -> float | None:
        response = getattr(self._observed, "response", None)
        if response is None or response.status_code not in (429, 503):
            return None
        try:
            return float(response.headers.get("Retry-After", ""))
        except ValueError:
            return None

    def _call(self, endpoint: str, coin: str | None, detail: str, fn: Callable[[], Any]) -> Any:
        label = " ".join(part for part in (f"hyperliquid ({self.host}) {endpoint}", coin, detail) if part)

        def attempt() -> Any:
            self._observed.response = None
            return fn()

        def on_retry(n: int, exc: BaseException, delay: float) -> None:
            retries = self.retry.max_attempts - 1
            logger.warning("%s: %s; retry %d/%d in %.2fs", label, self._describe(exc), n, retries, delay)

        try:
            return retry_call(
                attempt,
                policy=self.retry,
                is_retryable=self._retryable,
                sleep=self._sleep,
                rng=self._rng,
                breaker=self.breaker,
                retry_after=self._retry_after,
                describe=self._describe,
                on_retry=on_retry,
            )
        except CircuitOpenError as exc:
            last = exc.__cause__ or self.breaker.last_error  # None: refused before this call tried
            raise self._error_class(last)(
                f"{label}: {exc} (attempts in this call: {exc.attempts})",
                endpoint=endpoint,
                coin=coin,
                status=self._status(last) if last else None,
                attempts=exc.attempts,
            ) from exc
        except RetryExhaustedError as exc:
            raise self._error_class(exc.last_error)(
                f"{label} failed after {exc.attempts} attempts: {self._describe(exc.last_error)}",
                endpoint=endpoint,
                coin=coin,
                status=self._status(exc.last_error),
                attempts=exc.attempts,
            ) from exc.last_error
        except Exception as exc:  # not retryable: a 4xx other than 429, or an unexpected error
            raise HyperliquidRequestError(
                f"{label} failed (not retried): {self._describe(exc)}",
                endpoint=endpoint,
                coin=coin,
                status=self._status(exc),
                attempts=1,
            ) from exc
