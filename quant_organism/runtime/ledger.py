"""The paper ledger: what the runtime engine decided, filled and earned, kept in DuckDB, and measured.

One DuckDB file (default `<data root>/paper/ledger.duckdb`), written by one process at a time, with
tables keyed by book (strategy, coin) and bar time (naive UTC timestamps, the bar's open time):

    books      strategy, coin, initial_cash, first_bar          one row per paper book
    orders     the engine's decisions at each bar's close (filled at the next open)
    fills      executions at a bar (seq orders fills within the bar): price with slippage, fee
    positions  the book at each close: direction, units, levels, cash, equity, and its full
               resumable state as JSON (what `PaperTrader` resumes from)
    pnl        per book per bar: equity, pnl, fees, funding, return
    trades     closed round trips (exit reasons as in the backtest's trades table)
    pnl_daily  view: per strategy per UTC day, summed over its coins
    policy_changes  every change of the operator's policy (runtime/operator.py): when, who, the policy (JSON)

Fees, slippage and funding are those of the backtest's cost model, applied by the paper books.
Writes are idempotent: a batch first deletes every row of its books within the bars it covers, then
inserts, in one transaction, and primary keys forbid duplicates; re-running the same bars leaves
the same rows.
"""

from __future__ import annotations

import json
import operator
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from quant_organism.backtest.metric_table import equity_metrics
from quant_organism.core import metrics as core_metrics

from .book import Fill, Mark, Trade
from .decisions import TradeDecision
from .paper_engine import RunResult, StrategyRuntimeEngine

SCHEMA = """
CREATE TABLE IF NOT EXISTS books (
    strategy VARCHAR, coin VARCHAR, initial_cash DOUBLE, first_bar TIMESTAMP, PRIMARY KEY (strategy, coin));
CREATE TABLE IF NOT EXISTS orders (
    strategy VARCHAR, coin VARCHAR, bar_time TIMESTAMP, side VARCHAR, target TINYINT, previous TINYINT,
    confidence DOUBLE, size DOUBLE, notional DOUBLE, entry_price DOUBLE, take_profit DOUBLE, stop_loss DOUBLE,
    reason VARCHAR, PRIMARY KEY (strategy, coin, bar_time));
CREATE TABLE IF NOT EXISTS fills (
    strategy VARCHAR, coin VARCHAR, bar_time TIMESTAMP, seq INTEGER, side VARCHAR, kind VARCHAR, reason VARCHAR,
    units DOUBLE, price DOUBLE, fee DOUBLE, liquidity VARCHAR, PRIMARY KEY (strategy, coin, bar_time, seq));
CREATE TABLE IF NOT EXISTS positions (
    strategy VARCHAR, coin VARCHAR, bar_time TIMESTAMP, direction TINYINT, units DOUBLE, entry_price DOUBLE,
    stop_loss DOUBLE, take_profit DOUBLE, cash DOUBLE, close DOUBLE, equity DOUBLE, state VARCHAR,
    PRIMARY KEY (strategy, coin, bar_time));
CREATE TABLE IF NOT EXISTS pnl (
    strategy VARCHAR, coin VARCHAR, bar_time TIMESTAMP, equity DOUBLE, pnl DOUBLE, fees DOUBLE, funding DOUBLE,
    ret DOUBLE, PRIMARY KEY (strategy, coin, bar_time));
CREATE TABLE IF NOT EXISTS trades (
    strategy VARCHAR, coin VARCHAR, entry_time TIMESTAMP, exit_time TIMESTAMP, direction TINYINT, size DOUBLE,
    entry_price DOUBLE, exit_price DOUBLE, fees DOUBLE, funding DOUBLE, pnl DOUBLE, ret DOUBLE, exit_reason VARCHAR,
    PRIMARY KEY (strategy, coin, entry_time));
CREATE TABLE IF NOT EXISTS risk_events (
    bar_time TIMESTAMP, kind VARCHAR, strategy VARCHAR, coin VARCHAR, detail VARCHAR);
CREATE TABLE IF NOT EXISTS risk_state (bar_time TIMESTAMP PRIMARY KEY, state VARCHAR);
CREATE TABLE IF NOT EXISTS policy_changes (changed_at TIMESTAMP, source VARCHAR, policy VARCHAR);
CREATE OR REPLACE VIEW pnl_daily AS
WITH per_book AS (
    SELECT strategy, coin, CAST(bar_time AS DATE) AS day, arg_max(equity, bar_time) AS equity_end,
           sum(pnl) AS pnl, sum(fees) AS fees, sum(funding) AS funding, count(*) AS bars
    FROM pnl GROUP BY ALL),
per_strategy AS (
    SELECT strategy, day, sum(equity_end) AS equity_end, sum(pnl) AS pnl, sum(fees) AS fees,
           sum(funding) AS funding, max(bars) AS bars
    FROM per_book GROUP BY ALL)
SELECT *, pnl / (equity_end - pnl) AS ret FROM per_strategy ORDER BY strategy, day;
"""
TABLES = ("orders", "fills", "positions", "pnl", "trades")
_TIME_KEY = {"orders": "bar_time", "fills": "bar_time", "positions": "bar_time", "pnl": "bar_time", "trades": "exit_time"}


