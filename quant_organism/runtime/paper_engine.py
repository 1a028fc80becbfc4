"""`StrategyRuntimeEngine`: the deployed strategies, run one new bar at a time, emitting trade decisions.

For each strategy and each coin it trades the engine keeps a paper book (book.py) and, at every bar:
1. the book processes the bar's open and range: funding, the fill of the order decided at the
   previous close, stop-loss / take-profit (the backtest's execution convention, book.py);
2. the book is marked at the close;
3. the seed's target at this close is read from the bars up to this one (signals.py), the book's
   stay-flat-after-a-stop rule applied, then the policies (policy.py): a change of position becomes a
   `TradeDecision` and the book's order for the next open; a held-back entry becomes a `SkippedSignal`.
With `RuntimePolicy.backtest_parity()` this reproduces the vectorised backtest bar for bar; the replay
stage (validation/replay.py) checks exactly that.

Steps 1-2 and the stop rule of step 3 are compiled (book_kernel.py) and run over all books at once, bar
after bar, until a close at which some book must decide (its target is not its position, or the operator's
policy has a say); the policies decide there in Python, and the loop goes on. A live step, a replay and a
paper run all go through that one loop; most bars never leave compiled code.

Portfolio risk controls (risk.py, `risk=RiskLimits()`): after every book has marked a bar, the portfolio's
equity feeds the circuit breakers; a trip flattens every position and suspends entries; entries are
scaled to the per-asset exposure cap and, for decaying strategies, by the decay factor. Each such
decision is a `RiskEvent` in the step's result. Without `risk` (the default) they are all off.

Which strategies: a StrategyStore gives its active deployed and decaying configs; a list of
StrategyConfig is taken as given (validation candidates included). Which coins: a strategy trades the
coins of its `data_window`, intersected with `coins` when given (or `coins` alone when the window
names none). Capital: each strategy's allocation (1.0 when it has none, e.g. a candidate; a zero
allocation is not run) of `capital`, split equally across its coins into one book per coin.

A bar a book has already processed is ignored when fed again, so replaying a step is harmless.
"""

from __future__ import annotations

import logging
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from quant_organism.backtest.costs import CostModel
from quant_organism.backtest.simulate import INIT_CASH
from quant_organism.catalog import LIVE_STATUSES, DeploymentStatus, StrategyConfig, StrategyStore
from quant_organism.strategies import SeedRegistry, get_registry
from quant_organism.strategies.ohlcv import Bars

from .book import BookState, Fill, Mark, PaperBook, Trade
from .compiled import book_kernel as kernel
from .decisions import Side, SkippedSignal, TradeDecision
from .policy import RiskMode, RuntimePolicy, volatility_confidence
from .risk import ASSET_CAP, DECAY_SIZE, POLICY, VAR_SCALE, WEEKLY_STOP, GuardState, PortfolioGuard, RiskEvent, RiskLimits
from .signals import SignalMode, SignalSource
from .weekly_stop import SleeveStops, WeeklyStop

log = logging.getLogger(__name__)

TRADED_STATUSES = LIVE_STATUSES
BAR_COLUMNS = ("open", "high", "low", "close", "volume")


@dataclass
class RuntimeStrategy:
    """A strategy as the engine runs it: its config, coins, capital share and one signal source per coin."""

    config: StrategyConfig
    coins: tuple[str, ...]
    allocation: float
    signals: dict[str, SignalSource]

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def sleeve(self) -> float:
        """Share of the engine's capital each of its books holds."""
        return self.allocation / len(self.coins)


@dataclass
class Tape:
    """One coin's bars as arrays (prices, funding with NaN as 0), built once per frame object."""

    frame: pd.DataFrame
    index: pd.DatetimeIndex
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    funding: np.ndarray
    nanos: np.ndarray  # bar open times as int64 nanoseconds: `locate` searches them without boxing
    _boxed: dict[int, pd.Timestamp] = field(default_factory=dict, repr=False)

    @classmethod
    def of(cls, coin: str, frame: pd.DataFrame) -> Tape:
        if not isinstance(frame, pd.DataFrame) or not isinstance(frame.index, pd.DatetimeIndex):
            raise TypeError(f"{coin}: bars must be a DataFrame indexed by bar open time")
        missing = [c for c in ("open", "high", "low", "close") if c not in frame.columns]
        if missing:
            raise ValueError(f"{coin}: bars lack column(s) {missing}")
        if len(frame) > 1 and not (frame.index.is_monotonic_increasing and frame.index.is_unique):
            raise ValueError(f"{coin}: bar times must be strictly increasing")
        arrays = {c: frame[c].to_numpy(dtype=np.float64) for c in ("open", "high", "low", "close")}
        funding = (
            np.nan_to_num(frame["funding_rate"].to_numpy(dtype=np.float64), nan=0.0)
            if "funding_rate" in frame.columns
            else np.zeros(len(frame))
        )
        nanos = np.asarray(frame.index.as_unit("ns").asi8)
        return cls(frame, frame.index, funding=funding, nanos=nanos, **arrays)

    @cached_property
    def interval(self) -> pd.Timedelta | None:
        """The bar length: the shortest gap between bar times (None with fewer than two bars)."""
        if len(self.nanos) < 2:
            return None
        gaps = np.diff(self.nanos)
        return pd.Timedelta(int(gaps[gaps > 0].min())) if (gaps > 0).any() else None

    def time(self, i: int) -> pd.Timestamp:
        """Bar i's open time, boxed once (indexing a tz-aware index per bar is slow; a replay only needs
        the bars it steps through, not the whole warm-up history)."""
        boxed = self._boxed.get(i)
        if boxed is None:
            boxed = self._boxed[i] = self.index[i]
        return boxed

    def time_of(self, nanos: int, state: BookState) -> pd.Timestamp:
        """The bar time `nanos` (a book's entry time): this tape's boxed bar when it has one, else boxed afresh."""
        i = int(np.searchsorted(self.nanos, nanos))
        return self.time(i) if i < len(self.nanos) and self.nanos[i] == nanos else state.box(nanos)

    def remember_time(self, i: int, t: pd.Timestamp) -> None:
        """Bar i's open time is `t` (already boxed by the caller): `time(i)` returns it without boxing again."""
        self._boxed.setdefault(i, t)

    def locate(self, t: Any) -> int | None:
        """Position of bar `t` (an int position, or a bar time); None when this coin has no such bar."""
        if isinstance(t, (int, np.integer)):
            return int(t) if 0 <= t < len(self.index) else None
        ts = pd.Timestamp(t)
        if (ts.tzinfo is None) != (self.index.tz is None):
            raise ValueError(f"bar time {ts} and the frame's index ({self.index.tz}) must both be tz-aware or naive")
        i = int(np.searchsorted(self.nanos, ts.value))
        if i < len(self.nanos) and self.nanos[i] == ts.value:
            self.remember_time(i, ts)  # the caller's bar time is this bar's: no need to box it again
            return i
        return None


