"""Validation stage 2, accelerated replay: the most recent window traded bar by bar through the runtime engine.

What it proves that a backtest cannot: the candidate runs on the code path that will trade it (the
runtime engine with its paper books, one bar at a time, signals from the bars so far), and that path
reproduces the vectorised backtest. Both implement one execution convention (backtest/simulate.py), so
they must agree: same trades (count, entry and exit bars, direction, exit reason), entry/exit prices,
PnL and the equity and position paths within `rel_tolerance` (default 1e-6 relative). A disagreement
FAILS the candidate with a reason saying it is a bug in one of the two, not a property of the strategy.
A signal that changes when later bars are added (lookahead, caught by the engine's precomputed-signal
proof, runtime/signals.py) fails it too.

The window is the last `window_bars` bar times (union over the coins) at or before `end`; bars before
the window feed the signals' warm-up only. The engine runs with neutral policies
(`RuntimePolicy.backtest_parity()`), the candidate's whole allocation (1.0 when it has none), split
equally over its coins (`coins`, else its data_window's, else every coin of `frames`), and
`precomputed` signals (computed once per coin and proven on prefixes). Candidates that trade the same coins
are replayed together (`replay_stages`): one engine holds every candidate's books, which share nothing
without portfolio risk, so each verdict is the one its replay alone would get; the window is cut, the bars
checked and their tapes built once, and a lookahead fails only the candidate whose signals peek.

The stage judges agreement, not performance: four ~20-day chunks cannot carry the evidence a gate
needs (a consistency rule there rejected strategies with four positive chunks). Consistency across
sub-periods is still reported: the window's bars are split into `n_subperiods` contiguous chunks of
equal bar count (np.array_split), each chunk's compounded return r_k is taken from the summed equity
(the first from the initial capital), and

    consistency = max(0, 1 - std(r) / mean(r))   if mean(r) > 0, else 0       (std with ddof=0)

i.e. one minus the coefficient of variation, floored at 0: 1 for identical positive sub-period
returns, lower as they scatter, 0 for a strategy that does not make money on average. The stage
score is 1 on agreement. Speed is reported as replayed bars per second and as a multiple of real time (window
duration / wall time of the replay, signals included). Optional rules on consistency, trades, return
and drawdown exist in `ReplayConfig`, all off by default.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from quant_organism.backtest import CostModel, Market, Params, simulate
from quant_organism.backtest.inputs import targets_array
from quant_organism.backtest.metric_table import equity_metrics
from quant_organism.backtest.simulate import EXIT_REASONS, INIT_CASH
from quant_organism.catalog import StrategyConfig
from quant_organism.core import metrics
from quant_organism.runtime.ledger import PaperLedger, PaperTrader
from quant_organism.runtime.paper_engine import StrategyRuntimeEngine
from quant_organism.runtime.parity import ledger_parity
from quant_organism.runtime.policy import RuntimePolicy
from quant_organism.runtime.signals import LookaheadError
from quant_organism.strategies import SeedGenes

from .stage_result import StageResult, StageStatus

STAGE = "replay"
BUG = (
    "the runtime engine and the vectorised backtest implement one execution convention, so this is a bug "
    "in one of them (not a property of the strategy)"
)


class ReplayConfig(BaseModel):
    """Window, pass thresholds and tolerance of the replay stage."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    window_bars: int = Field(720, ge=2, description="most recent bar times replayed (720 = 30 days of 1h bars)")
    warmup_bars: int | None = Field(None, ge=0, description="bars before the window fed to signals (None = all)")
    n_subperiods: int = Field(4, ge=2, description="contiguous chunks of the window for consistency")
    min_consistency: float = Field(0.0, ge=0.0, le=1.0, description="optional rule; off: performance is judged by stage 1")
    min_trades: int = Field(0, ge=0, description="optional rule: fewest trades (all coins, an open one counts) to pass")
    min_total_return: float | None = Field(None, description="fail below this window return (None = no rule)")
    max_drawdown: float | None = Field(None, gt=0.0, le=1.0, description="fail above this drawdown (None = no rule)")
    rel_tolerance: float = Field(1e-6, gt=0.0, description="engine vs backtest agreement, relative")
    verify_bars: int = Field(8, ge=1, description="prefix recomputations proving the precomputed signals")
    capital: float = Field(INIT_CASH, gt=0.0)