LEDGER_FILE = Path("paper") / "ledger.duckdb"  # under the data root (the Dagster layer supplies the root)


def _naive_utc(values) -> pd.Series:
    stamps = pd.to_datetime(pd.Series(values), utc=True)
    return stamps.dt.tz_localize(None)


@dataclass
class LedgerBatch:
    """Rows to write, and per book the [first, last] bar times they cover (rows there are replaced)."""

    ranges: dict[tuple[str, str], tuple[pd.Timestamp, pd.Timestamp]] = field(default_factory=dict)
    initial_cash: dict[tuple[str, str], float] = field(default_factory=dict)
    decisions: list[TradeDecision] = field(default_factory=list)
    fills: list[Fill] = field(default_factory=list)
    trades: list[Trade] = field(default_factory=list)
    marks: list[Mark] = field(default_factory=list)
    states: list[str] = field(default_factory=list)  # JSON book state after each mark's bar, aligned with marks
    initial_equity: dict[tuple[str, str], float] = field(default_factory=dict)  # equity before the batch
    risk_events: list = field(default_factory=list)  # RiskEvent: breakers, caps, decay sizing
    guard_states: list[tuple[pd.Timestamp, str]] = field(default_factory=list)  # (bar, guard state JSON)


@dataclass(frozen=True)
class PaperMetrics:
    """A strategy's paper record (all its coins summed)."""

    strategy: str
    days: int  # distinct UTC days with at least one marked bar
    bars: int
    start: pd.Timestamp | None
    end: pd.Timestamp | None
    trade_count: int  # closed round trips
    total_return: float
    sharpe: float  # per-bar returns, annualised by the bar interval (as the backtest's Sharpe)
    max_drawdown: float  # positive fraction of the running peak
    equity: pd.Series
    returns: pd.Series  # per bar, the first measured from the books' initial cash

    def daily_returns(self) -> pd.Series:
        if self.equity.empty:
            return self.equity
        daily = self.equity.resample("1D").last().dropna()
        base = self.equity.iloc[0] / (1.0 + self.returns.iloc[0])
        return daily / daily.shift(1).fillna(base) - 1.0


class LedgerLockedError(TimeoutError):
    """Another process held the ledger's DuckDB file for longer than the ledger's `lock_timeout`."""


