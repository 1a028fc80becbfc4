"""A local stand-in for the Hyperliquid HTTP API, so the real SDK can be tested end to end offline.

`HyperliquidReplayServer` is a real threaded HTTP server on 127.0.0.1 (ephemeral port). `POST /info`
answers `meta`, `spotMeta`, `candleSnapshot` and `fundingHistory` in the exact wire format of the
recorded exchange responses (vcrpy cassettes in ../shared/market-data/hl_cassettes): compact JSON,
candle keys T,c,h,i,l,n,o,s,t,v with prices as decimal strings and times as integer ms, funding keys
coin,fundingRate,premium,time. Data comes from tables the test hands over (real CSVs or synthetic
frames), so the server never needs the shared folder; recorded interactions can also be replayed
verbatim (`add_recording`, `read_cassette`).

Selection follows the recordings: a candle is returned when its open time `t` <= endTime and its
close `T` >= startTime (so the bar containing startTime comes back too); funding when startTime <=
time <= endTime. A per-response row cap (`candle_cap`, `funding_cap`) forces paging; `cap_keeps`
chooses whether an over-long answer keeps the earliest or the latest rows.

Faults are scripted per test with `plan(Fault...)`: a FIFO of planned answers (HTTP errors, raw or
wrong-shaped bodies, delays past the client timeout, dropped connections), each used `times` times
(None: forever) on requests that match `when`. Every request is logged (`requests`, `count`) so tests
can assert how many calls and pages were made, including calls that a circuit breaker prevented.

Extension points: `on_info(type, handler)` adds an /info request type; `route(path, handler)` adds a
path, e.g. `/exchange` for a future testnet-order stage (unrouted paths answer 404).
"""

from __future__ import annotations

import bisect
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pandas as pd

INTERVAL_MS: dict[str, int] = {
    "1m": 60_000,
    "3m": 180_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": 3_600_000,
    "2h": 7_200_000,
    "4h": 14_400_000,
    "8h": 28_800_000,
    "12h": 43_200_000,
    "1d": 86_400_000,
    "3d": 259_200_000,
    "1w": 604_800_000,
}
DEFAULT_COINS: dict[str, int] = {"BTC": 5, "ETH": 4, "SOL": 2, "DOGE": 0, "XRP": 0}  # name -> szDecimals
BAD_BODY = "Failed to deserialize the JSON body into the target type"  # the exchange's 422 text
_ZERO_TOKEN_ID = "0x" + "0" * 32


def format_decimal(value: Any) -> str:
    """A number as the exchange writes it: plain decimal, never exponent, at least one decimal
    ('30135.0', '0.0000125'). Strings pass through untouched, so tests can plant bad values."""
    if isinstance(value, str):
        return value
    text = repr(float(value))
    if "e" not in text or text in ("nan", "inf", "-inf"):  # nan/inf: never sent by the exchange
        return text
    text = format(Decimal(text), "f")
    return text if "." in text else text + ".0"


@dataclass
class Reply:
    """One HTTP answer. `body`: bytes/str are sent as they are, anything else as compact JSON."""

    status: int = 200
    body: Any = b""
    headers: dict[str, str] = field(default_factory=dict)

    def encoded(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body, separators=(",", ":")).encode()


@dataclass
class RecordedRequest:
    """A request as the server saw it, and what it did about it."""

    path: str
    raw: bytes
    body: Any  # parsed JSON, or None when the body was not JSON
    status: int | None = None  # answered status; None while pending or when the connection was dropped
    fault: bool = False  # answered by a planned Fault
    rows: int | None = None  # length of the answer when it was a JSON list (a page)

    @property
    def info_type(self) -> str | None:
        return self.body.get("type") if isinstance(self.body, dict) else None


@dataclass
class Fault:
    """A planned answer, consumed by matching requests before normal handling.

    `when`: None matches every request; a string matches the /info request type; or a predicate.
    `status` None means "answer normally" (useful with `delay`). `times` None means forever.
    """

    status: int | None = None
    body: Any = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    disconnect: bool = False
    times: int | None = 1
    when: str | Callable[[RecordedRequest], bool] | None = None

    def matches(self, request: RecordedRequest) -> bool:
        if self.when is None:
            return True
        if isinstance(self.when, str):
            return request.info_type == self.when
        return bool(self.when(request))

    @classmethod
    def http(cls, status: int, body: Any = "", *, retry_after: float | None = None, **kw: Any) -> Fault:
        """An HTTP error (e.g. 429, 500). The default body is empty text, as a bare proxy would send."""
        headers = {"Retry-After": format(retry_after, "g")} if retry_after is not None else {}
        return cls(status=status, body=body, headers=headers, **kw)

    @classmethod
    def raw(cls, text: str | bytes, status: int = 200, **kw: Any) -> Fault:
        """A body sent verbatim, e.g. truncated or non-JSON text with status 200."""
        return cls(status=status, body=text if isinstance(text, bytes) else text.encode(), **kw)

    @classmethod
    def json(cls, obj: Any, status: int = 200, **kw: Any) -> Fault:
        """Valid JSON of any shape (e.g. a dict where a list is expected)."""
        return cls(status=status, body=json.dumps(obj, separators=(",", ":")).encode(), **kw)

    @classmethod
    def slow(cls, seconds: float, **kw: Any) -> Fault:
        """Answer normally, but only after `seconds` (beyond a client timeout, the client gives up)."""
        return cls(status=None, delay=seconds, **kw)

    @classmethod
    def drop(cls, **kw: Any) -> Fault:
        """Close the connection without answering."""
        return cls(disconnect=True, **kw)