@dataclass
class ReplayOutcome:
    """What the replay produced and how it compared with the backtest."""

    strategy: str
    coins: tuple[str, ...]
    start: pd.Timestamp
    end: pd.Timestamp  # last bar replayed (its open time)
    bars: int  # bar times replayed
    book_bars: int  # (coin, bar) updates
    seconds: float  # its share of the replay's wall time (candidates replayed together split it evenly)
    bars_per_second: float
    speedup: float  # window duration / replay wall time
    equity: pd.Series  # summed over coins, at each close
    trades: pd.DataFrame  # the engine's trades, an open position included (exit_reason "open")
    subperiod_returns: list[float]
    consistency: float
    total_return: float
    sharpe: float
    max_drawdown: float
    backtest_seconds: float
    max_equity_difference: float  # largest relative equity gap engine vs backtest, any coin, any bar
    disagreements: list[str] = field(default_factory=list)

    @property
    def agrees(self) -> bool:
        return not self.disagreements


def consistency_score(returns: Sequence[float]) -> float:
    """max(0, 1 - std/mean) of sub-period returns when their mean is positive, else 0 (module docstring)."""
    r = np.asarray(returns, dtype=np.float64)
    if len(r) == 0 or not np.all(np.isfinite(r)):
        return 0.0
    mean = float(r.mean())
    if mean <= 0.0:
        return 0.0
    return float(max(0.0, 1.0 - float(r.std()) / mean))


def subperiod_returns(equity: pd.Series, initial: float, n: int) -> list[float]:
    """Compounded return of each of `n` contiguous equal-count chunks of the equity path."""
    values = equity.to_numpy(dtype=np.float64)
    out, before = [], float(initial)
    for chunk in np.array_split(np.arange(len(values)), n):
        if len(chunk) == 0:
            continue
        after = float(values[chunk[-1]])
        out.append(after / before - 1.0 if before > 0 else 0.0)
        before = after
    return out


def _as_config(candidate: StrategyConfig | SeedGenes) -> StrategyConfig:
    if isinstance(candidate, StrategyConfig):
        return candidate
    if isinstance(candidate, SeedGenes):
        return StrategyConfig.from_genes(candidate, fitness_score=0.0, backtest_sharpe=0.0)
    raise TypeError(f"replay takes a StrategyConfig or SeedGenes, got {type(candidate).__name__}")


def _coins(config: StrategyConfig, frames: Mapping[str, pd.DataFrame], coins: Sequence[str] | None) -> tuple[str, ...]:
    if coins is None:
        coins = config.data_window.coins if config.data_window is not None and config.data_window.coins else sorted(frames)
    missing = [c for c in coins if c not in frames]
    if missing:
        raise ValueError(f"replay of {config.name}: no bars for coin(s) {missing}; frames hold {sorted(frames)}")
    if not coins:
        raise ValueError(f"replay of {config.name}: no coins to replay")
    return tuple(coins)


def _window(frames: Mapping[str, pd.DataFrame], coins, cfg: ReplayConfig, end: Any):
    """Per-coin history (warm-up + window) and the window's [start, last] bar times."""
    cut = {}
    for coin in coins:
        frame = frames[coin]
        if end is not None:
            stop = pd.Timestamp(end)
            stop = stop.tz_localize("UTC") if stop.tzinfo is None and frame.index.tz is not None else stop
            frame = frame.iloc[: _before(frame.index, stop)]
        cut[coin] = frame
    if any(len(f) == 0 for f in cut.values()):
        return None
    last = min(f.index[-1] for f in cut.values())
    # the union's last `window_bars` times are among each coin's last `window_bars` times at or before `last`
    tails = [f.index[max(0, n - cfg.window_bars) : n] for f in cut.values() for n in [_before(f.index, last, True)]]
    union = tails[0]
    for tail in tails[1:]:
        union = union.union(tail)
    start = union[max(0, len(union) - cfg.window_bars)]
    history = {}
    for coin, frame in cut.items():
        first = 0
        if cfg.warmup_bars is not None:
            first = max(0, int(frame.index.searchsorted(start)) - cfg.warmup_bars)
        history[coin] = frame.iloc[first : _before(frame.index, last, True)]
    return history, start, last