class PaperLedger:
    """The DuckDB paper ledger at `path`; see the module docstring.

    DuckDB lets one process at a time open the file for writing; a second writer (two paper runs of
    one day) waits up to `lock_timeout` seconds for it, then raises `LedgerLockedError` saying so."""

    def __init__(self, path: str | Path, lock_timeout: float = 120.0) -> None:
        self.path = Path(path)
        self.lock_timeout = lock_timeout
        self._held: duckdb.DuckDBPyConnection | None = None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.connect() as con:
            con.execute(SCHEMA)

    def _open(self) -> duckdb.DuckDBPyConnection:
        deadline, pause = time.monotonic() + self.lock_timeout, 0.05
        while True:
            try:
                return duckdb.connect(str(self.path))
            except duckdb.IOException as exc:
                if "lock" not in str(exc).lower():
                    raise
                if time.monotonic() >= deadline:
                    raise LedgerLockedError(
                        f"the paper ledger {self.path} stayed locked by another process for {self.lock_timeout:g} s "
                        f"(another paper run is writing it?); retry when it has finished. DuckDB said: {exc}"
                    ) from None
                time.sleep(pause)
                pause = min(pause * 2, 1.0)

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """The session's connection (see `session`), else one opened for this call and closed after it."""
        if self._held is not None:
            yield self._held
            return
        con = self._open()
        try:
            yield con
        finally:
            con.close()

    @contextmanager
    def session(self) -> Iterator[PaperLedger]:
        """Hold one connection for a run's reads and writes: a paper run makes a few dozen of them, and opening
        the file costs about as much as a day's writes. Other processes wait for the file meanwhile, as they
        wait for a write (`lock_timeout`); nested sessions share the outer one."""
        if self._held is not None:
            yield self
            return
        self._held = self._open()
        try:
            yield self
        finally:
            con, self._held = self._held, None
            con.close()

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection inside one transaction: committed when the block ends, rolled back when it raises (a
        failed write leaves the ledger as it was)."""
        with self.connect() as con:
            con.execute("BEGIN TRANSACTION")
            try:
                yield con
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise

    # --- writing ---------------------------------------------------------------------------------
    def write(self, batch: LedgerBatch) -> dict[str, int]:
        """Replace the batch's books' rows within its bar ranges; returns rows written per table."""
        if not batch.ranges:
            return {name: 0 for name in TABLES}
        frames = _batch_frames(batch)
        ranges = pd.DataFrame(
            [(s, c, lo, hi) for (s, c), (lo, hi) in batch.ranges.items()], columns=["strategy", "coin", "lo", "hi"]
        )
        ranges["lo"], ranges["hi"] = _naive_utc(ranges["lo"]), _naive_utc(ranges["hi"])
        books = pd.DataFrame(
            [(s, c, batch.initial_cash[(s, c)], batch.ranges[(s, c)][0]) for s, c in batch.ranges],
            columns=["strategy", "coin", "initial_cash", "first_bar"],
        )
        books["first_bar"] = _naive_utc(books["first_bar"])
        with self.transaction() as con:
            con.register("batch_ranges", ranges)
            try:
                con.register("batch_books", books)
                con.execute(
                    "INSERT INTO books SELECT * FROM batch_books ON CONFLICT (strategy, coin) DO UPDATE SET "
                    "initial_cash = CASE WHEN excluded.first_bar <= books.first_bar THEN excluded.initial_cash "
                    "ELSE books.initial_cash END, first_bar = least(books.first_bar, excluded.first_bar)"
                )
                con.unregister("batch_books")
                lo, hi = ranges["lo"].min(), ranges["hi"].max()
                for name in ("risk_events", "risk_state"):  # portfolio-wide rows: replaced over the batch's span
                    con.execute(f"DELETE FROM {name} WHERE bar_time BETWEEN ? AND ?", [lo, hi])
                if batch.risk_events:
                    events = pd.DataFrame(
                        [(e.time, e.kind, e.strategy, e.coin, e.detail) for e in batch.risk_events],
                        columns=["bar_time", "kind", "strategy", "coin", "detail"],
                    )
                    events["bar_time"] = _naive_utc(events["bar_time"])
                    con.register("batch_events", events)
                    con.execute("INSERT INTO risk_events SELECT * FROM batch_events")
                    con.unregister("batch_events")
                if batch.guard_states:
                    guard = pd.DataFrame(batch.guard_states, columns=["bar_time", "state"])
                    guard["bar_time"] = _naive_utc(guard["bar_time"])
                    con.register("batch_guard", guard)
                    con.execute("INSERT INTO risk_state SELECT * FROM batch_guard")
                    con.unregister("batch_guard")
                for name in TABLES:
                    key = _TIME_KEY[name]
                    con.execute(
                        f"DELETE FROM {name} USING batch_ranges r WHERE {name}.strategy = r.strategy "
                        f"AND {name}.coin = r.coin AND {name}.{key} BETWEEN r.lo AND r.hi"
                    )
                    if len(frames[name]):
                        con.register("batch_rows", frames[name])
                        con.execute(f"INSERT INTO {name} SELECT * FROM batch_rows")
                        con.unregister("batch_rows")
            finally:
                con.unregister("batch_ranges")
        return {name: len(frames[name]) for name in TABLES}

    # --- reading ---------------------------------------------------------------------------------
    def table(self, name: str, strategy: str | None = None, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """A table (or the `pnl_daily` view), optionally one strategy's rows and only some `columns` (a position
        row carries its book's saved state as JSON: most of what a full read would move); times come back as UTC."""
        known = (*TABLES, "books", "pnl_daily", "policy_changes")
        if name not in known:
            raise ValueError(f"unknown ledger table {name!r}; tables: {list(known)}")
        where, params = ("WHERE strategy = ?", [strategy]) if strategy is not None else ("", [])
        select = "*" if columns is None else ", ".join(f'"{c}"' for c in columns)
        with self.connect() as con:
            frame = con.execute(f"SELECT {select} FROM {name} {where}", params).df()
        for column in frame.columns:
            if pd.api.types.is_datetime64_any_dtype(frame[column]):
                frame[column] = frame[column].dt.tz_localize("UTC")
        return frame

    def guard_state(self, before: Any = None) -> str | None:
        """The portfolio guard's state saved at the last bar before `before` (or the last of all)."""
        with self.connect() as con:
            if before is None:
                row = con.execute("SELECT state FROM risk_state ORDER BY bar_time DESC LIMIT 1").fetchone()
            else:
                stamp = _naive_utc([before]).iloc[0]
                row = con.execute(
                    "SELECT state FROM risk_state WHERE bar_time < ? ORDER BY bar_time DESC LIMIT 1", [stamp]
                ).fetchone()
        return row[0] if row else None

    def risk_events(self) -> pd.DataFrame:
        with self.connect() as con:
            return con.execute("SELECT * FROM risk_events ORDER BY bar_time, kind, strategy, coin").df()

    def latest_states(self, before: Any = None) -> dict[tuple[str, str], tuple[pd.Timestamp, dict[str, Any]]]:
        """Every book's saved state at its last marked bar (strictly before `before` when given), in one query."""
        where, params = "", []
        if before is not None:
            where, params = "WHERE bar_time < ?", [_naive_utc([before]).iloc[0].to_pydatetime()]
        with self.connect() as con:
            rows = con.execute(
                f"SELECT strategy, coin, max(bar_time), arg_max(state, bar_time) FROM positions {where} GROUP BY ALL",
                params,
            ).fetchall()
        return {(s, c): (pd.Timestamp(t).tz_localize("UTC"), json.loads(state)) for s, c, t, state in rows}

    def record_policy(self, policy_json: str, source: str, changed_at: Any) -> bool:
        """Append the operator's policy when it differs from the last one recorded; True when it was appended."""
        stamp = _naive_utc([changed_at]).iloc[0].to_pydatetime()
        with self.connect() as con:
            last = con.execute("SELECT policy FROM policy_changes ORDER BY changed_at DESC LIMIT 1").fetchone()
            if last is not None and last[0] == policy_json:
                return False
            con.execute("INSERT INTO policy_changes VALUES (?, ?, ?)", [stamp, source, policy_json])
        return True

    def policy_changes(self) -> pd.DataFrame:
        """Every recorded policy change, oldest first (changed_at in UTC)."""
        frame = self.table("policy_changes")
        return frame.sort_values("changed_at", kind="stable").reset_index(drop=True)

    def strategies(self) -> list[str]:
        with self.connect() as con:
            return [r[0] for r in con.execute("SELECT DISTINCT strategy FROM books ORDER BY 1").fetchall()]

    def equity(self, strategy: str) -> tuple[pd.Series, float]:
        """The strategy's equity at each close summed over its books, and their summed initial cash.

        A book without a mark at some bar counts with its last equity (its initial cash before its first).
        """
        pnl = self.table("pnl", strategy)
        books = self.table("books", strategy)
        initial = float(books["initial_cash"].sum()) if len(books) else 0.0
        if pnl.empty:
            return pd.Series(dtype=np.float64, index=pd.DatetimeIndex([], tz="UTC"), name=strategy), initial
        wide = pnl.pivot(index="bar_time", columns="coin", values="equity").sort_index().ffill()
        start_cash = books.set_index("coin")["initial_cash"]
        wide = wide.fillna(start_cash.reindex(wide.columns))
        series = wide.sum(axis=1).rename(strategy)
        series.index.name = None
        return series, initial

    def metrics(self, strategy: str, bars_per_year: float | None = None) -> PaperMetrics:
        """Paper metrics of one strategy; bars per year from the median bar spacing unless given."""
        equity, initial = self.equity(strategy)
        with self.connect() as con:
            trade_count = con.execute("SELECT count(*) FROM trades WHERE strategy = ?", [strategy]).fetchone()[0]
        if equity.empty or initial <= 0:
            empty = pd.Series(dtype=np.float64, index=pd.DatetimeIndex([], tz="UTC"))
            return PaperMetrics(strategy, 0, 0, None, None, int(trade_count), 0.0, 0.0, 0.0, empty, empty)
        if bars_per_year is None:
            bars_per_year = core_metrics.bars_per_year(equity.index, default=1.0)
        figures = equity_metrics(equity.to_numpy(), initial, float(bars_per_year))
        returns = equity / equity.shift(1).fillna(initial) - 1.0
        days = equity.index.normalize().nunique()
        return PaperMetrics(
            strategy, int(days), len(equity), equity.index[0], equity.index[-1], int(trade_count),
            figures["total_return"], figures["sharpe"] if len(equity) > 1 else 0.0, figures["max_drawdown"],
            equity, returns,
        )  # fmt: skip


