"""The capital book traded live: every closed bar through the paper engine, every trade through the intrabar watch.

`LiveSession` joins three things an operator's live process needs:
- **bar-close processing, unchanged**: each closed bar (from the stream or REST, live_feed.py) is appended to its
  coin's history, and once every traded coin has reached a bar time the engine trades it through `PaperTrader`
  into the session's ledger, exactly as the hourly paper job does;
- **between closes** (intrabar.py): each trade moves the book's live equity and fires stops and take-profits at
  the first price past their level. After the bar's close each intrabar exit is written beside the exit the
  bar-close book made (`intrabar_fills.jsonl`), so the gap between the two prices is measured;
- **the breakers' levels** on the live equity: the first trade past one is alerted and the exchange book is
  flattened and kept flat (`halted`); the engine itself trips at the close, on the close's equity, as the paper
  job does, so the ledger stays bar-close processing's;
- **value at risk** (value_at_risk.py) at every close, over the positions held: when it exceeds `var_limit`
  (a fraction of equity) the book's exposure is scaled by limit / VaR. The engine scales new entries
  (`StrategyRuntimeEngine.exposure_scale`), and `targets()`, which the exchange mirror follows, scales what is
  held. A breach is an alert.

Listeners (`on_exit`, `on_close`, `on_breaker`) let the exchange mirror act on the same events. The session writes its
state (`state.json`: positions, equity, drawdown, VaR, the last alerts) at each close and at most once a
second between closes; the dashboard reads it. Alerts are also appended to `alerts.jsonl`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from quant_organism.core.compiled.metric_kernels import fall_from
from quant_organism.core.durable import atomic_write
from quant_organism.core.throttle import Throttle

from .intrabar import IntrabarExit, IntrabarWatch
from .ledger import PaperLedger, PaperTrader
from .paper_engine import StrategyRuntimeEngine
from .value_at_risk import VarEstimate, book_var, daily_returns, scale_for

log = logging.getLogger(__name__)
ALERTS_KEPT = 50


class LiveSession:
    def __init__(
        self,
        engine: StrategyRuntimeEngine,
        ledger: PaperLedger,
        *,
        interval: pd.Timedelta,
        history: Mapping[str, pd.DataFrame],
        version: str | None = None,
        var_limit: float | None = None,
        var_level: float = 0.99,
        out_dir: str | Path | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine, self.ledger, self.version = engine, ledger, version
        self.interval, self.var_limit, self.var_level = pd.Timedelta(interval), var_limit, var_level
        self.frames: dict[str, pd.DataFrame] = {c: history[c] for c in engine.coins() if c in history}
        missing = [c for c in engine.coins() if c not in self.frames]
        if missing:
            raise ValueError(f"no history for the traded coin(s) {missing}: the signals need their warm-up")
        self.processed = max(f.index[-1] for f in self.frames.values()) if self.frames else None
        self.out_dir = Path(out_dir) if out_dir is not None else None
        if self.out_dir is not None:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        self.clock = clock
        self.watch = IntrabarWatch(costs=engine.costs)
        self.alerts: list[dict[str, Any]] = []
        self.var: VarEstimate | None = None
        self.scale = 1.0
        self.peak = engine.portfolio_equity()
        self.day: str | None = None
        self.day_start = self.peak
        self.bars_traded = 0
        self.late_bars = 0
        self.on_exit: list[Callable[[IntrabarExit], None]] = []
        self.on_close: list[Callable[[pd.Timestamp], None]] = []
        self.on_breaker: list[Callable[[str], None]] = []
        self.halted: str | None = None  # a breaker's level was passed intrabar: the exchange book holds nothing
        self._write_throttle = Throttle()
        self._breached: set[str] = set()
        self._restore()
        self._idle = 0.0
        if self.processed is not None:
            self._arm(self.processed + self.interval)

    def _restore(self) -> None:
        """Resume every book from the session ledger's last saved state (a restart continues where it stopped)."""
        saved = self.ledger.latest_states()
        for (strategy, coin), (_, state) in saved.items():
            if (strategy, coin) in self.engine.books:
                self.engine.restore_book(strategy, coin, state)
        if saved:
            self.processed = max(max(t for t, _ in saved.values()), self.processed or pd.Timestamp(0, tz="UTC"))
        self.peak = self.day_start = self.engine.portfolio_equity()

    # --- between closes ------------------------------------------------------------------------------
    def on_trade(self, coin: str, time_ms: int, price: float) -> list[IntrabarExit]:
        """One trade: the book marked at it, the stops and take-profits it fires, the breakers' watch."""
        if coin not in self.frames:
            return []
        at = pd.Timestamp(time_ms, unit="ms", tz="UTC")
        fired = self.watch.on_price(coin, at, price)
        for exit_ in fired:
            self.alert("intrabar_" + exit_.reason, f"{exit_.strategy}/{coin}: {exit_.reason} at {price:g} "
                       f"(level {exit_.level:g}), {at:%H:%M:%S}", at)  # fmt: skip
            for listener in self.on_exit:
                listener(exit_)
        self._watch_breakers(at)
        self.write_state()
        return fired

    def live_equity(self) -> float:
        """The portfolio's equity now: its books marked at the last trades, plus the capital no strategy holds (fixed
        between closes, so taken when the watch is armed, not on every trade)."""
        return self.watch.equity() + self._idle if self.watch.books else self.engine.portfolio_equity()

    def _arm(self, bar_time: pd.Timestamp) -> None:
        self.watch.arm(self.engine, bar_time)
        self._idle = self.engine.portfolio_equity() - sum(book.state.equity for book in self.engine.books.values())

    def _watch_breakers(self, at: pd.Timestamp) -> None:
        """The breakers' levels against live equity: an alert on the first trade past one (the engine trips at
        the close, on the close's equity, as bar-close processing does)."""
        equity = self.live_equity()
        self.peak = max(self.peak, equity)
        limits = self.engine.risk
        drawdown, day_loss = fall_from(self.peak, equity), fall_from(self.day_start, equity) if self.day_start else 0.0
        for kind, value, limit in (("drawdown", drawdown, limits.max_drawdown), ("daily_loss", day_loss, limits.daily_loss)):
            if limit is not None and value >= limit and kind not in self._breached:
                self._breached.add(kind)
                why = f"live {kind.replace('_', ' ')} {value:.1%} >= {limit:.0%}"
                self.alert("intrabar_breaker_" + kind, why + ": the exchange book is flattened and kept flat", at)
                self.halted = self.halted or why
                for listener in self.on_breaker:
                    listener(why)

    # --- closes --------------------------------------------------------------------------------------
    def on_bar(self, bar: Mapping[str, Any]) -> list[pd.Timestamp]:
        """One closed bar of one coin; the bar times it let the engine trade."""
        coin, at = bar["coin"], pd.Timestamp(bar["time"])
        frame = self.frames.get(coin)
        if frame is None:
            return []
        if at <= frame.index[-1]:
            self.late_bars += 1
            return []
        row = pd.DataFrame({k: [float(bar[k])] for k in ("open", "high", "low", "close", "volume")}, index=pd.DatetimeIndex([at]))
        self.frames[coin] = pd.concat([frame, row])
        return self._trade_ready()

    def _trade_ready(self) -> list[pd.Timestamp]:
        """Trade every bar time up to the one all traded coins have reached (a coin without a bar at a time does
        not hold it back once it has a later one)."""
        ready = min(f.index[-1] for f in self.frames.values())
        after = self.processed if self.processed is not None else pd.Timestamp.min.tz_localize("UTC")
        times = sorted({t for f in self.frames.values() for t in f.index[(f.index > after) & (f.index <= ready)]})
        for t in times:
            self._close(t)
        return times

    def _close(self, t: pd.Timestamp) -> None:
        summary = PaperTrader(self.engine, self.ledger, version=self.version).run(self.frames, start=t, end=t + self.interval)
        self.processed, self.bars_traded = t, self.bars_traded + 1
        self._pair_exits(t, summary.result.fills)
        for event in summary.result.risk_events:
            self.alert(event.kind, f"{event.strategy}/{event.coin}: {event.detail}", event.time)
        self._value_at_risk(t)
        equity = self.engine.portfolio_equity()
        day = (t + self.interval).strftime("%Y-%m-%d")
        if day != self.day:
            self.day, self.day_start, self._breached = day, equity, set()
        self.peak = max(self.peak, equity)
        self._arm(t + self.interval)
        for listener in self.on_close:
            listener(t)
        self.write_state(force=True)

    def _pair_exits(self, t: pd.Timestamp, fills) -> None:
        """Each intrabar exit of bar t beside the bar-close book's exit of the same book and bar."""
        exits = [e for e in self.watch.exits if e.bar_time == t]
        if not exits:
            return
        closed = {(f.strategy, f.coin): f for f in fills if f.kind == "exit" and pd.Timestamp(f.time) == t}
        lines = []
        for e in exits:
            fill = closed.get((e.strategy, e.coin))
            e.model_price = None if fill is None else fill.price
            e.model_reason = "the bar-close book did not exit" if fill is None else fill.reason
            lines.append(json.dumps(e.to_dict()))
        self._append("intrabar_fills.jsonl", lines)

    def _value_at_risk(self, t: pd.Timestamp) -> None:
        equity = self.engine.portfolio_equity()
        if equity <= 0:
            return
        weights: dict[str, float] = {}
        for (_, coin), book in self.engine.books.items():
            s = book.state
            if s.direction != 0 and s.last_close is not None:
                weights[coin] = weights.get(coin, 0.0) + s.units * s.last_close / equity
        self.var = book_var(weights, daily_returns(self.frames), self.var_level)
        self.scale = scale_for(self.var, self.var_limit)
        self.engine.exposure_scale = self.scale
        if self.scale < 1.0:
            self.alert("var_breach", f"one-day {self.var_level:.0%} VaR {self.var.var:.2%} of equity > limit "
                       f"{self.var_limit:.2%}: exposure scaled x{self.scale:.3f}", t)  # fmt: skip
        self._append("var.jsonl", [json.dumps({"time": t.isoformat(), **self.var.to_dict(), "scale": self.scale})])

    def targets(self) -> dict[str, float]:
        """Units per coin the exchange should hold: the paper positions after intrabar exits, times the VaR scale;
        nothing once a breaker's level was passed intrabar (until the process restarts on a new deployment, as the
        engine's breaker suspends entries until the next deployment)."""
        if self.halted is not None:
            return {}
        return {coin: units * self.scale for coin, units in self.watch.positions().items()}

    # --- records -------------------------------------------------------------------------------------
    def alert(self, kind: str, message: str, at: pd.Timestamp | None = None) -> None:
        record = {"time": (at or pd.Timestamp(self.clock(), unit="s", tz="UTC")).isoformat(), "kind": kind, "message": message}
        self.alerts = (self.alerts + [record])[-ALERTS_KEPT:]
        log.warning("live alert %s: %s", kind, message)
        self._append("alerts.jsonl", [json.dumps(record)])

    def _append(self, name: str, lines: list[str]) -> None:
        if self.out_dir is None or not lines:
            return
        with open(self.out_dir / name, "a") as handle:
            handle.write("".join(line + "\n" for line in lines))

    def state(self) -> dict[str, Any]:
        equity = self.live_equity()
        books = []
        for key, book in self.engine.books.items():
            s, watched = book.state, self.watch.books.get(key)
            books.append({"strategy": key[0], "coin": key[1], "direction": s.direction, "units": s.units,
                          "entry_price": s.entry_price, "stop": s.stop_price, "take_profit": s.take_profit_price,
                          "equity": s.equity, "exited_intrabar": bool(watched and watched.exit)})  # fmt: skip
        return {
            "updated_at": pd.Timestamp(self.clock(), unit="s", tz="UTC").isoformat(),
            "version": self.version, "last_bar": None if self.processed is None else self.processed.isoformat(),
            "equity": equity, "peak": self.peak, "drawdown": fall_from(self.peak, equity),
            "day_start": self.day_start, "day_pnl": equity - self.day_start, "books": books,
            "prices": dict(self.watch.prices), "var": None if self.var is None else self.var.to_dict(),
            "var_limit": self.var_limit, "scale": self.scale, "breakers": self._breakers(), "alerts": self.alerts[-20:],
            "bars_traded": self.bars_traded, "late_bars": self.late_bars,
        }  # fmt: skip

    def _breakers(self) -> dict[str, Any]:
        guard = self.engine.guard
        return {"tripped": None if guard is None else guard.state.tripped, "intrabar": sorted(self._breached)}

    def write_state(self, force: bool = False) -> None:
        if self.out_dir is None:
            return
        if not self._write_throttle.due(time.monotonic(), force):
            return
        text = json.dumps(self.state(), default=str)
        atomic_write(self.out_dir / "state.json", lambda tmp: Path(tmp).write_text(text))
