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
from typing import Any

import numpy as np
import pandas as pd

from quant_organism.backtest.costs import CostModel
from quant_organism.backtest.engine import INIT_CASH
from quant_organism.catalog import LIVE_STATUSES, DeploymentStatus, StrategyConfig, StrategyStore
from quant_organism.strategies import SeedRegistry, get_registry

from .book import BookState, Fill, Mark, PaperBook, Trade
from .decisions import Side, SkippedSignal, TradeDecision
from .policy import RiskMode, RuntimePolicy, volatility_confidence
from .risk import ASSET_CAP, DECAY_SIZE, POLICY, GuardState, PortfolioGuard, RiskEvent, RiskLimits
from .signals import SignalMode, SignalSource

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
        return cls(frame, frame.index, funding=funding, nanos=np.asarray(frame.index.asi8), **arrays)

    def time(self, i: int) -> pd.Timestamp:
        """Bar i's open time, boxed once (indexing a tz-aware index per bar is slow; a replay only needs
        the bars it steps through, not the whole warm-up history)."""
        boxed = self._boxed.get(i)
        if boxed is None:
            boxed = self._boxed[i] = self.index[i]
        return boxed

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
    """Many bars: everything the steps produced, plus the positions still open at the end."""

    open_trades: list[Trade] = field(default_factory=list)
    bars: int = 0

    def trades_frame(self, include_open: bool = True) -> pd.DataFrame:
        rows = self.trades + (self.open_trades if include_open else [])
        frame = pd.DataFrame([t.__dict__ for t in rows], columns=list(Trade.__dataclass_fields__))
        return frame.sort_values(["strategy", "coin", "entry_time"], kind="stable").reset_index(drop=True)

    def marks_frame(self) -> pd.DataFrame:
        fields = list(Mark.__dataclass_fields__)
        if not self.marks:
            return pd.DataFrame(columns=fields)
        row = operator.attrgetter(*fields)  # one tuple per mark: far cheaper than a dict per row
        return pd.DataFrame.from_records([row(m) for m in self.marks], columns=fields)

    def equity(self, marks: pd.DataFrame | None = None) -> pd.DataFrame:
        """Equity at each close, one column per (strategy, coin) book (from `marks_frame()`, or its result)."""
        marks = self.marks_frame() if marks is None else marks
        return marks.pivot(index="time", columns=["strategy", "coin"], values="equity")