# table column -> the record attribute it holds (`operator.attrgetter` paths)
_ORDER_COLUMNS = {
    "strategy": "strategy_id", "coin": "coin", "bar_time": "timestamp", "side": "side.value", "target": "target",
    "previous": "previous", "confidence": "confidence", "size": "size", "notional": "notional",
    "entry_price": "entry_price", "take_profit": "take_profit", "stop_loss": "stop_loss", "reason": "reason",
}  # fmt: skip
_FILL_COLUMNS = {
    "strategy": "strategy", "coin": "coin", "bar_time": "time", "seq": "seq", "side": "side", "kind": "kind",
    "reason": "reason", "units": "units", "price": "price", "fee": "fee", "liquidity": "liquidity",
}  # fmt: skip
_POSITION_COLUMNS = {
    "strategy": "strategy", "coin": "coin", "bar_time": "time", "direction": "direction", "units": "units",
    "entry_price": "entry_price", "stop_loss": "stop_loss", "take_profit": "take_profit", "cash": "cash",
    "close": "close", "equity": "equity",
}  # fmt: skip
_TRADE_COLUMNS = {
    "strategy": "strategy", "coin": "coin", "entry_time": "entry_time", "exit_time": "exit_time",
    "direction": "direction", "size": "size", "entry_price": "entry_price", "exit_price": "exit_price",
    "fees": "fees", "funding": "funding", "pnl": "pnl", "ret": "ret", "exit_reason": "exit_reason",
}  # fmt: skip