@dataclass
class StepResult:
    """What one bar produced across all books."""

    decisions: list[TradeDecision] = field(default_factory=list)
    skipped: list[SkippedSignal] = field(default_factory=list)
    fills: list[Fill] = field(default_factory=list)
    trades: list[Trade] = field(default_factory=list)  # closed during the bar
    marks: list[Mark] = field(default_factory=list)
    risk_events: list[RiskEvent] = field(default_factory=list)
    guard_state: str | None = None  # the portfolio guard's state after the bar (JSON), when risk controls are on

    def extend(self, other: StepResult) -> None:
        self.risk_events += other.risk_events
        self.guard_state = other.guard_state or self.guard_state
        self.decisions += other.decisions
        self.skipped += other.skipped
        self.fills += other.fills
        self.trades += other.trades
        self.marks += other.marks


@dataclass
class RunResult(StepResult):
    """Many bars: everything the steps produced, plus the positions still open at the end.

    A run without `on_step` keeps its marks as the compiled loop's tables (one mark per book and bar is most of
    what a run produces); `marks` turns them into records when first read, `marks_frame` reads the tables."""

    open_trades: list[Trade] = field(default_factory=list)
    bars: int = 0

    @property  # type: ignore[no-redef]
    def marks(self) -> list[Mark]:
        tables = self.__dict__.setdefault("_mark_tables", [])
        records = self.__dict__.setdefault("_marks", [])
        if tables:
            records.extend(_MarkTable.joined(tables).records())
            tables.clear()
        return records

    @marks.setter
    def marks(self, records: list[Mark]) -> None:  # reading `marks` first turned any tables into records
        self.__dict__["_mark_tables"] = []
        self.__dict__["_marks"] = records

    def add_mark_table(self, table: _MarkTable) -> None:
        if len(table):
            self.__dict__.setdefault("_mark_tables", []).append(table)

    def trades_frame(self, include_open: bool = True) -> pd.DataFrame:
        rows = self.trades + (self.open_trades if include_open else [])
        fields = list(Trade.__dataclass_fields__)
        row = operator.attrgetter(*fields)  # one tuple per trade, as marks_frame
        order = operator.attrgetter("strategy", "coin", "entry_time")
        return pd.DataFrame.from_records([row(t) for t in sorted(rows, key=order)], columns=fields)

    def marks_frame(self) -> pd.DataFrame:
        fields = list(Mark.__dataclass_fields__)
        tables = self.__dict__.get("_mark_tables", [])
        if tables and not self.__dict__.get("_marks"):
            return _MarkTable.joined(tables).frame()
        if not self.marks:
            return pd.DataFrame(columns=fields)
        row = operator.attrgetter(*fields)  # one tuple per mark: far cheaper than a dict per row
        return pd.DataFrame.from_records([row(m) for m in self.marks], columns=fields)

    def equity(self, marks: pd.DataFrame | None = None) -> pd.DataFrame:
        """Equity at each close, one column per (strategy, coin) book (from `marks_frame()`, or its result)."""
        marks = self.marks_frame() if marks is None else marks
        return marks.pivot(index="time", columns=["strategy", "coin"], values="equity")