class StrategyRuntimeEngine:
    """Runs strategies bar by bar; see the module docstring. `book_class` is the execution simulator."""

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
    ) -> None:
        if not np.isfinite(capital) or capital <= 0:
            raise ValueError(f"capital must be a positive number, got {capital!r}")
        if signal_mode not in ("incremental", "precomputed"):
            raise ValueError(f"signal_mode must be 'incremental' or 'precomputed', got {signal_mode!r}")
        self.policy = policy if policy is not None else RuntimePolicy()
        self.risk = risk if risk is not None else RiskLimits.off()
        self.guard = PortfolioGuard(self.risk) if (self.risk.max_drawdown or self.risk.daily_loss) else None
        self.costs = costs
        self.capital = float(capital)
        self.signal_mode: SignalMode = signal_mode
        registry = registry or get_registry()
        self.strategies: dict[str, RuntimeStrategy] = {}
        self.books: dict[tuple[str, str], PaperBook] = {}
        self._tapes: dict[str, Tape] = {}
        self._history: dict[str, pd.DataFrame] = {}
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
            strategy = RuntimeStrategy(config, traded, allocation, signals)
            self.strategies[config.name] = strategy
            for coin in traded:
                self.books[(config.name, coin)] = self._new_book(strategy, coin)

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
        return self.book_class(
            strategy.name, coin, self.capital * strategy.sleeve, genes.stop_loss, genes.take_profit, self.costs, state
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
        located = []
        for strategy in self.strategies.values():
            for coin in strategy.coins:
                frame = frames.get(coin)
                if frame is None:
                    continue
                tape = self.tape(coin, frame)
                i = tape.locate(t)
                if i is not None:
                    located.append((strategy, coin, tape, i))
        return self._step(located)

    def _step(self, located: list[tuple[RuntimeStrategy, str, Tape, int]]) -> StepResult:
        """One bar time for the books that have it: (strategy, coin, tape, the bar's position in the tape)."""
        result = StepResult()
        marked = [book for book in located if self._mark(*book, result)]
        if self.guard is not None and marked:
            time = marked[0][2].time(marked[0][3])
            trip = self.guard.observe(time, self.portfolio_equity())
            if trip is not None:
                result.risk_events.append(trip)
                self._flatten_all(marked, trip.detail, result)
                marked = []
            result.guard_state = self.guard.state.to_json()
        for strategy, coin, tape, i in marked:
            book = self.books[(strategy.name, coin)]
            if not book.state.bankrupt:
                self._decide(strategy, coin, book, tape, i, result)
        return result

    # --- portfolio ---------------------------------------------------------------------------------
    def portfolio_equity(self) -> float:
        """The books' equity plus the capital no strategy holds."""
        held = sum(s.allocation for s in self.strategies.values())
        return sum(b.state.equity for b in self.books.values()) + self.capital * max(0.0, 1.0 - held)

    def restore_guard(self, state: str | None, version: str | None, time: Any = None) -> list[RiskEvent]:
        """Resume the breakers from a saved state; a different deployment version resets them."""
        if self.guard is None:
            return []
        self.guard.state = GuardState.from_json(state)
        return self.guard.reset(version, None if time is None else pd.Timestamp(time))

    def _flatten_all(self, marked, why: str, out: StepResult) -> None:
        for strategy, coin, tape, i in marked:
            book = self.books[(strategy.name, coin)]
            if book.state.direction != 0 and not book.state.bankrupt:
                self._order(
                    strategy,
                    coin,
                    book,
                    tape.time(i),
                    float(tape.close[i]),
                    0,
                    0.0,
                    1.0,
                    Side.FLAT,
                    f"circuit breaker: {why}",
                    out,
                )

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
        for located in self._located(frames, times):
            step = self._step(located)
            if on_step is not None:
                on_step(step)
            result.extend(step)
        result.bars = len(times)
        if finish:
            result.open_trades = [t for book in self.books.values() if (t := book.open_trade()) is not None]
        return result

    def _located(self, frames: Mapping[str, pd.DataFrame], times: pd.DatetimeIndex):
        """For each bar time, what `step` would locate: the books whose coin has that bar, and its position
        (one search per coin for all the times, instead of one per book and bar)."""
        books = [(s, coin) for s in self.strategies.values() for coin in s.coins if coin in frames]
        found = {}
        for coin in {coin for _, coin in books}:
            tape = self.tape(coin, frames[coin])
            if (times.tz is None) != (tape.index.tz is None):
                raise ValueError(f"bar times ({times.tz}) and {coin}'s index ({tape.index.tz}) must both be tz-aware or naive")
            at = np.searchsorted(tape.nanos, times.asi8)
            hit = at < len(tape.nanos)
            hit[hit] = tape.nanos[at[hit]] == times.asi8[hit]
            found[coin] = (tape, at.tolist(), hit.tolist())
        for k, t in enumerate(times):
            for tape, at, hit in found.values():
                if hit[k]:
                    tape.remember_time(at[k], t)  # each bar time boxed once, not once per coin
            yield [(s, coin, found[coin][0], found[coin][1][k]) for s, coin in books if found[coin][2][k]]

    def prepare(self, frames: Mapping[str, pd.DataFrame], times: pd.DatetimeIndex) -> None:
        """In precomputed mode, compute (and prove, see signals.py) each source's targets on its frame."""
        if self.signal_mode == "precomputed":
            for strategy in self.strategies.values():
                for coin in strategy.coins:
                    source = strategy.signals[coin]
                    if coin in frames and len(times) and not source.is_prepared(frames[coin]):
                        frame = frames[coin]
                        first = int(frame.index.searchsorted(times[0]))
                        source.prepare(frame, start=min(first, len(frame) - 1))
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

    # --- one book, one bar ---------------------------------------------------------------------------
    def _mark(self, strategy: RuntimeStrategy, coin: str, tape: Tape, i: int, out: StepResult) -> bool:
        """The book processes bar i (fills, stops, mark); False when it had already seen it."""
        book = self.books[(strategy.name, coin)]
        time = tape.time(i)
        last = book.state.last_time
        if last is not None and time <= last:
            return False
        # Python floats (`item`): the book's arithmetic on them is the same IEEE arithmetic, several times cheaper
        # than on numpy scalars
        fills, trades = book.open_bar(time, tape.open.item(i), tape.high.item(i), tape.low.item(i), tape.funding.item(i))
        mark, liquidated = book.close_bar(time, tape.close.item(i))
        out.fills += fills
        out.trades += trades + liquidated
        out.marks.append(mark)
        return True

    def _decide(self, strategy: RuntimeStrategy, coin: str, book: PaperBook, tape: Tape, i: int, out: StepResult) -> None:
        s = book.state
        policy = self.policy
        time, close = tape.time(i), tape.close.item(i)
        current = s.direction
        target = book.target(strategy.signals[coin].target_at(tape.frame, i))
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
        held = self._gate(s, time, confidence) if target != 0 else None
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
        """An entry's fraction after decay sizing and the per-asset cap (0: no room left)."""
        risk = self.risk
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
        scaled = fraction * room / wanted
        if scaled < 1e-6:
            out.skipped.append(
                SkippedSignal(
                    strategy.name,
                    coin,
                    time,
                    target,
                    confidence,
                    "asset_cap",
                    f"{coin} exposure at the {risk.max_asset_exposure:.0%} cap",
                )
            )
            out.risk_events.append(
                RiskEvent(
                    time,
                    ASSET_CAP,
                    strategy.name,
                    coin,
                    f"entry skipped: {coin} exposure already at the {risk.max_asset_exposure:.0%} cap",
                )
            )
            return 0.0
        out.risk_events.append(
            RiskEvent(
                time,
                ASSET_CAP,
                strategy.name,
                coin,
                f"entry scaled {fraction:.4f} -> {scaled:.4f} to keep {coin} within {risk.max_asset_exposure:.0%} of capital",
            )
        )
        return scaled

    def _gate(self, s: BookState, time: pd.Timestamp, confidence: float) -> tuple[str, str] | None:
        """Why an entry is held back at this close (rule, reason), or None."""
        policy = self.policy
        if policy.risk_mode is RiskMode.OFF:
            return "risk_off", "risk mode is off: no new entries"
        if self.guard is not None and self.guard.suspended:
            return "breaker", f"trading suspended by the circuit breaker ({self.guard.state.tripped})"
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