def _before(index: pd.Index, stop: Any, inclusive: bool = False) -> int:
    """How many leading rows of `index` are before `stop` (at or before it, `inclusive`): a search on a sorted
    index, a count on an unsorted one (which the signals then refuse with their own message)."""
    if index.is_monotonic_increasing:
        return int(index.searchsorted(stop, side="right" if inclusive else "left"))
    return int(((index <= stop) if inclusive else (index < stop)).sum())


def replay(
    candidate: StrategyConfig | SeedGenes,
    frames: Mapping[str, pd.DataFrame],
    config: ReplayConfig = ReplayConfig(),
    costs: CostModel = CostModel(),
    coins: Sequence[str] | None = None,
    end: Any = None,
    engine_factory: Callable[..., StrategyRuntimeEngine] = StrategyRuntimeEngine,
) -> ReplayOutcome | None:
    """Replay the window through the engine and compare with the backtest; None if the window is too short.

    Raises LookaheadError when the candidate's signals use later bars.
    """
    strategy = _as_config(candidate)
    (outcome,) = _replay_together([strategy], frames, config, costs, coins, end, engine_factory).values()
    if isinstance(outcome, LookaheadError):
        raise outcome
    return outcome


def _replay_together(
    strategies: Sequence[StrategyConfig],
    frames: Mapping[str, pd.DataFrame],
    config: ReplayConfig,
    costs: CostModel,
    coins: Sequence[str] | None,
    end: Any,
    engine_factory: Callable[..., StrategyRuntimeEngine],
) -> dict[str, ReplayOutcome | LookaheadError | None]:
    """Strategies that trade the same coins, replayed in one engine: one book per strategy and coin as each
    would have alone (books share nothing without portfolio risk), while the window, the bars' checks, their
    tapes and the tables are made once. Each strategy's signals are proven on their own first, so a lookahead
    fails only the strategy that peeks. Keyed by strategy name, in the given order."""
    names = [s.name for s in strategies]
    coins = _coins(strategies[0], frames, coins)
    cut = _window(frames, coins, config, end)
    if cut is None:
        return dict.fromkeys(names)
    history, start, last = cut
    first = {c: int(h.index.searchsorted(start)) for c, h in history.items()}  # each coin's first window bar
    if any(len(h) - first[c] < 2 for c, h in history.items()):
        return dict.fromkeys(names)

    def engine_of(configs: Sequence[StrategyConfig]) -> StrategyRuntimeEngine:
        return engine_factory(
            configs, policy=RuntimePolicy.backtest_parity(), costs=costs, capital=config.capital, coins=coins,
            signal_mode="precomputed", verify_bars=config.verify_bars,
        )  # fmt: skip

    began = time.perf_counter()
    engine = engine_of(strategies)
    times = engine.bar_times(history, start)
    refused: dict[str, LookaheadError] = {}
    for name in names:
        try:
            engine.prepare_strategy(name, history, times)
        except LookaheadError as exc:
            refused[name] = exc
    traded = [s for s in strategies if s.name not in refused]
    if refused and traded:
        engine = engine_of(traded)  # the others' proofs are made again: a lookahead is a seed's bug, and rare
    run = engine.run(history, start=start) if traded else None
    seconds = time.perf_counter() - began

    out: dict[str, ReplayOutcome | LookaheadError | None] = dict(refused)
    if run is not None:
        trades = run.trades_frame(include_open=True)
        tables = _Tables(trades, _Rows.read(trades), _Rows.read(run.marks_frame()))
        share = seconds / len(traded)  # each strategy's share of the wall time: its books are as many as any other's
        windows: dict[str, tuple[Market, pd.DatetimeIndex]] = {}
        for strategy in traded:
            out[strategy.name] = _outcome(
                strategy, engine, history, first, (start, last), run.bars, share, config, costs,
                tables.of_strategy(strategy.name), windows,
            )  # fmt: skip
    return {name: out[name] for name in names}


@dataclass(frozen=True)
class _Tables:
    """The engine's trades (as a frame and as `_Rows`) and marks (as `_Rows`), of every strategy or of one."""

    trades: pd.DataFrame
    trade_rows: _Rows
    mark_rows: _Rows

    def of_strategy(self, name: str) -> _Tables:
        trades = np.flatnonzero(self.trade_rows["strategy"] == name) if len(self.trade_rows) else np.arange(0)
        marks = np.flatnonzero(self.mark_rows["strategy"] == name) if len(self.mark_rows) else np.arange(0)
        return _Tables(
            self.trades.iloc[trades].reset_index(drop=True), self.trade_rows.where(trades), self.mark_rows.where(marks)
        )


