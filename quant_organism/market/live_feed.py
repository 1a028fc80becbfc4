"""The exchange's live trades through the SDK's websocket, kept whole across dropped connections.

`ExchangeFeed` subscribes, with the SDK's own `Info` (websocket on), to the `trades` channel of each coin. Every
raw message passes `stream.parse_trades` where the socket hands it over, in place of the SDK's dispatch: a
malformed one is counted and dropped rather than raised inside the SDK's thread, and a well-formed one is parsed
once. Accepted trades go to `on_trade` (the paper books' intrabar watch) and are built into bars
(`stream.BarBuilder`); each closed bar goes to `on_bar` exactly once, in time order per coin.

A watchdog thread notices a dropped connection (the SDK's socket thread has ended, or no message for
`stale_after_s`; the SDK pings every 50 s, so a live connection is never quiet that long), reconnects with
exponential backoff, and then fills the gap from REST candles (`rest`, the paged and retried
`HyperliquidSource.candles`): every bar from the last one delivered up to the bar in progress, and the bar in
progress itself once it closes, since the trades of its first part were missed. Bars are keyed by their open
time, so none is delivered twice; trades for a bar already delivered are refused as late.

`health` is written to `health_path` at most once a second and on every change of state: the state, the
last message's time, reconnects, bars from the stream and from REST, and the refusals by reason. Dagster's
sensor and the dashboard read it.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
from hyperliquid.info import Info

from quant_organism.core.throttle import Throttle
from quant_organism.market.schema import interval_delta
from quant_organism.market.stream import MALFORMED, BarBuilder, FeedHealth, StreamBar, StreamTrade, parse_trades

log = logging.getLogger(__name__)

RestCandles = Callable[[str, pd.Timestamp, pd.Timestamp], pd.DataFrame]
_QUIET_CHANNELS = ("pong", "subscriptionResponse")


def _iso_ms(ms: int) -> str:
    return pd.Timestamp(ms, unit="ms", tz="UTC").isoformat()


class ExchangeFeed:
    def __init__(
        self,
        coins: list[str],
        interval: str,
        *,
        ws_url: str,
        rest: RestCandles,
        on_trade: Callable[[StreamTrade], None],
        on_bar: Callable[[dict[str, Any]], None],
        meta: dict | None = None,
        health_path: str | Path | None = None,
        stale_after_s: float = 70.0,
        backoff_s: tuple[float, float] = (0.5, 30.0),
        grace_ms: int = 2_000,
        tick_s: float = 0.2,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        clock_jump_s: float = 5.0,
    ) -> None:
        """`ws_url`: the API's URL (the SDK appends /ws); `meta`: the perp universe, so that `Info` asks nothing
        over HTTP at construction (the coins themselves stand in when absent)."""
        self.coins, self.interval = list(coins), interval
        self.interval_ms = int(interval_delta(interval).total_seconds() * 1000)
        self.ws_url, self.rest, self.on_trade, self.on_bar = ws_url.rstrip("/"), rest, on_trade, on_bar
        self.meta = meta or {"universe": [{"name": c, "szDecimals": 0} for c in self.coins]}
        self.health_path = Path(health_path) if health_path is not None else None
        self.stale_after_s, self.backoff_s, self.tick_s = stale_after_s, backoff_s, tick_s
        self.clock, self.monotonic, self.clock_jump_s = clock, monotonic, clock_jump_s
        self.builder = BarBuilder(self.coins, self.interval_ms, grace_ms)
        self.health = FeedHealth(coins=self.coins, started_at=pd.Timestamp(clock(), unit="s", tz="UTC").isoformat())
        self.info: Info | None = None
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._watchdog: threading.Thread | None = None
        self._last_message_mono: float | None = None
        self._last_trade_mono: float | None = None
        self._anchor = (clock(), monotonic())
        self._gap_coins: set[str] = set()  # coins with no trade since a reconnect
        self._rest_due: list[tuple[str, int, int]] = []  # (coin, start, end) of closed bars owed by REST
        self._write_throttle = Throttle()

    # --- life cycle -----------------------------------------------------------------------------
    def start(self) -> ExchangeFeed:
        self._connect()
        self._watchdog = threading.Thread(target=self._watch, name="exchange-feed-watchdog", daemon=True)
        self._watchdog.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._watchdog is not None:
            self._watchdog.join(timeout=5)
        self._disconnect()
        with self._lock:
            self.health.state = "stopped"
            self._write_health(force=True)

    def wait_connected(self, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            manager = self.info.ws_manager if self.info is not None else None
            if manager is not None and manager.ws_ready:
                return True
            if manager is not None and not manager.is_alive():  # the handshake failed: no use waiting
                return False
            time.sleep(0.02)
        return False

    def _connect(self) -> None:
        info = Info(self.ws_url, skip_ws=False, meta=self.meta, spot_meta={"universe": [], "tokens": []})
        manager = info.ws_manager
        manager.ws.on_message = lambda ws, message: self._on_raw(message)  # in place of the SDK's dispatch
        for coin in self.coins:
            info.subscribe({"type": "trades", "coin": coin}, _taken_in_on_raw)
        self.info = info
        self._last_message_mono = self.monotonic()

    def _disconnect(self) -> None:
        info, self.info = self.info, None
        if info is not None and info.ws_manager is not None:
            try:
                info.ws_manager.ws.keep_running = False
                info.disconnect_websocket()
            except Exception as exc:  # noqa: BLE001 - a socket already gone: nothing left to close
                log.debug("closing the websocket: %s", exc)

    # --- messages -------------------------------------------------------------------------------
    def _on_raw(self, message) -> None:
        """Every message from the socket: counted and checked; trades are taken here (pongs and subscription answers
        need nothing; anything else is refused as malformed)."""
        with self._lock:
            self.health.messages += 1
            self.health.last_message_at = self._now_iso()
            self._last_message_mono = self.monotonic()
            if self.health.state != "connected":  # the first message on a socket: the connection is up
                self.health.state, self.health.connected_since = "connected", self._now_iso()
                self._write_health(force=True)
            if message == "Websocket connection established.":
                return
            try:
                parsed = json.loads(message)
            except ValueError:
                self.health.refuse(MALFORMED, f"not JSON: {str(message)[:80]!r}")
                self._write_health()
                return
            channel = parsed.get("channel") if isinstance(parsed, dict) else None
            if channel in _QUIET_CHANNELS:
                return
            try:
                trades = parse_trades(parsed)
            except ValueError as exc:
                self.health.refuse(MALFORMED, str(exc))
                self._write_health()
                return
            self._take(trades)  # the builder refuses a coin not subscribed

    def _take(self, trades: list[StreamTrade]) -> None:
        for trade in trades:
            taken, closed = self.builder.accept(trade, self.health)
            if not taken:
                continue
            self.health.trades += 1
            self.health.last_trade_time = _iso_ms(trade.time_ms)
            self._last_trade_mono = self.monotonic()
            for done in closed:
                self._deliver(done)
            if trade.coin in self._gap_coins:  # the first trade after a reconnect: what the gap hid comes from REST
                self._gap_coins.discard(trade.coin)
                start = self.builder.bar_start(trade.time_ms)
                done = self.builder.closed_until.get(trade.coin, start)
                if done < start:
                    self._rest_due.append((trade.coin, done, start))
                    self._drain_rest()
                self.builder.open[trade.coin].needs_rest = True
            self.on_trade(trade)
        self._write_health()

    # --- bars -----------------------------------------------------------------------------------
    def _deliver(self, bar: StreamBar) -> None:
        if bar.needs_rest or any(coin == bar.coin for coin, _, _ in self._rest_due):  # in time order per coin
            self._rest_due.append((bar.coin, bar.start_ms, bar.start_ms + self.interval_ms))
            self._drain_rest()
            return
        self.health.bars_from_stream += 1
        self.on_bar(
            {"coin": bar.coin, "time": pd.Timestamp(bar.start_ms, unit="ms", tz="UTC"), "open": bar.open, "high": bar.high,
             "low": bar.low, "close": bar.close, "volume": bar.volume, "source": "stream"}
        )  # fmt: skip

    def _drain_rest(self) -> None:
        """Deliver the bars waiting for REST, oldest first; one that REST cannot give yet waits for the next tick."""
        waiting, self._rest_due = sorted(self._rest_due, key=lambda owed: owed[1]), []
        failed: set[str] = set()
        for coin, start, end in waiting:
            if coin in failed or not self._fill(coin, start, end):
                failed.add(coin)
                self._rest_due.append((coin, start, end))

    def _fill(self, coin: str, start_ms: int, end_ms: int) -> bool:
        """Deliver `coin`'s REST bars in [start, end); False when the exchange did not answer."""
        try:
            frame = self.rest(coin, pd.Timestamp(start_ms, unit="ms", tz="UTC"), pd.Timestamp(end_ms, unit="ms", tz="UTC"))
        except Exception as exc:  # noqa: BLE001 - retried on the next tick; the health record says why
            self.health.last_problem = f"REST candles for {coin}: {str(exc)[:200]}"
            return False
        for row in frame.sort_values("timestamp").itertuples(index=False):
            self.health.bars_from_rest += 1
            self.on_bar(
                {"coin": coin, "time": pd.Timestamp(row.timestamp), "open": float(row.open), "high": float(row.high),
                 "low": float(row.low), "close": float(row.close), "volume": float(row.volume), "source": "rest"}
            )  # fmt: skip
        self.builder.skip_to(coin, end_ms)
        return True

    # --- the watchdog ---------------------------------------------------------------------------
    def stream_ms(self) -> int | None:
        """The exchange's time now, as the stream knows it: the last trade's, moved on by the monotonic clock."""
        if self.builder.stream_ms is None or self._last_trade_mono is None:
            return None
        return self.builder.stream_ms + int((self.monotonic() - self._last_trade_mono) * 1000)

    def tick(self) -> None:
        """One watchdog round: the clock, bars that are due, REST bars still owed, the connection."""
        with self._lock:
            self._check_clock()
            now = self.stream_ms()
            if now is not None:
                for bar in self.builder.due(now):
                    self._deliver(bar)
            if self._rest_due:
                self._drain_rest()
            self._write_health()
        if not self._connection_alive():
            self._reconnect()

    def _watch(self) -> None:
        while not self._stop.wait(self.tick_s):
            try:
                self.tick()
            except Exception as exc:  # the process stays up; the health record carries the problem
                log.exception("live feed watchdog")
                with self._lock:
                    self.health.last_problem = f"watchdog: {str(exc)[:200]}"

    def _check_clock(self) -> None:
        wall, mono = self.clock(), self.monotonic()
        expected = self._anchor[0] + (mono - self._anchor[1])
        if abs(wall - expected) > self.clock_jump_s:
            self.health.clock_jumps += 1
            self.health.last_problem = (
                f"clock jump of {wall - expected:+.1f} s: bars follow the exchange's trade times, not this clock"
            )
            self._write_health(force=True)
        self._anchor = (wall, mono)

    def _connection_alive(self) -> bool:
        info = self.info
        if info is None or info.ws_manager is None or not info.ws_manager.is_alive():
            return False
        quiet = self.monotonic() - (self._last_message_mono or self.monotonic())
        return quiet < self.stale_after_s

    def _reconnect(self) -> None:
        with self._lock:
            self.health.state = "reconnecting"
            self.builder.mark_gap()
            self._write_health(force=True)
        self._disconnect()
        delay = self.backoff_s[0]
        while not self._stop.is_set():
            try:
                self._connect()
                if self.wait_connected(timeout=max(2.0, delay)):
                    break
                raise ConnectionError("the websocket did not open")
            except Exception as exc:  # noqa: BLE001 - any failure of the SDK or the network
                with self._lock:
                    self.health.last_problem = f"reconnect: {str(exc)[:200]}"
                self._disconnect()
                self._stop.wait(delay)
                delay = min(delay * 2, self.backoff_s[1])
        with self._lock:
            self.health.reconnects += 1
            self._fill_gap()
            self._write_health(force=True)

    def _fill_gap(self) -> None:
        """After a reconnect: the bars closed since the last one delivered, from REST, as far as the stream's time
        says; the rest when each coin's first trade shows where the stream resumed (`_take`)."""
        self._gap_coins = set(self.coins)
        now = self.stream_ms()
        if now is None:
            return
        current = self.builder.bar_start(now)
        for coin in self.coins:
            done = self.builder.closed_until.get(coin)
            bar = self.builder.open.get(coin)
            start = done if done is not None else (bar.start_ms if bar is not None else None)
            if start is None or start >= current or (bar is not None and bar.start_ms >= current):
                continue
            if bar is not None:
                del self.builder.open[coin]
            self._rest_due.append((coin, start, current))
        self._drain_rest()

    # --- the health record ----------------------------------------------------------------------
    def _now_iso(self) -> str:
        return pd.Timestamp(self.clock(), unit="s", tz="UTC").isoformat()

    def _write_health(self, force: bool = False) -> None:
        if self.health_path is None:
            return
        if not self._write_throttle.due(self.monotonic(), force):
            return
        try:
            self.health.write(self.health_path)
        except OSError as exc:  # a full disk must not stop the feed
            log.warning("writing the feed's health record: %s", exc)


def _taken_in_on_raw(message: dict) -> None:
    """The SDK's callback for the trades subscriptions: never reached, as `ExchangeFeed._on_raw` takes every trades
    message before the SDK's dispatch (the subscription itself is the SDK's)."""