@dataclass
class _MarkTable:
    """Marks as the compiled loop wrote them (book_kernel.py's mark rows), with each row's book and bar time."""

    strategy: np.ndarray  # names, one per row
    coin: np.ndarray
    nanos: np.ndarray
    tz: Any
    ints: np.ndarray
    floats: np.ndarray

    def __len__(self) -> int:
        return len(self.nanos)

    @classmethod
    def joined(cls, tables: list[_MarkTable]) -> _MarkTable:
        if len(tables) == 1:
            return tables[0]
        columns = [np.concatenate([getattr(t, name) for t in tables]) for name in ("strategy", "coin", "nanos", "ints", "floats")]
        strategy, coin, nanos, ints, floats = columns
        return cls(strategy, coin, nanos, tables[0].tz, ints, floats)

    def times(self) -> pd.DatetimeIndex:
        return pd.DatetimeIndex(self.nanos.view("M8[ns]")).tz_localize("UTC").tz_convert(self.tz) if self.tz else (
            pd.DatetimeIndex(self.nanos.view("M8[ns]"))
        )  # fmt: skip

    def frame(self) -> pd.DataFrame:
        held = self.ints[:, 2] != 0
        columns = {"strategy": self.strategy, "coin": self.coin, "time": self.times(), "direction": self.ints[:, 2]}
        for k, name in enumerate(("units", "entry_price", "stop_loss", "take_profit", "cash", "close", "equity", "pnl")):
            values = self.floats[:, k]
            columns[name] = np.where(held, values, np.nan) if name in ("entry_price", "stop_loss", "take_profit") else values
        columns["fees"], columns["funding"] = self.floats[:, 8], self.floats[:, 9]
        return pd.DataFrame(columns)

    def records(self) -> list[Mark]:
        out = []
        for strategy, coin, time, direction, values in zip(
            self.strategy.tolist(), self.coin.tolist(), self.times(), self.ints[:, 2].tolist(), self.floats.tolist()
        ):
            out.append(Mark(strategy, coin, time, direction, *_mark_values(direction, values)))
        return out


def _mark_values(direction: int, values: list[float]) -> list:
    """A mark row's float fields as a Mark holds them: the position's levels None when flat or unset."""
    units, entry, stop, take, *rest = values
    if direction:
        stop = None if stop != stop else stop
        take = None if take != take else take
    else:
        entry = stop = take = None
    return [units, entry, stop, take, *rest]


class _Events:
    """The compiled loop's event tables (book_kernel.py's row layouts) and their records: fills, trades, marks."""

    def __init__(self, books: int, times: int) -> None:
        marks = books * max(1, min(times, 1024))
        fills, trades = 3 * books + marks // 8, 2 * books + marks // 8
        self.tables = (
            np.empty((fills, kernel.FILL_INTS), np.int64),
            np.empty((fills, kernel.FILL_FLOATS)),
            np.empty((trades, kernel.TRADE_INTS), np.int64),
            np.empty((trades, kernel.TRADE_FLOATS)),
            np.empty((marks, kernel.MARK_INTS), np.int64),
            np.empty((marks, kernel.MARK_FLOATS)),
        )
        self.counts = np.zeros(3, np.int64)  # marks, fills, trades

    def marked_books(self) -> list[int]:
        """The books marked in the last call (one bar time when it stops at every bar), in book order."""
        return self.tables[4][: self.counts[0], 0].tolist()

    def records(self, books, tapes: list[Tape | None], out: StepResult) -> None:
        """Append the last call's fills, trades and marks to `out` as records, in the order they happened."""
        fi, ff, ti, tf, mi, mf = self.tables
        marks, fills, trades = self.counts.tolist()
        for (b, pos, seq, sell, exit_, reason, maker), (units, price, fee) in zip(fi[:fills].tolist(), ff[:fills].tolist()):
            strategy, coin, _ = books[b]
            side, kind, liquidity = "sell" if sell else "buy", "exit" if exit_ else "entry", "maker" if maker else "taker"
            out.fills.append(
                Fill(
                    strategy.name, coin, tapes[b].time(pos), seq, side, kind, kernel.REASONS[reason], units, price, fee, liquidity
                )
            )
        for (b, entered, pos, direction, reason), values in zip(ti[:trades].tolist(), tf[:trades].tolist()):
            strategy, coin, book = books[b]
            tape = tapes[b]
            entry_time = None if entered == kernel.NAT else tape.time_of(entered, book.state)
            out.trades.append(Trade(strategy.name, coin, entry_time, tape.time(pos), direction, *values, kernel.REASONS[reason]))
        if isinstance(out, RunResult):  # a whole run: the marks stay a table until someone reads them as records
            rows = mi[:marks, 0]
            strategy = np.array([s.name for s, _, _ in books], dtype=object)[rows]
            coin = np.array([c for _, c, _ in books], dtype=object)[rows]
            tz = next((t.index.tz for t in tapes if t is not None), None)
            out.add_mark_table(_MarkTable(strategy, coin, mi[:marks, 3].copy(), tz, mi[:marks].copy(), mf[:marks].copy()))
            return
        new = out.marks.append
        for (b, pos, direction, _), values in zip(mi[:marks].tolist(), mf[:marks].tolist()):
            strategy, coin, _ = books[b]
            new(Mark(strategy.name, coin, tapes[b].time(pos), direction, *_mark_values(direction, values)))