def _outcome(strategy, engine, history, first, span, bars, seconds, config, costs, tables: _Tables, windows) -> ReplayOutcome:
    """One strategy's replay against the vectorised backtest of the same window, and its figures. `windows`
    caches each coin's window as the backtest takes it, for the strategies after this one."""
    start, last = span
    coins = engine.strategies[strategy.name].coins
    disagreements: list[str] = []
    began = time.perf_counter()
    worst = 0.0
    cash = {coin: engine.books[(strategy.name, coin)].state.initial_cash for coin in coins}
    for coin in coins:
        if coin not in windows:
            windows[coin] = _Reference.market(history[coin].iloc[first[coin] :])
        # the very targets the engine traded: computed once on this history and proven on its prefixes
        targets = engine.strategies[strategy.name].signals[coin].targets(history[coin])
        reference = _Reference.of(windows[coin], targets[first[coin] :], strategy.genes, costs, cash[coin])
        trades, marks = tables.trade_rows.of_coin(coin), tables.mark_rows.of_coin(coin)
        gap, problems = _compare(coin, trades, reference, marks, config.rel_tolerance)
        worst = max(worst, gap)
        disagreements += problems
    backtest_seconds = time.perf_counter() - began

    initial = sum(cash.values())
    equity = _summed_equity(tables.mark_rows, coins, cash)
    returns = subperiod_returns(equity, initial, config.n_subperiods)
    steps = np.diff(equity.index.as_unit("ns").asi8)
    step = pd.Timedelta(int(np.median(steps)), unit="ns") if len(steps) else pd.Timedelta(0)
    figures = equity_metrics(equity.to_numpy(), initial, metrics.bars_per_year(equity.index, default=1.0))
    duration = (last - start) + step
    return ReplayOutcome(
        strategy=strategy.name, coins=coins, start=start, end=last, bars=bars, book_bars=len(tables.mark_rows),
        seconds=seconds, bars_per_second=bars / seconds if seconds > 0 else float("inf"),
        speedup=duration.total_seconds() / seconds if seconds > 0 else float("inf"),
        equity=equity, trades=tables.trades, subperiod_returns=returns, consistency=consistency_score(returns),
        total_return=figures["total_return"], sharpe=figures["sharpe"], max_drawdown=figures["max_drawdown"],
        backtest_seconds=backtest_seconds, max_equity_difference=worst, disagreements=disagreements,
    )  # fmt: skip


