"""The exchange's trade stream made into checked trades and closed bars, with a health record of what was refused.

Why its own module: a websocket delivers whatever the wire carries. Before a paper book or an order acts on a
price, the message must be a well-formed `trades` message of a subscribed coin, not a duplicate (the exchange
resends recent trades when a subscription starts), and not late for a bar already closed. Every refusal is
counted in `FeedHealth` under its reason, so an operator sees how clean the feed was; none raises.

Bars follow the exchange's own trade times, never the local clock, so a jump of this machine's clock cannot
close a bar early or late; `FeedHealth.clock_jumps` records that the clock moved. A bar of `interval` closes
when a trade of a later bar arrives for its coin, or when the stream's time (the latest trade time seen on any
coin, advanced by the monotonic clock while the stream is quiet) passes its end plus `grace`. A bar a gap may
have cut short is marked `needs_rest`: its owner fetches it whole from REST candles instead of using the
partial one built from trades (live_feed.py).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from quant_organism.core.durable import atomic_write

MALFORMED, OUT_OF_ORDER, DUPLICATE, UNSUBSCRIBED = "malformed", "out_of_order", "duplicate", "unsubscribed"


@dataclass(frozen=True)
class StreamTrade:
    coin: str
    time_ms: int
    price: float
    size: float
    tid: int


@dataclass
class StreamBar:
    """One coin's bar built from trades: open time (ms), OHLCV, and whether a gap may have cut it short."""

    coin: str
    start_ms: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    trades: int = 1
    needs_rest: bool = False

    def add(self, price: float, size: float) -> None:
        self.high, self.low, self.close = max(self.high, price), min(self.low, price), price
        self.volume += size
        self.trades += 1


@dataclass
class FeedHealth:
    """What the feed did and refused; written as JSON for Dagster's sensor and the dashboard."""

    state: str = "starting"  # starting | connected | reconnecting | stopped
    started_at: str | None = None
    connected_since: str | None = None
    last_message_at: str | None = None  # wall time the last message arrived
    last_trade_time: str | None = None  # the exchange's time of the last accepted trade
    messages: int = 0
    trades: int = 0
    bars_from_stream: int = 0
    bars_from_rest: int = 0
    reconnects: int = 0
    refused: dict[str, int] = field(default_factory=lambda: {MALFORMED: 0, OUT_OF_ORDER: 0, DUPLICATE: 0, UNSUBSCRIBED: 0})
    clock_jumps: int = 0
    last_problem: str | None = None
    coins: list[str] = field(default_factory=list)

    def refuse(self, reason: str, detail: str) -> None:
        self.refused[reason] = self.refused.get(reason, 0) + 1
        self.last_problem = f"{reason}: {detail[:200]}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def write(self, path: str | Path) -> None:
        text = json.dumps(self.to_dict(), sort_keys=True)
        atomic_write(Path(path), lambda tmp: Path(tmp).write_text(text))

    @classmethod
    def read(cls, path: str | Path) -> FeedHealth | None:
        """The record at `path`, or None when absent or unreadable (a reader never fails on it)."""
        try:
            return cls(**json.loads(Path(path).read_text()))
        except (OSError, ValueError, TypeError):
            return None


def parse_trades(message: Any) -> list[StreamTrade]:
    """The trades of one `trades` channel message; ValueError saying what is wrong with anything else."""
    if isinstance(message, (str, bytes)):
        try:
            message = json.loads(message)
        except ValueError as exc:
            raise ValueError(f"not JSON: {str(message)[:80]!r}") from exc
    if not isinstance(message, dict) or message.get("channel") != "trades" or not isinstance(message.get("data"), list):
        raise ValueError(f"not a trades message: {str(message)[:120]!r}")
    out = []
    for row in message["data"]:
        try:
            trade = StreamTrade(str(row["coin"]), int(row["time"]), float(row["px"]), float(row["sz"]), int(row["tid"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"trade row {str(row)[:120]!r}: {exc}") from exc
        if not (math.isfinite(trade.price) and trade.price > 0 and math.isfinite(trade.size) and trade.size >= 0):
            raise ValueError(f"trade row {str(row)[:120]!r}: price or size out of range")
        out.append(trade)
    return out


class BarBuilder:
    """Trades in, closed bars out, one open bar per coin; see the module docstring."""

    def __init__(self, coins: list[str], interval_ms: int, grace_ms: int = 2_000, remembered_tids: int = 4096) -> None:
        self.coins, self.interval_ms, self.grace_ms = set(coins), int(interval_ms), int(grace_ms)
        self.open: dict[str, StreamBar] = {}
        self.closed_until: dict[str, int] = {}  # a coin's bars starting before this are closed
        self._tids: dict[str, dict[int, None]] = {c: {} for c in coins}
        self._remembered = remembered_tids
        self.stream_ms: int | None = None

    def bar_start(self, time_ms: int) -> int:
        return time_ms - time_ms % self.interval_ms

    def accept(self, trade: StreamTrade, health: FeedHealth) -> tuple[bool, list[StreamBar]]:
        """(whether the trade was taken, the bars it closed); refusals are counted in `health`."""
        if trade.coin not in self.coins:
            health.refuse(UNSUBSCRIBED, f"trade of {trade.coin}")
            return False, []
        seen = self._tids[trade.coin]
        if trade.tid in seen:
            health.refuse(DUPLICATE, f"{trade.coin} trade {trade.tid} seen before")
            return False, []
        start = self.bar_start(trade.time_ms)
        current = self.open.get(trade.coin)
        if start < self.closed_until.get(trade.coin, -1) or (current is not None and trade.time_ms < current.start_ms):
            health.refuse(OUT_OF_ORDER, f"{trade.coin} trade at {trade.time_ms} ms belongs to a bar already closed")
            return False, []
        seen[trade.tid] = None
        if len(seen) > self._remembered:
            del seen[next(iter(seen))]
        closed = []
        if current is not None and start > current.start_ms:
            closed.append(self._close(trade.coin))
            current = None
        if current is None:
            self.open[trade.coin] = StreamBar(trade.coin, start, trade.price, trade.price, trade.price, trade.price, trade.size)
        else:
            current.add(trade.price, trade.size)
        self.stream_ms = trade.time_ms if self.stream_ms is None else max(self.stream_ms, trade.time_ms)
        return True, closed + self.due(self.stream_ms)

    def due(self, now_ms: int) -> list[StreamBar]:
        """Close every open bar whose end plus the grace is at or before `now_ms` (the stream's time)."""
        return [self._close(c) for c, bar in list(self.open.items()) if bar.start_ms + self.interval_ms + self.grace_ms <= now_ms]

    def mark_gap(self) -> None:
        """A disconnection: the open bars may miss trades, so each is to be fetched whole when it closes."""
        for bar in self.open.values():
            bar.needs_rest = True

    def skip_to(self, coin: str, start_ms: int) -> None:
        """Bars of `coin` before `start_ms` were supplied elsewhere (REST): trades for them are late."""
        self.closed_until[coin] = max(self.closed_until.get(coin, -1), start_ms)
        bar = self.open.get(coin)
        if bar is not None and bar.start_ms < start_ms:
            del self.open[coin]

    def _close(self, coin: str) -> StreamBar:
        bar = self.open.pop(coin)
        self.closed_until[coin] = bar.start_ms + self.interval_ms
        return bar