class StrategyRuntimeEngine:
    """Runs strategies bar by bar; see the module docstring. `book_class` holds a book's state and order queue
    (book.py); the bars go through the compiled loop (book_kernel.py)."""

    book_class: type[PaperBook] = PaperBook

    def __init__(
        self,
        strategies: StrategyStore | Iterable[StrategyConfig],
        *,
        policy: RuntimePolicy | None = None,
        costs: CostModel = CostModel(),
        capital: float = INIT_CASH,
        coins: Sequence[str] | None = None,
        signal_mode: SignalMode = "incremental",
        verify_bars: int = 8,
        registry: SeedRegistry | None = None,
        risk: RiskLimits | None = None,
        weekly_stops: Mapping[str, WeeklyStop] | None = None,
    ) -> None:
        """`weekly_stops`: strategy name -> its probation sleeve's weekly stop (runtime/weekly_stop.py), enforced at
        each UTC day's last close; the guard then watches every close and carries the stops' state."""
        if not np.isfinite(capital) or capital <= 0:
            raise ValueError(f"capital must be a positive number, got {capital!r}")
        if signal_mode not in ("incremental", "precomputed"):
            raise ValueError(f"signal_mode must be 'incremental' or 'precomputed', got {signal_mode!r}")
        self.policy = policy if policy is not None else RuntimePolicy()
        self.risk = risk if risk is not None else RiskLimits.off()
        self.exposure_scale = 1.0  # set by a live session when the book's value at risk is over its limit
        self._interval = pd.Timedelta(days=1)  # the bar length of the run in progress (`_trade` sets it)
        self.costs = costs
        self.capital = float(capital)
        self.signal_mode: SignalMode = signal_mode
        registry = registry or get_registry()
        self.strategies: dict[str, RuntimeStrategy] = {}
        self.books: dict[tuple[str, str], PaperBook] = {}
        self._tapes: dict[str, Tape] = {}
        self._bars: dict[str, tuple[pd.DataFrame, Bars]] = {}  # each coin's checked bars, shared by its sources
        self._history: dict[str, pd.DataFrame] = {}
        runnable = []
        for config in self._configs(strategies):
            traded = self._coins_of(config, coins)
            if not traded:
                log.warning("strategy %s trades none of the coins %s; it is not run", config.name, list(coins or ()))
                continue
            allocation = 1.0 if config.allocation is None else float(config.allocation)
            if allocation <= 0.0:
                log.info("strategy %s holds no capital (on probation, or unallocated); it is not run", config.name)
                continue
            signals = {
                coin: SignalSource(registry.create_seed(config.seed_type, config.genes), signal_mode, verify_bars)
                for coin in traded
            }
            runnable.append(RuntimeStrategy(config, traded, allocation, signals))
        self.weekly_stops = {n: rule for n, rule in (weekly_stops or {}).items() if n in {s.name for s in runnable}}
        watched = self.risk.max_drawdown or self.risk.daily_loss or self.weekly_stops
        self.guard = PortfolioGuard(self.risk) if watched else None
        self.sleeves = SleeveStops(self.weekly_stops)
        # every book's state is a row of these tables (book_kernel.py), which the compiled bar loop works on
        count = sum(len(s.coins) for s in runnable)
        self._floats, self._ints = np.zeros((count, kernel.N_FLOAT)), np.zeros((count, kernel.N_INT), np.int64)
        self._rows: dict[tuple[str, str], int] = {}
        for strategy in runnable:
            self.strategies[strategy.name] = strategy
            for coin in strategy.coins:
                self._rows[(strategy.name, coin)] = len(self._rows)
                self.books[(strategy.name, coin)] = self._new_book(strategy, coin)

    # --- construction --------------------------------------------------------------------------
    @staticmethod
    def _configs(strategies) -> list[StrategyConfig]:
        if isinstance(strategies, StrategyStore):
            return strategies.load_strategies(status=TRADED_STATUSES)
        configs = list(strategies)
        for config in configs:
            if not isinstance(config, StrategyConfig):
                raise TypeError(f"strategies must be StrategyConfig objects or a StrategyStore, got {type(config).__name__}")
        names = [c.name for c in configs]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate strategy names: {duplicates}")
        return configs

    @staticmethod
    def _coins_of(config: StrategyConfig, coins: Sequence[str] | None) -> tuple[str, ...]:
        own = tuple(config.data_window.coins) if config.data_window is not None else ()
        if coins is None:
            if not own:
                raise ValueError(
                    f"strategy {config.name!r} names no coins (its data_window has none): pass coins=[...] to the engine"
                )
            return own
        return tuple(c for c in coins if c in own) if own else tuple(coins)

    def _new_book(self, strategy: RuntimeStrategy, coin: str, state: BookState | None = None) -> PaperBook:
        genes = strategy.config.genes
        row = self._rows[(strategy.name, coin)]
        return self.book_class(
            strategy.name,
            coin,
            self.capital * strategy.sleeve,
            genes.stop_loss,
            genes.take_profit,
            self.costs,
            state,
            rows=(self._floats[row], self._ints[row]),
        )

    # --- state -----------------------------------------------------------------------------------
    def export_state(self) -> dict[tuple[str, str], dict[str, Any]]:
        """Every book's state, JSON-able, keyed by (strategy, coin)."""
        return {key: book.state.to_dict() for key, book in self.books.items()}

    def restore_book(self, strategy: str, coin: str, state: Mapping[str, Any] | BookState | None) -> None:
        """Resume a book from a saved state (None: start it afresh).

        A resumed book keeps the capital it started with; a new allocation applies to a fresh book.
        """
        if (strategy, coin) not in self.books:
            raise KeyError(f"the engine has no book {strategy}/{coin}; books: {sorted(self.books)}")
        if state is not None and not isinstance(state, BookState):
            state = BookState.from_dict(dict(state))
        self.books[(strategy, coin)] = self._new_book(self.strategies[strategy], coin, state)

    def coins(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(coin for _, coin in self.books))

    # --- bars ------------------------------------------------------------------------------------
    def tape(self, coin: str, frame: pd.DataFrame) -> Tape:
        cached = self._tapes.get(coin)
        if cached is None or cached.frame is not frame:
            cached = self._tapes[coin] = Tape.of(coin, frame)
        return cached

    def step(self, frames: Mapping[str, pd.DataFrame], t: Any) -> StepResult:
        """Process bar `t` (a bar time, or an int position in each frame) of every coin that has it.

        Each frame must hold the coin's bars up to at least `t`; bars after `t` are never read for
        signals at `t` (see signals.py for how `precomputed` mode proves that).
        """
        positions = {}
        for coin in self.coins():
            if coin in frames:
                i = self.tape(coin, frames[coin]).locate(t)
                if i is not None:
                    positions[coin] = np.array([i], np.int64)
        result = StepResult()
        self._trade(frames, positions, 1, result)
        return result

    def _trade(
        self,
        frames: Mapping[str, pd.DataFrame],
        positions: Mapping[str, np.ndarray],
        n_times: int,
        out: StepResult,
        on_step: Callable[[StepResult], None] | None = None,
    ) -> None:
        """Bar times 0 .. n_times-1 (positions[coin][k]: the coin's bar at time k, -1 when it has none) for every
        book whose coin has bars: the compiled loop (book_kernel.advance) processes bars until some book must
        decide, the policies decide in Python at that close, and the loop goes on. With `on_step` (or the
        breakers, which watch every close) it stops at every bar time and each one's result is its own."""
        if not positions or not self.books:
            return
        coins = list(positions)
        books = [(self.strategies[name], coin, self.books[(name, coin)]) for name, coin in self._rows]
        tapes = [self.tape(coin, frames[coin]) for coin in coins]
        book_coin = np.array([coins.index(c) if c in positions else len(coins) for _, c, _ in books], np.int64)
        at = np.full((len(coins) + 1, n_times), -1, np.int64)  # the last row: coins without bars here
        for c, coin in enumerate(coins):
            at[c] = positions[coin]
        coin_start = np.concatenate([[0], np.cumsum([len(t.nanos) for t in tapes])]).astype(np.int64)
        series = [
            getattr(tapes[0], name) if len(tapes) == 1 else np.concatenate([getattr(t, name) for t in tapes])
            for name in ("open", "high", "low", "close", "funding", "nanos")
        ]
        # the breakers see every close before any decision there, so targets (and the stop rule) are then read
        # in Python after them, as in every bar of a live step
        targets, target_start = self._targets(frames, books, positions, read_in_python=self.guard is not None)
        policy = self.policy
        halt = policy.risk_mode is RiskMode.HALT
        has_say = np.array([halt or not policy.allows(s.name, c) for s, c, _ in books], np.bool_)
        costs = np.array(
            [self.costs.taker_fee, self.costs.maker_fee, self.costs.slippage, float(self.costs.take_profit_order == "limit")]
        )
        every_bar = self.guard is not None or on_step is not None
        for (_, _, book), c in zip(books, book_coin.tolist()):
            if c < len(coins):
                book.state.tz = tapes[c].index.tz
        self.sleeves.begin(self._sleeve_equities())
        self._interval = min((t.interval for t in tapes if t.interval is not None), default=pd.Timedelta(days=1))
        events = _Events(len(books), n_times)
        book_tapes = [tapes[c] if c < len(tapes) else None for c in book_coin.tolist()]
        need = np.zeros(len(books), np.int8)
        wanted = np.zeros(len(books), np.int64)
        k = 0
        while k < n_times:
            events.counts[:] = 0
            done = kernel.advance(
                self._floats, self._ints, book_coin, coin_start, *series, at, targets, target_start, has_say, costs,
                k, every_bar, *events.tables, events.counts, need, wanted,
            )  # fmt: skip
            result = StepResult() if on_step is not None else out
            events.records(books, book_tapes, result)
            if done > k and (every_bar or need.any()):
                self._close(books, book_coin, tapes, at[:, done - 1], events, need, wanted, result)
            if on_step is not None:
                on_step(result)
                out.extend(result)
            k = done

    def _targets(self, frames, books, positions, read_in_python: bool) -> tuple[np.ndarray, np.ndarray]:
        """Precomputed (and proven, signals.py) targets of the books that have bars, one table; start -1: read
        in Python (incremental mode)."""
        parts, start, offset = [], np.full(len(books), -1, np.int64), 0
        for b, (strategy, coin, _) in enumerate(books):
            source = strategy.signals[coin]
            if coin in positions and source.mode == "precomputed" and not read_in_python:
                targets = source.targets(frames[coin])
                parts.append(targets)
                start[b], offset = offset, offset + len(targets)
        return (np.concatenate(parts) if parts else np.zeros(1, np.int8)), start

    def _close(self, books, book_coin, tapes, at, events: _Events, need, wanted, out: StepResult) -> None:
        """The policies at the close the compiled loop stopped after: the breakers, then each book that must decide."""
        marked = events.marked_books() if self.guard is not None else []
        stopped: set[str] = set()
        if marked:
            c = book_coin[marked[0]]
            time = tapes[c].time(int(at[c]))
            trip = self.guard.observe(time, self.portfolio_equity())
            stopped = self._weekly_stops(books, book_coin, tapes, at, time, out) if self.weekly_stops else stopped
            out.guard_state = self.guard.state.to_json()
            if trip is not None:  # every position is flattened, and nothing else is decided at this close
                out.risk_events.append(trip)
                for b in marked:
                    strategy, coin, book = books[b]
                    c = book_coin[b]
                    self._flatten(strategy, coin, book, tapes[c], int(at[c]), f"circuit breaker: {trip.detail}", out)
                return
        for b in np.flatnonzero(need).tolist():
            strategy, coin, book = books[b]
            if strategy.name in stopped:  # flattened at this close: nothing else is decided for it
                continue
            c = book_coin[b]
            tape, i = tapes[c], int(at[c])
            if need[b] == kernel.DECIDE:
                target = int(wanted[b])
            else:
                target = book.target(strategy.signals[coin].target_at(tape.frame, i))
            self._decide(strategy, coin, book, tape, i, target, out)

    def _weekly_stops(self, books, book_coin, tapes, at, time: pd.Timestamp, out: StepResult) -> set[str]:
        """The sleeves' weekly stops after the close of bar `time`: the market's bar return (the equal-weight mean of
        the coins' close-to-close returns, validation/held_out.buy_and_hold_returns) joins the day's; at the day's
        last close a sleeve whose week reached its stop is flattened (a `RiskEvent`: parity is judged up to it)."""
        moves = []
        for c, tape in enumerate(tapes):
            i = int(at[c])
            if i > 0:
                moves.append(tape.close.item(i) / tape.close.item(i - 1) - 1.0)
        market = float(np.mean(moves)) if moves else 0.0
        last_of_day = bool((time + self._interval).floor("D") > time.floor("D"))
        stopped = self.sleeves.bar(time.date(), market, self._sleeve_equities() if last_of_day else {}, last_of_day)
        self.guard.state.sleeves = self.sleeves.state()
        names = set()
        for name, week in stopped:
            rule = self.weekly_stops[name]
            why = (f"weekly stop: the week's excess {week.excess:+.2%} over {rule.beta:.2f} x the market reached "
                   f"-{rule.stop:.2%}; flat until its next week begins on {rule.week_start(week.week + 1).isoformat()}")  # fmt: skip
            out.risk_events.append(RiskEvent(time, WEEKLY_STOP, name, "*", why))
            for b, (strategy, coin, book) in enumerate(books):
                c = book_coin[b]
                if strategy.name == name and c < len(tapes) and int(at[c]) >= 0:
                    self._flatten(strategy, coin, book, tapes[c], int(at[c]), why, out)
            names.add(name)
        return names

    def _sleeve_equities(self) -> dict[str, float]:
        """Each weekly-stopped strategy's sleeve: the equity of its books together."""
        return {
            name: sum(self._floats[self._rows[(name, coin)], kernel.EQUITY].item() for coin in self.strategies[name].coins)
            for name in self.weekly_stops
        }

    # --- portfolio ---------------------------------------------------------------------------------
    def portfolio_equity(self) -> float:
        """The books' equity plus the capital no strategy holds."""
        held = sum(s.allocation for s in self.strategies.values())
        return sum(self._floats[:, kernel.EQUITY].tolist()) + self.capital * max(0.0, 1.0 - held)

    def restore_guard(self, state: str | None, version: str | None, time: Any = None) -> list[RiskEvent]:
        """Resume the breakers from a saved state; a different deployment version resets them."""
        if self.guard is None:
            return []
        self.guard.state = GuardState.from_json(state)
        events = self.guard.reset(version, None if time is None else pd.Timestamp(time))
        self.sleeves = SleeveStops(self.weekly_stops, self.guard.state.sleeves)
        return events

    def _flatten(self, strategy: RuntimeStrategy, coin: str, book: PaperBook, tape: Tape, i: int, why: str, out) -> None:
        if book.state.direction != 0 and not book.state.bankrupt:
            close = float(tape.close[i])
            self._order(strategy, coin, book, tape.time(i), close, 0, 0.0, 1.0, Side.FLAT, why, out)

    def _exposure(self, coin: str, skip: tuple[str, str]) -> float:
        """Other books' exposure to `coin` as a share of capital: the order they will fill at the next
        open when they have one, else their open position at the last close."""
        total = 0.0
        for key, book in self.books.items():
            s = book.state
            if key[1] != coin or key == skip:
                continue
            if s.pending is not None:
                total += (s.equity * s.pending.fraction / self.capital) if s.pending.direction != 0 else 0.0
            elif s.direction != 0 and s.last_close:
                total += abs(s.units) * s.last_close / self.capital
        return total

    def on_bar(self, coin: str, bar: Mapping[str, float] | pd.Series, time: Any = None) -> StepResult:
        """Append one new bar of `coin` to the engine's history and process it (live use).

        `time` defaults to the Series' name. Seed the history first with `load_history`.
        """
        when = pd.Timestamp(time if time is not None else getattr(bar, "name", None))
        if pd.isna(when):
            raise ValueError(f"{coin}: on_bar needs the bar's open time (time=... or a Series named by it)")
        when = when.tz_localize("UTC") if when.tzinfo is None else when
        row = {k: float(bar[k]) for k in BAR_COLUMNS if k in bar}
        if "funding_rate" in bar:
            row["funding_rate"] = float(bar["funding_rate"])
        history = self._history.get(coin)
        new = pd.DataFrame([row], index=pd.DatetimeIndex([when]))
        if history is not None and len(history):
            if when <= history.index[-1]:
                raise ValueError(f"{coin}: bar {when} is not after the last bar {history.index[-1]}")
            new = pd.concat([history, new])
        self._history[coin] = new
        return self.step({coin: new}, when)

    def load_history(self, coin: str, frame: pd.DataFrame) -> None:
        """Bars before the live ones (signals need their warm-up); they are not traded."""
        self._history[coin] = frame

    def run(
        self,
        frames: Mapping[str, pd.DataFrame],
        start: Any = None,
        end: Any = None,
        finish: bool = True,
        on_step: Callable[[StepResult], None] | None = None,
    ) -> RunResult:
        """Step through every bar time of `frames` in [start, end); bars before `start` only feed signals.

        `on_step` sees each bar's result as it is produced (e.g. to snapshot book states). With
        `finish`, positions still open are reported as trades marked at their last close.
        """
        times = self.bar_times(frames, start, end)
        self.prepare(frames, times)
        result = RunResult()
        departures = self.policy.departures_from_backtest()
        if departures and len(times) and self.strategies:  # parity is judged up to here (runtime/forward.first_interventions)
            result.risk_events.append(
                RiskEvent(times[0], POLICY, "*", "*", "operator policy departs from the backtest: " + ", ".join(departures))
            )
        positions = self._positions(frames, times)
        self._trade(frames, positions, len(times), result, on_step)
        result.bars = len(times)
        if finish:
            result.open_trades = [t for book in self.books.values() if (t := book.open_trade()) is not None]
        return result

    def _positions(self, frames: Mapping[str, pd.DataFrame], times: pd.DatetimeIndex) -> dict[str, np.ndarray]:
        """Each traded coin's position of every bar time (-1: no such bar), one search per coin."""
        found = {}
        for coin in self.coins():
            if coin not in frames:
                continue
            tape = self.tape(coin, frames[coin])
            if (times.tz is None) != (tape.index.tz is None):
                raise ValueError(f"bar times ({times.tz}) and {coin}'s index ({tape.index.tz}) must both be tz-aware or naive")
            wanted = times.as_unit("ns").asi8
            at = np.searchsorted(tape.nanos, wanted)
            hit = at < len(tape.nanos)
            hit[hit] = tape.nanos[at[hit]] == wanted[hit]
            at[~hit] = -1
            found[coin] = at.astype(np.int64)
        return found

    def prepare(self, frames: Mapping[str, pd.DataFrame], times: pd.DatetimeIndex) -> None:
        """In precomputed mode, compute (and prove, see signals.py) each source's targets on its frame."""
        for name in self.strategies:
            self.prepare_strategy(name, frames, times)

    def prepare_strategy(self, name: str, frames: Mapping[str, pd.DataFrame], times: pd.DatetimeIndex) -> None:
        """`prepare` for one strategy (a LookaheadError names it). A coin's frame is checked once for all the
        strategies trading it: they share its checked bars and indicator rows."""
        if self.signal_mode != "precomputed" or not len(times):
            return
        for coin in self.strategies[name].coins:
            source = self.strategies[name].signals[coin]
            if coin in frames and not source.is_prepared(frames[coin]):
                frame = frames[coin]
                first = int(frame.index.searchsorted(times[0]))
                shared = self._bars.get(coin)
                bars = shared[1] if shared is not None and shared[0] is frame else None
                source.prepare(frame, start=min(first, len(frame) - 1), bars=bars)
                if bars is None:
                    self._bars[coin] = (frame, source.bars)
                self.tape(coin, frame)

    def bar_times(self, frames: Mapping[str, pd.DataFrame], start: Any = None, end: Any = None) -> pd.DatetimeIndex:
        """The union of the traded coins' bar times in [start, end)."""
        traded = [frames[c].index for c in self.coins() if c in frames]
        if not traded:
            return pd.DatetimeIndex([], tz="UTC")
        times = traded[0]
        for index in traded[1:]:
            times = times.union(index)
        if start is not None:
            times = times[times >= _like(start, times)]
        if end is not None:
            times = times[times < _like(end, times)]
        return times

    # --- one book, one close ---------------------------------------------------------------------------
    def _decide(self, strategy: RuntimeStrategy, coin: str, book: PaperBook, tape: Tape, i: int, target: int, out) -> None:
        """The policies on the book's `target` at bar i's close (after the stop rule): an order, a held-back entry,
        or nothing."""
        s = book.state
        policy = self.policy
        time, close = tape.time(i), tape.close.item(i)
        current = s.direction
        if policy.risk_mode is RiskMode.HALT:
            if current != 0:
                self._order(strategy, coin, book, time, close, 0, 0.0, 1.0, Side.FLAT, "risk mode halt: flatten", out)
            elif target != 0:
                out.skipped.append(SkippedSignal(strategy.name, coin, time, target, 1.0, "halt", "risk mode halt: no entries"))
            return
        if not policy.allows(strategy.name, coin):
            why = f"{strategy.name} in {coin} not allowed by the operator's allow and deny lists"
            if current != 0:
                self._order(strategy, coin, book, time, close, 0, 0.0, 1.0, Side.FLAT, why, out)
            elif target != 0:
                out.skipped.append(SkippedSignal(strategy.name, coin, time, target, 1.0, "not_allowed", why))
            return
        if target == current:
            return
        confidence = volatility_confidence(tape.close, i, policy.confidence_window, policy.confidence_baseline)
        held = self._gate(s, time, confidence, strategy.name) if target != 0 else None
        if held is not None:
            rule, why = held
            out.skipped.append(SkippedSignal(strategy.name, coin, time, target, confidence, rule, why))
            if current == 0:
                return
            side, reason = Side.CLOSE, f"exit {_word(current)}; {_word(target)} entry held back: {why}"
            target = 0
        elif target == 0:
            side, reason = Side.CLOSE, f"signal flat: exit {_word(current)}"
        else:
            side = Side.BUY if target > 0 else Side.SELL
            reason = f"signal {_word(target)}" + (f", reversing {_word(current)}" if current else "")
        fraction = strategy.config.genes.position_size * policy.size_factor(confidence) if target else 0.0
        if target != 0:
            fraction = self._risk_sized(strategy, coin, book, time, target, fraction, confidence, out)
            if fraction <= 0.0:
                if current == 0:
                    return
                side, reason, target = Side.CLOSE, f"exit {_word(current)}; entry blocked by the asset cap", 0
        self._order(strategy, coin, book, time, close, target, fraction, confidence, side, reason, out)

    def _risk_sized(self, strategy, coin, book, time, target, fraction, confidence, out) -> float:
        """An entry's fraction after decay sizing, the value-at-risk scale and the per-asset cap (0: no room left)."""
        risk = self.risk
        if self.exposure_scale < 1.0:
            fraction *= self.exposure_scale
            out.risk_events.append(
                RiskEvent(
                    time, VAR_SCALE, strategy.name, coin, f"value at risk over its limit: entry sized x{self.exposure_scale:.3f}"
                )
            )
        if strategy.config.deployment_status is DeploymentStatus.DECAYING and risk.decay_size_factor < 1.0:
            fraction *= risk.decay_size_factor
            out.risk_events.append(
                RiskEvent(time, DECAY_SIZE, strategy.name, coin, f"decaying: entry sized x{risk.decay_size_factor:g}")
            )
        if risk.max_asset_exposure is None or book.state.equity <= 0:
            return fraction
        room = max(0.0, risk.max_asset_exposure - self._exposure(coin, (strategy.name, coin)))
        wanted = book.state.equity * fraction / self.capital
        if wanted <= room + 1e-12:
            return fraction
        scaled, cap = fraction * room / wanted, f"{risk.max_asset_exposure:.0%}"
        if scaled < 1e-6:
            out.skipped.append(
                SkippedSignal(strategy.name, coin, time, target, confidence, "asset_cap", f"{coin} exposure at the {cap} cap")
            )
            why = f"entry skipped: {coin} exposure already at the {cap} cap"
        else:
            why = f"entry scaled {fraction:.4f} -> {scaled:.4f} to keep {coin} within {cap} of capital"
        out.risk_events.append(RiskEvent(time, ASSET_CAP, strategy.name, coin, why))
        return scaled if scaled >= 1e-6 else 0.0

    def _gate(self, s: BookState, time: pd.Timestamp, confidence: float, name: str | None = None) -> tuple[str, str] | None:
        """Why an entry is held back at this close (rule, reason), or None."""
        policy = self.policy
        if policy.risk_mode is RiskMode.OFF:
            return "risk_off", "risk mode is off: no new entries"
        if self.guard is not None and self.guard.suspended:
            return "breaker", f"trading suspended by the circuit breaker ({self.guard.state.tripped})"
        if name is not None and self.sleeves.holds_flat(name, (time + self._interval).date()):  # the fill's bar
            return "weekly_stop", "its probation sleeve's week reached its weekly stop: flat until the week ends"
        floor = policy.effective_min_confidence()
        if confidence < floor:
            return "min_confidence", f"confidence {confidence:.3f} below {floor:.3f} ({policy.risk_mode.value} mode)"
        if s.last_decision_bar is not None and s.bars - s.last_decision_bar < policy.cooldown_bars:
            since = s.bars - s.last_decision_bar
            return "cooldown", f"{since} bar(s) since the last decision, cooldown {policy.cooldown_bars}"
        if policy.cooldown is not None and s.last_decision_time is not None and time - s.last_decision_time < policy.cooldown:
            return "cooldown", f"{time - s.last_decision_time} since the last decision, cooldown {policy.cooldown}"
        return None

    def _order(self, strategy, coin, book, time, close, target, fraction, confidence, side, reason, out) -> None:
        previous = book.state.direction
        genes = strategy.config.genes
        take_profit = stop_loss = None
        if target != 0:
            if genes.take_profit > 0:
                take_profit = close * (1.0 + target * genes.take_profit)
            if genes.stop_loss > 0:
                stop_loss = close * (1.0 - target * genes.stop_loss)
        book.submit(target, fraction, time)
        out.decisions.append(
            TradeDecision(
                strategy_id=strategy.name,
                coin=coin,
                side=side,
                confidence=float(confidence),
                size=strategy.sleeve * fraction,
                notional=book.state.equity * fraction,
                entry_price=close,
                take_profit=take_profit,
                stop_loss=stop_loss,
                timestamp=time,
                target=target,
                previous=previous,
                reason=reason,
            )  # fmt: skip
        )


def _like(value: Any, index: pd.DatetimeIndex) -> pd.Timestamp:
    """`value` as a Timestamp comparable with `index` (a naive time is read as UTC for a UTC index)."""
    ts = pd.Timestamp(value)
    if index.tz is not None and ts.tzinfo is None:
        return ts.tz_localize(index.tz)
    if index.tz is None and ts.tzinfo is not None:
        raise ValueError(f"time {ts} is tz-aware but the bars' index is naive")
    return ts


def _word(direction: int) -> str:
    return {1: "long", -1: "short", 0: "flat"}[direction]