def _records_frame(records, columns: dict[str, str], extra: dict[str, list] | None = None) -> pd.DataFrame:
    """One row per record, the table's columns in order (then `extra`'s)."""
    get = operator.attrgetter(*columns.values())
    rows = [get(r) for r in records]
    if extra:
        rows = [(*row, *more) for row, more in zip(rows, zip(*extra.values(), strict=True), strict=True)]
    return pd.DataFrame(rows, columns=[*columns, *(extra or {})])


def _batch_frames(batch: LedgerBatch) -> dict[str, pd.DataFrame]:
    """The batch as one frame per table, columns in table order, times naive UTC."""
    marks = batch.marks
    previous: dict[tuple[str, str], float] = dict(batch.initial_equity)
    pnl_rows = []
    for m in marks:
        key = (m.strategy, m.coin)
        before = previous.get(key, m.equity - m.pnl)
        ret = m.equity / before - 1.0 if before > 0 else 0.0
        pnl_rows.append((m.strategy, m.coin, m.time, m.equity, m.pnl, m.fees, m.funding, ret))
        previous[key] = m.equity
    out = {
        "orders": _records_frame(batch.decisions, _ORDER_COLUMNS),
        "fills": _records_frame(batch.fills, _FILL_COLUMNS),
        "positions": _records_frame(marks, _POSITION_COLUMNS, {"state": list(batch.states)}),
        "pnl": pd.DataFrame(pnl_rows, columns=["strategy", "coin", "bar_time", "equity", "pnl", "fees", "funding", "ret"]),
        "trades": _records_frame([t for t in batch.trades if t.exit_reason != "open"], _TRADE_COLUMNS),
    }
    for frame in out.values():
        for column in ("bar_time", "entry_time", "exit_time"):
            if column in frame.columns:
                frame[column] = _naive_utc(frame[column]) if len(frame) else pd.Series(dtype="datetime64[ns]")
    return out