@dataclass(frozen=True)
class _Rows:
    """A table's columns as arrays, times as UTC nanoseconds (`nanos`) beside the times themselves (`times`,
    for messages): the engine's trades or marks, read per coin without a frame per coin."""

    columns: Mapping[str, np.ndarray]
    times: Mapping[str, pd.DatetimeIndex]

    @classmethod
    def read(cls, frame: pd.DataFrame) -> _Rows:
        columns: dict[str, np.ndarray] = {}
        times: dict[str, pd.DatetimeIndex] = {}
        for name in frame.columns:
            values = frame[name]
            if isinstance(values.dtype, pd.DatetimeTZDtype) or np.issubdtype(values.dtype, np.datetime64):
                times[name] = pd.DatetimeIndex(values)
                columns[name] = times[name].as_unit("ns").asi8
            else:
                columns[name] = values.to_numpy()
        return cls(columns, times)

    def __len__(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0

    def __getitem__(self, name: str) -> np.ndarray:
        return self.columns[name]

    def where(self, rows: np.ndarray) -> _Rows:
        return _Rows({k: v[rows] for k, v in self.columns.items()}, {k: v[rows] for k, v in self.times.items()})

    def of_coin(self, coin: str) -> _Rows:
        return self.where(np.flatnonzero(self.columns["coin"] == coin)) if len(self) else self


@dataclass(frozen=True)
class _Reference:
    """The vectorised backtest of one coin's window (backtest/simulate.py's kernel, the path `run_backtest` takes),
    kept as the arrays the comparison reads: per-bar equity and units, and the trades' records as columns."""

    times: pd.DatetimeIndex
    nanos: np.ndarray
    equity: np.ndarray
    position: np.ndarray
    trades: _Rows
    init_cash: float

    @staticmethod
    def market(window: pd.DataFrame) -> tuple[Market, pd.DatetimeIndex]:
        """A coin's window as the backtest takes it (shared by every candidate replayed on it), and its times."""
        funding = np.nan_to_num(window["funding_rate"].to_numpy(dtype=np.float64)) if "funding_rate" in window else None
        # the replay compares paths, not metrics: one consistency period and a nominal annualisation spare the
        # calendar work the metrics would need
        market = Market.prepare(window, funding, len(window), bars_per_year=1.0)
        return market, pd.DatetimeIndex(market.bars.index)

    @classmethod
    def of(cls, window: tuple[Market, pd.DatetimeIndex], targets: np.ndarray, genes, costs: CostModel, cash: float) -> _Reference:
        market, times = window
        params = Params.of(1, genes.stop_loss, genes.take_profit, genes.position_size)
        raw = simulate(market, targets_array(targets, market.bars), params, costs, cash, detail=True)
        nanos = times.as_unit("ns").asi8
        records = raw.trades
        columns = {name: records[name] for name in records.dtype.names}
        columns["entry_time"], columns["exit_time"] = nanos[records["entry_idx"]], nanos[records["exit_idx"]]
        columns["exit_reason"] = np.array([EXIT_REASONS[int(r)] for r in records["exit_reason"]], dtype=object)
        stamped = {"entry_time": times[records["entry_idx"]], "exit_time": times[records["exit_idx"]]}
        return cls(times, nanos, raw.equity[:, 0], raw.position[:, 0], _Rows(columns, stamped), float(cash))


def _compare(coin: str, mine: _Rows, bt: _Reference, marks: _Rows, tol: float) -> tuple[float, list[str]]:
    """Engine vs backtest on one coin: (largest relative equity gap, problems found)."""
    theirs = bt.trades
    problems = []
    if len(mine) != len(theirs):
        problems.append(f"{coin}: the engine made {len(mine)} trade(s), the backtest {len(theirs)}")
    k = _first_differing_trade(mine, theirs, tol, bt.init_cash)
    if k is not None:
        problems.append(f"{coin}: trade {k + 1} differs: engine {_trade(mine, k)} vs backtest {_trade(theirs, k)}")
    if not np.array_equal(marks["time"], bt.nanos):
        problems.append(f"{coin}: the engine marked {len(marks)} bar(s), the backtest {len(bt.nanos)}")
        return float("inf"), problems
    mine_equity, equity = marks["equity"].astype(np.float64), bt.equity
    with np.errstate(invalid="ignore", divide="ignore"):
        gap = np.abs(mine_equity / equity - 1.0)
    gap = np.where(np.isfinite(gap), gap, np.where(mine_equity == equity, 0.0, np.inf))
    worst = float(gap.max()) if len(gap) else 0.0
    if worst > tol:
        at = bt.times[int(np.argmax(gap > tol))]
        problems.append(f"{coin}: equity differs by up to {worst:.3g} (relative; tolerance {tol:g}), first at {at}")
    units = marks["units"].astype(np.float64)
    their_units = bt.position
    scale = max(float(np.abs(their_units).max()), 1e-300)
    if np.abs(units - their_units).max() > tol * scale:
        at = bt.times[int(np.argmax(np.abs(units - their_units) > tol * scale))]
        problems.append(f"{coin}: positions differ, first at {at}")
    return worst, problems


def _first_differing_trade(mine, theirs, tol: float, init_cash: float) -> int | None:
    """Position of the first of the paired trades that differ: entry and exit times, direction or exit reason
    not equal, prices further apart than `tol` relative, or PnL further than `tol` of the initial cash.
    `mine` and `theirs` give each column by name (a frame, or `_Rows`)."""
    n = min(len(mine), len(theirs))

    def both(key: str, dtype=None) -> tuple[np.ndarray, np.ndarray]:
        return np.asarray(mine[key], dtype=dtype)[:n], np.asarray(theirs[key], dtype=dtype)[:n]

    same = np.ones(n, dtype=bool)
    for key in ("entry_time", "exit_time", "direction", "exit_reason"):
        x, y = both(key)
        same &= x == y
    for key in ("entry_price", "exit_price"):
        same &= _rel(*both(key, np.float64)) <= tol
    x, y = both("pnl", np.float64)
    same &= np.abs(x - y) <= tol * init_cash
    differ = np.flatnonzero(~same)
    return int(differ[0]) if len(differ) else None


def _rel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """|a - b| / max(|a|, |b|) elementwise: 0 where equal, inf where either is not finite."""
    with np.errstate(invalid="ignore", divide="ignore"):
        gap = np.abs(a - b) / np.maximum(np.abs(a), np.abs(b))
    return np.where(a == b, 0.0, np.where(np.isfinite(a) & np.isfinite(b), gap, np.inf))


def _trade(rows: _Rows, k: int) -> str:
    direction = int(rows["direction"][k])
    side = {1: "long", -1: "short"}.get(direction, str(direction))
    entry, exit_ = rows.times["entry_time"][k], rows.times["exit_time"][k]
    reason, price_in, price_out = rows["exit_reason"][k], rows["entry_price"][k], rows["exit_price"][k]
    return f"{side} {entry} -> {exit_} ({reason}, {price_in:.6g} -> {price_out:.6g})"


def _summed_equity(marks: _Rows, coins: Sequence[str], cash: Mapping[str, float]) -> pd.Series:
    """The coins' equity summed at each close of the window: a coin without a bar at some time counts its last
    equity (its initial cash before its first bar). Each row of the times x coins table is summed by
    numpy, the coins in their order."""
    times = np.unique(marks["time"])
    table = np.empty((len(times), len(coins)))
    for j, coin in enumerate(coins):
        rows = np.flatnonzero(marks["coin"] == coin)
        latest = np.searchsorted(marks["time"][rows], times, side="right") - 1
        table[:, j] = np.where(latest >= 0, marks["equity"][rows].astype(np.float64)[np.maximum(latest, 0)], cash[coin])
    total = table.sum(axis=1)
    index = pd.DatetimeIndex(times.view("M8[ns]"), name="time").tz_localize("UTC")
    if len(marks):
        index = index.tz_convert(marks.times["time"].tz)
    return pd.Series(total, index=index)


def replay_stage(
    candidate: StrategyConfig | SeedGenes,
    frames: Mapping[str, pd.DataFrame],
    config: ReplayConfig = ReplayConfig(),
    costs: CostModel = CostModel(),
    coins: Sequence[str] | None = None,
    end: Any = None,
    engine_factory: Callable[..., StrategyRuntimeEngine] = StrategyRuntimeEngine,
) -> StageResult:
    """Stage 2's verdict: passes (score 1) when the replay agrees with the backtest (and meets any optional
    threshold of `config`, all off by default: performance is judged once, on pooled evidence, by stage 1)."""
    return replay_stages([candidate], frames, config, costs, coins, end, engine_factory)[0]


def replay_stages(
    candidates: Sequence[StrategyConfig | SeedGenes],
    frames: Mapping[str, pd.DataFrame],
    config: ReplayConfig = ReplayConfig(),
    costs: CostModel = CostModel(),
    coins: Sequence[str] | None = None,
    end: Any = None,
    engine_factory: Callable[..., StrategyRuntimeEngine] = StrategyRuntimeEngine,
) -> list[StageResult]:
    """`replay_stage` for each candidate, in their order, the candidates that trade the same coins replayed
    together (`_replay_together`): each verdict is the one its replay alone would get."""
    strategies = [_as_config(c) for c in candidates]
    groups: dict[tuple[str, ...], list[list[int]]] = {}
    for k, strategy in enumerate(strategies):
        batches = groups.setdefault(_coins(strategy, frames, coins), [])
        batch = next((b for b in batches if all(strategies[j].name != strategy.name for j in b)), None)
        if batch is None:  # one engine holds a name once
            batches.append([k])
        else:
            batch.append(k)
    verdicts: list[StageResult | None] = [None] * len(strategies)
    for traded, batches in groups.items():
        for batch in batches:
            outcomes = _replay_together([strategies[k] for k in batch], frames, config, costs, traded, end, engine_factory)
            for k in batch:
                verdicts[k] = _verdict(outcomes[strategies[k].name], config)
    return verdicts  # type: ignore[return-value]


def _verdict(outcome: ReplayOutcome | LookaheadError | None, config: ReplayConfig) -> StageResult:
    if isinstance(outcome, LookaheadError):
        return StageResult(STAGE, StageStatus.FAILED, 0.0, {}, [f"lookahead: {outcome}"])
    if outcome is None:
        why = "not enough bars to replay (a window needs 2 or more per coin)"
        return StageResult(STAGE, StageStatus.SKIPPED, None, {}, [why])
    o = outcome
    metrics = {
        "start": o.start.isoformat(), "end": o.end.isoformat(), "coins": list(o.coins), "bars": o.bars,
        "book_bars": o.book_bars, "trade_count": len(o.trades), "total_return": o.total_return, "sharpe": o.sharpe,
        "max_drawdown": o.max_drawdown, "consistency": o.consistency, "subperiod_returns": o.subperiod_returns,
        "seconds": o.seconds, "bars_per_second": o.bars_per_second, "speedup_vs_real_time": o.speedup,
        "backtest_seconds": o.backtest_seconds, "max_equity_difference": o.max_equity_difference,
        "agrees_with_backtest": o.agrees,
    }  # fmt: skip
    reasons = []
    if not o.agrees:
        found = "; ".join(o.disagreements)
        reasons.append(f"replay disagrees with the vectorised backtest of the same window: {found}; {BUG}")
    if o.consistency < config.min_consistency:
        spread = _pct(o.subperiod_returns)
        reasons.append(f"consistency {o.consistency:.3f} < {config.min_consistency:g} (sub-period returns {spread})")
    if len(o.trades) < config.min_trades:
        reasons.append(f"{len(o.trades)} trade(s) in the window < {config.min_trades}")
    if config.min_total_return is not None and o.total_return < config.min_total_return:
        reasons.append(f"window return {o.total_return:.2%} < {config.min_total_return:.2%}")
    if config.max_drawdown is not None and o.max_drawdown > config.max_drawdown:
        reasons.append(f"drawdown {o.max_drawdown:.2%} > {config.max_drawdown:.2%}")
    status = StageStatus.FAILED if reasons else StageStatus.PASSED
    return StageResult(STAGE, status, 1.0 if o.agrees else 0.0, metrics, reasons)


def _pct(values: Sequence[float]) -> str:
    return "[" + ", ".join(f"{v:.2%}" for v in values) + "]"


def product_replay(
    candidates: Sequence[SeedGenes],
    frames: Mapping[str, pd.DataFrame],
    end: pd.Timestamp,
    days: int,
    costs: CostModel = CostModel(),
) -> dict[str, list[str]]:
    """The candidates traded exactly as the paper asset trades them, over the last `days` whole days before
    `end`: one day at a time, books restored from a (temporary) DuckDB ledger, history anchored at the
    frames' first bar (where validation's backtest anchors it), the backtest's sizing, signals computed
    once and proven on prefixes. Each book's record is then checked against the vectorised backtest of
    the same bars (runtime/parity.py). Returns {seed_id: problems}; empty lists mean parity holds."""
    configs = [StrategyConfig.from_genes(g, fitness_score=0.0, backtest_sharpe=0.0, name=g.seed_id) for g in candidates]
    coins = sorted(frames)
    last = pd.Timestamp(end).floor("D")
    day_list = pd.date_range(last - pd.Timedelta(days=days), last - pd.Timedelta(days=1), freq="D")
    problems: dict[str, list[str]] = {c.name: [] for c in configs}
    with tempfile.TemporaryDirectory(prefix="qo-replay-") as tmp:
        ledger = PaperLedger(Path(tmp) / "replay.duckdb")
        for day in day_list:
            cut = {coin: f.loc[f.index < day + pd.Timedelta(days=1)] for coin, f in frames.items()}
            engine = StrategyRuntimeEngine(
                configs, policy=RuntimePolicy.backtest_parity(), costs=costs, coins=coins, signal_mode="precomputed"
            )
            PaperTrader(engine, ledger).run(cut, start=day, end=day + pd.Timedelta(days=1))
        for result in ledger_parity(ledger, configs, lambda c, coin: frames[coin].loc[frames[coin].index < last], costs):
            problems[result.strategy] += [f"{result.coin}: {p}" for p in result.problems]
    return problems
