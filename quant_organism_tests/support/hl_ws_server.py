"""A local stand-in for the exchange's websocket, speaking the subset the live feed uses.

`HyperliquidWsServer` is a real websocket server (the `websockets` library) on 127.0.0.1, path `/ws`, as the SDK's
`WebsocketManager` expects under its base URL. It answers `{"method":"subscribe","subscription":{...}}` with a
`subscriptionResponse` and `{"method":"ping"}` with `{"channel":"pong"}`, and publishes `trades` messages in the
exchange's wire format (`coin, side, px, sz, time, hash, tid`; prices and sizes as decimal strings) to the
clients subscribed to that coin.

`replay_candle` turns a recorded candle into four trades that trace it: the open, then the extreme nearer the
open's side, the other extreme, and the close (open -> low -> high -> close for a rising bar), each a quarter
of the volume, inside the bar's hour. Knobs for the failure paths: `drop()` closes every connection;
`refuse(n)` refuses the next n connection attempts; `send_raw(text)` sends any text to every client.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from typing import Any

import pandas as pd
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Response
from websockets.sync.server import ServerConnection, serve

from quant_organism_tests.support.hl_replay_server import format_decimal


class HyperliquidWsServer:
    def __init__(self) -> None:
        self.clients: dict[ServerConnection, set[str]] = {}
        self.connections = 0
        self.received: list[dict[str, Any]] = []
        self._refuse = 0
        self.refused = 0
        self._tids = itertools.count(1)
        self._lock = threading.Lock()
        self._server = serve(self._handle, "127.0.0.1", 0, process_request=self._gate)
        self.port = self._server.socket.getsockname()[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The base URL to give the SDK (it appends /ws)."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> HyperliquidWsServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.drop()
        self._server.shutdown()
        self._thread.join(timeout=5)

    def __enter__(self) -> HyperliquidWsServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # --- connections ----------------------------------------------------------------------------
    def _gate(self, connection: ServerConnection, request) -> Response | None:
        with self._lock:
            if self._refuse > 0:
                self._refuse -= 1
                self.refused += 1
                return connection.respond(503, "refused by the test\n")
        if request.path != "/ws":
            return connection.respond(404, "not found\n")
        return None

    def _handle(self, connection: ServerConnection) -> None:
        with self._lock:
            self.clients[connection] = set()
            self.connections += 1
        try:
            connection.send("Websocket connection established.")
            for raw in connection:
                message = json.loads(raw)
                self.received.append(message)
                if message.get("method") == "ping":
                    connection.send(json.dumps({"channel": "pong"}))
                elif message.get("method") == "subscribe":
                    subscription = message["subscription"]
                    if subscription.get("type") == "trades":
                        with self._lock:
                            self.clients[connection].add(subscription["coin"])
                    connection.send(json.dumps({"channel": "subscriptionResponse", "data": message}))
        except ConnectionClosed:
            pass
        finally:
            with self._lock:
                self.clients.pop(connection, None)

    def wait_subscribed(self, coins: list[str], timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if any(set(coins) <= subs for subs in self.clients.values()):
                    return
            time.sleep(0.01)
        raise TimeoutError(f"no client subscribed to {coins} within {timeout} s")

    def drop(self) -> None:
        with self._lock:
            clients = list(self.clients)
        for connection in clients:
            connection.close()

    def refuse(self, n: int) -> None:
        with self._lock:
            self._refuse = n

    # --- messages -------------------------------------------------------------------------------
    def send_raw(self, text: str) -> None:
        with self._lock:
            clients = list(self.clients)
        for connection in clients:
            try:
                connection.send(text)
            except ConnectionClosed:
                pass

    def trade_message(self, coin: str, time_ms: int, px: float, sz: float, tid: int | None = None) -> str:
        tid = next(self._tids) if tid is None else tid
        row = {"coin": coin, "side": "B", "px": format_decimal(px), "sz": format_decimal(sz), "time": int(time_ms),
               "hash": "0x" + f"{tid:064x}", "tid": tid}  # fmt: skip
        return json.dumps({"channel": "trades", "data": [row]})

    def publish(self, coin: str, time_ms: int, px: float, sz: float, tid: int | None = None) -> str:
        message = self.trade_message(coin, time_ms, px, sz, tid)
        with self._lock:
            clients = [c for c, subs in self.clients.items() if coin in subs]
        for connection in clients:
            try:
                connection.send(message)
            except ConnectionClosed:
                pass
        return message

    @staticmethod
    def candle_trades(start: pd.Timestamp, bar: pd.Series, interval_ms: int = 3_600_000) -> list[tuple[int, float, float]]:
        """The four (time ms, price, size) trades that trace `bar` (module docstring)."""
        t0 = int(pd.Timestamp(start).value // 1_000_000)
        rising = bar["close"] >= bar["open"]
        path = (
            [bar["open"], bar["low"], bar["high"], bar["close"]]
            if rising
            else [bar["open"], bar["high"], bar["low"], bar["close"]]
        )
        size = float(bar["volume"]) / 4.0
        return [(t0 + k * (interval_ms // 4) + 1, float(p), size) for k, p in enumerate(path)]

    def replay_candle(self, coin: str, start: pd.Timestamp, bar: pd.Series, pause_s: float = 0.0) -> None:
        for time_ms, px, sz in self.candle_trades(start, bar):
            self.publish(coin, time_ms, px, sz)
            if pause_s:
                time.sleep(pause_s)