@dataclass(frozen=True)
class PaperRunSummary:
    """What one paper-trading run processed and wrote."""

    bars: int
    books: int
    rows: dict[str, int]
    result: RunResult


class PaperTrader:
    """Feeds the engine's bars into its paper books and the ledger, resuming each book where it stopped.

    The engine's books fill each decision at the next bar's open and mark every close (book.py);
    this records them. `run(frames)` resumes every book from its last saved state and trades the bars
    after it; `run(frames, start=...)` restarts from the state saved before `start` (or afresh) and
    rewrites those bars, which is how a rerun stays idempotent.
    """

    def __init__(self, engine: StrategyRuntimeEngine, ledger: PaperLedger, version: str | None = None) -> None:
        """`version`: the deployment being traded; the breakers reset when it changes."""
        self.engine, self.ledger, self.version = engine, ledger, version

    def run(self, frames: Mapping[str, pd.DataFrame], start: Any = None, end: Any = None) -> PaperRunSummary:
        engine = self.engine
        reset_events = engine.restore_guard(self.ledger.guard_state(before=start), self.version, start)
        saved = self.ledger.latest_states(before=start)
        for strategy, coin in list(engine.books):
            state = saved.get((strategy, coin))
            engine.restore_book(strategy, coin, None if state is None else state[1])
        before = {key: book.state.equity for key, book in engine.books.items()}
        states: list[str] = []

        guard_states: list[tuple[pd.Timestamp, str]] = []

        def snapshot(step) -> None:  # the state after each bar's decision: what a resume needs
            states.extend(json.dumps(engine.books[(m.strategy, m.coin)].state.to_dict()) for m in step.marks)
            if step.guard_state is not None and step.marks:
                guard_states.append((step.marks[0].time, step.guard_state))

        result = engine.run(frames, start=start, end=end, finish=True, on_step=snapshot)
        batch = LedgerBatch(initial_equity=before, states=states)
        batch.decisions, batch.fills, batch.trades, batch.marks = result.decisions, result.fills, result.trades, result.marks
        result.risk_events[:0] = reset_events
        batch.risk_events = result.risk_events
        batch.guard_states = guard_states
        for mark in result.marks:
            key = (mark.strategy, mark.coin)
            lo, _ = batch.ranges.get(key, (mark.time, mark.time))
            batch.ranges[key] = (lo, mark.time)
            batch.initial_cash[key] = engine.books[key].state.initial_cash
        rows = self.ledger.write(batch)
        return PaperRunSummary(result.bars, len(batch.ranges), rows, result)