@dataclass(frozen=True)
class Interaction:
    """One recorded request/response pair of a cassette."""

    path: str
    request: Any
    status: int
    body: str
    content_type: str = "application/json"


def read_cassette(path: str | Path) -> list[Interaction]:
    """The interactions of a vcrpy YAML cassette (request body parsed as JSON, response kept as text)."""
    import yaml

    data = yaml.safe_load(Path(path).read_text())
    out = []
    for item in data["interactions"]:
        request, response = item["request"], item["response"]
        headers = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
        content_type = headers.get("content-type", ["application/json"])
        out.append(
            Interaction(
                path=urlsplit(request["uri"]).path,
                request=json.loads(request["body"]) if request.get("body") else None,
                status=int(response["status"]["code"]),
                body=response["body"]["string"],
                content_type=content_type[0] if isinstance(content_type, list) else content_type,
            )
        )
    return out


def _ms_column(frame: pd.DataFrame, names: tuple[str, ...]) -> list[int]:
    for name in names:
        if name in frame.columns:
            col = frame[name]
            if pd.api.types.is_datetime64_any_dtype(col):
                stamps = pd.to_datetime(col, utc=True)
                return [int(ts.value // 1_000_000) for ts in stamps]
            return [int(v) for v in col]
    raise ValueError(f"table needs a time column, one of {names}; got {list(frame.columns)}")


def _pick(frame: pd.DataFrame, *names: str) -> str:
    for name in names:
        if name in frame.columns:
            return name
    raise ValueError(f"table needs a column {' or '.join(names)}; got {list(frame.columns)}")


class _Table:
    """Pre-rendered rows sorted by time, searched by bisection."""

    def __init__(self, times: list[int], rows: list[dict[str, Any]]) -> None:
        order = sorted(range(len(times)), key=times.__getitem__)
        self.times = [times[i] for i in order]
        self.rows = [rows[i] for i in order]

    def between(self, lo: int, hi: int | None) -> list[dict[str, Any]]:
        """Rows with lo <= time <= hi."""
        a = bisect.bisect_left(self.times, lo)
        b = len(self.times) if hi is None else bisect.bisect_right(self.times, hi)
        return self.rows[a:b]


class _Httpd(ThreadingHTTPServer):
    daemon_threads = True
    replay: HyperliquidReplayServer

    def handle_error(self, request: Any, client_address: Any) -> None:  # client went away: expected
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes: avoid a 40 ms stall
    timeout = 30
    server: _Httpd

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        self.server.replay._serve(self, urlsplit(self.path).path, raw)

    def do_GET(self) -> None:
        self.server.replay._serve(self, urlsplit(self.path).path, b"")

    def send_reply(self, reply: Reply) -> None:
        payload = reply.encoded()
        try:
            self.send_response(reply.status)
            headers = {"Content-Type": "application/json", **reply.headers}
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            self.wfile.flush()
        except OSError:  # the client timed out and hung up
            self.close_connection = True


class HyperliquidReplayServer:
    """Threaded HTTP server on 127.0.0.1 that answers like api.hyperliquid.xyz; use as a context manager.

    >>> with HyperliquidReplayServer(candle_cap=500) as hl:
    ...     hl.add_candles("BTC", frame, "1h")
    ...     Info(hl.url, skip_ws=True).candles_snapshot("BTC", "1h", start_ms, end_ms)
    """

    def __init__(
        self,
        *,
        meta: dict[str, Any] | None = None,
        spot_meta: dict[str, Any] | None = None,
        candle_cap: int = 5000,
        funding_cap: int = 500,
        cap_keeps: str = "earliest",
    ) -> None:
        if cap_keeps not in ("earliest", "latest"):
            raise ValueError(f"cap_keeps must be 'earliest' or 'latest', got {cap_keeps!r}")
        self.candle_cap = candle_cap
        self.funding_cap = funding_cap
        self.cap_keeps = cap_keeps
        self._meta = meta
        self._spot_meta = spot_meta
        self._candles: dict[tuple[str, str], _Table] = {}
        self._funding: dict[str, _Table] = {}
        self._recordings: dict[tuple[str, str], Reply] = {}
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.requests: list[RecordedRequest] = []
        self.routes: dict[str, Callable[[RecordedRequest], Reply]] = {"/info": self._info}
        self.info_handlers: dict[str, Callable[[dict[str, Any]], Any]] = {
            "meta": lambda body: self.meta,
            "spotMeta": lambda body: self.spot_meta,
            "candleSnapshot": self._candle_snapshot,
            "fundingHistory": self._funding_history,
        }
        self._httpd: _Httpd | None = None
        self._thread: threading.Thread | None = None

    # lifecycle -------------------------------------------------------------------------------
    def start(self) -> HyperliquidReplayServer:
        if self._httpd is not None:
            return self
        self._stopping.clear()
        httpd = _Httpd(("127.0.0.1", 0), _Handler)
        httpd.replay = self
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="hl-replay", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._stopping.set()  # wake delayed answers
        self._httpd.shutdown()
        self._httpd.server_close()
        assert self._thread is not None
        self._thread.join(timeout=5)
        self._httpd = None

    def __enter__(self) -> HyperliquidReplayServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL to hand to the SDK (`Info(url, skip_ws=True)`)."""
        if self._httpd is None:
            raise RuntimeError("replay server is not running; use it as a context manager or call start()")
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    # data --------------------------------------------------------------------------------------
    @property
    def meta(self) -> dict[str, Any]:
        """The perp universe: as given, else the default coins plus every coin with a table."""
        if self._meta is not None:
            return self._meta
        names = dict(DEFAULT_COINS)
        for coin in [c for c, _ in self._candles] + list(self._funding):
            names.setdefault(coin, 2)
        return {"universe": [{"maxLeverage": 50, "name": n, "szDecimals": d} for n, d in names.items()]}

    @property
    def spot_meta(self) -> dict[str, Any]:
        """Spot metadata: as given, else one minimal well-formed pair (enough for `Info(...)`)."""
        if self._spot_meta is not None:
            return self._spot_meta
        token = {"szDecimals": 0, "weiDecimals": 5, "tokenId": _ZERO_TOKEN_ID, "isCanonical": True}
        return {
            "universe": [{"tokens": [1, 0], "name": "PURR/USDC", "index": 0, "isCanonical": True}],
            "tokens": [
                {**token, "name": "USDC", "index": 0, "szDecimals": 8, "weiDecimals": 8},
                {**token, "name": "PURR", "index": 1},
            ],
        }

    def add_candles(self, coin: str, frame: pd.DataFrame, interval: str = "1h") -> None:
        """Serve `frame` as `coin`'s `interval` bars. Columns: a time (`timestamp_ms`, `timestamp` or
        `t`), open/high/low/close/volume (or o/h/l/c/v), optional `n` (trades, default 0). String
        values are served verbatim, numbers as the exchange formats them."""
        if interval not in INTERVAL_MS:
            raise ValueError(f"unknown interval {interval!r}; expected one of {list(INTERVAL_MS)}")
        step = INTERVAL_MS[interval]
        times = _ms_column(frame, ("timestamp_ms", "timestamp", "t"))
        cols = {
            key: _pick(frame, long, key)
            for key, long in (("o", "open"), ("h", "high"), ("l", "low"), ("c", "close"), ("v", "volume"))
        }
        values = {key: frame[col].tolist() for key, col in cols.items()}
        trades = [int(n) for n in frame["n"]] if "n" in frame.columns else [0] * len(times)
        rows = [
            {
                "T": t + step - 1,
                "c": format_decimal(values["c"][i]),
                "h": format_decimal(values["h"][i]),
                "i": interval,
                "l": format_decimal(values["l"][i]),
                "n": trades[i],
                "o": format_decimal(values["o"][i]),
                "s": coin,
                "t": t,
                "v": format_decimal(values["v"][i]),
            }
            for i, t in enumerate(times)
        ]
        with self._lock:
            self._candles[(coin, interval)] = _Table(times, rows)

    def add_funding(self, coin: str, frame: pd.DataFrame) -> None:
        """Serve `frame` as `coin`'s funding history. Columns: a time (`time_ms`, `timestamp`, `time`),
        `funding_rate` (or `fundingRate`), optional `premium` (default 0.0)."""
        times = _ms_column(frame, ("time_ms", "timestamp", "time"))
        rates = frame[_pick(frame, "funding_rate", "fundingRate")].tolist()
        premiums = frame["premium"].tolist() if "premium" in frame.columns else [0.0] * len(times)
        rows = [
            {"coin": coin, "fundingRate": format_decimal(r), "premium": format_decimal(p), "time": t}
            for t, r, p in zip(times, rates, premiums)
        ]
        with self._lock:
            self._funding[coin] = _Table(times, rows)

    def add_recording(self, interaction: Interaction) -> None:
        """Answer exactly this request body (compared as JSON) with the recorded response, verbatim."""
        key = (interaction.path, json.dumps(interaction.request, sort_keys=True))
        reply = Reply(interaction.status, interaction.body, {"Content-Type": interaction.content_type})
        with self._lock:
            self._recordings[key] = reply

    # scripting and inspection ------------------------------------------------------------------
    def plan(self, *faults: Fault) -> None:
        """Queue planned answers; each is used by the next `times` matching requests, in order."""
        with self._lock:
            self._faults.extend(faults)

    def clear(self) -> None:
        """Forget planned faults and the request log (tables and recordings stay)."""
        with self._lock:
            self._faults.clear()
            self.requests.clear()

    def count(self, info_type: str | None = None, path: str | None = None) -> int:
        """How many requests arrived (optionally of one /info type or path)."""
        with self._lock:
            return sum(
                1 for r in self.requests if (info_type is None or r.info_type == info_type) and (path is None or r.path == path)
            )

    def route(self, path: str, handler: Callable[[RecordedRequest], Reply]) -> None:
        """Answer `path` (e.g. '/exchange') with `handler(request) -> Reply`."""
        self.routes[path] = handler

    def on_info(self, info_type: str, handler: Callable[[dict[str, Any]], Any]) -> None:
        """Answer /info requests of `info_type` with `handler(body)`; a Reply is sent as is, anything
        else as a 200 JSON body."""
        self.info_handlers[info_type] = handler

    # serving -----------------------------------------------------------------------------------
    def _next_fault(self, request: RecordedRequest) -> Fault | None:
        with self._lock:
            for index, fault in enumerate(self._faults):
                if fault.matches(request):
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times <= 0:
                            del self._faults[index]
                    return fault
        return None

    def _serve(self, handler: _Handler, path: str, raw: bytes) -> None:
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        request = RecordedRequest(path=path, raw=raw, body=body)
        with self._lock:
            self.requests.append(request)
        fault = self._next_fault(request)
        if fault is not None:
            request.fault = True
            if fault.delay and self._stopping.wait(fault.delay):
                handler.close_connection = True
                return
            if fault.disconnect:
                handler.close_connection = True
                return
        if fault is not None and fault.status is not None:
            reply = Reply(fault.status, fault.body, dict(fault.headers))
        else:
            reply = self._answer(request)
        request.status = reply.status
        if isinstance(reply.body, list):
            request.rows = len(reply.body)
        handler.send_reply(reply)

    def _answer(self, request: RecordedRequest) -> Reply:
        with self._lock:
            recorded = self._recordings.get((request.path, json.dumps(request.body, sort_keys=True)))
        if recorded is not None:
            return recorded
        route = self.routes.get(request.path)
        if route is None:
            return Reply(404, f"no route for {request.path}", {"Content-Type": "text/plain"})
        return route(request)

    def _info(self, request: RecordedRequest) -> Reply:
        body = request.body
        handler = self.info_handlers.get(request.info_type or "")
        if handler is None:
            return Reply(422, BAD_BODY, {"Content-Type": "text/plain"})
        try:
            result = handler(body)
        except (KeyError, TypeError, ValueError):
            return Reply(422, BAD_BODY, {"Content-Type": "text/plain"})
        return result if isinstance(result, Reply) else Reply(200, result)

    def _candle_snapshot(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        req = body["req"]
        coin, interval = req["coin"], req["interval"]
        start, end = int(req["startTime"]), int(req["endTime"])
        if interval not in INTERVAL_MS:
            raise ValueError(interval)
        table = self._candles.get((coin, interval))
        if table is None:
            return []
        # bars whose close T = t + step - 1 >= start, and whose open t <= end
        rows = table.between(start - INTERVAL_MS[interval] + 1, end)
        return self._cap(rows, self.candle_cap)

    def _funding_history(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        coin, start = body["coin"], int(body["startTime"])
        end = body.get("endTime")
        table = self._funding.get(coin)
        if table is None:
            return []
        return self._cap(table.between(start, None if end is None else int(end)), self.funding_cap)

    def _cap(self, rows: list[dict[str, Any]], cap: int) -> list[dict[str, Any]]:
        if len(rows) <= cap:
            return rows
        return rows[:cap] if self.cap_keeps == "earliest" else rows[-cap:]
