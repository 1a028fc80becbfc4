"""The compiled paper book (runtime/compiled/book_kernel.py) does, bit for bit, what the Python book it replaced did.

support/python_book.py is that Python book, kept as the reference. Both are driven through the same random
bars (gaps, wicks, funding of both signs, crashes that exhaust the account) and the same random orders
(directions, fractions, reversals, no order), with random stop-loss / take-profit genes and costs; after
every bar their fills, closed trades, marks and whole states must be equal, floats compared by their bits.
A run through the engine with and without `on_step` (per-bar records vs the loop's tables) must agree too.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from quant_organism.backtest import CostModel
from quant_organism.runtime import RuntimePolicy, StrategyRuntimeEngine
from quant_organism.runtime.book import BookState, Fill, Mark, PaperBook, Trade
from quant_organism.runtime.compiled import book_kernel as kernel
from quant_organism_tests.support import python_book
from quant_organism_tests.support.runtime_cases import COSTS, START, config, genes, synthetic_frames


def _same(a, b) -> bool:
    """Equal, with floats equal by their bits (NaN equals NaN, 0.0 differs from -0.0)."""
    if isinstance(a, float) and isinstance(b, float):
        return np.float64(a).tobytes() == np.float64(b).tobytes()
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def _fields(record) -> list:
    return [getattr(record, name) for name in type(record).__dataclass_fields__]


class CompiledBook:
    """One book driven bar by bar through `book_kernel.book_bar`, its events read back as records."""

    def __init__(self, cash: float, stop_loss: float, take_profit: float, costs: CostModel, bars: pd.DatetimeIndex):
        self.book = PaperBook("s", "X", cash, stop_loss, take_profit, costs)
        self.book.state.tz = bars.tz
        self.bars = bars
        self.costs = np.array([costs.taker_fee, costs.maker_fee, costs.slippage, float(costs.take_profit_order == "limit")])
        self.tables = (
            np.empty((3, kernel.FILL_INTS), np.int64),
            np.empty((3, kernel.FILL_FLOATS)),
            np.empty((2, kernel.TRADE_INTS), np.int64),
            np.empty((2, kernel.TRADE_FLOATS)),
            np.empty((1, kernel.MARK_INTS), np.int64),
            np.empty((1, kernel.MARK_FLOATS)),
        )

    def bar(self, k: int, o: float, h: float, low: float, c: float, funding: float):
        counts = np.zeros(3, np.int64)
        s = self.book.state
        time = self.bars[k]
        kernel.book_bar(s.f, s.i, 0, k, time.value, o, h, low, c, funding, self.costs, *self.tables, counts, np.empty(3))
        fi, ff, ti, tf, mi, mf = self.tables
        marks, fills, trades = counts.tolist()
        out_fills = [
            Fill("s", "X", time, seq, "sell" if sell else "buy", "exit" if ex else "entry", kernel.REASONS[r], *floats,
                 "maker" if maker else "taker")
            for (_, _, seq, sell, ex, r, maker), floats in zip(fi[:fills].tolist(), ff[:fills].tolist())
        ]  # fmt: skip
        out_trades = [
            Trade("s", "X", None if entered == kernel.NAT else s.box(entered), time, d, *floats, kernel.REASONS[r])
            for (_, entered, _, d, r), floats in zip(ti[:trades].tolist(), tf[:trades].tolist())
        ]
        (_, _, direction, _), values = mi[0].tolist(), mf[0].tolist()
        units, entry, stop, take, *rest = values
        held = direction != 0
        mark = Mark("s", "X", time, direction, units, entry if held else None,
                    stop if held and stop == stop else None, take if held and take == take else None, *rest)  # fmt: skip
        assert marks == 1
        return out_fills, out_trades, mark


def _scenario(seed: int):
    rng = np.random.default_rng(seed)
    n = 300
    steps = rng.normal(0.0, 0.02, n) + np.where(rng.random(n) < 0.03, rng.normal(0.0, 0.3, n), 0.0)
    if seed % 4 == 0:
        steps[n // 2] = 1.5  # a crash upwards: a leveraged short runs out of cash
    close = 100.0 * np.exp(np.cumsum(steps))
    gap = np.where(rng.random(n) < 0.1, rng.normal(0.0, 0.05, n), rng.normal(0.0, 0.002, n))
    open_ = np.r_[100.0, close[:-1]] * np.exp(gap)
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0.0, 0.01, n)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0.0, 0.01, n)))
    funding = np.where(rng.random(n) < 0.3, rng.normal(0.0, 0.001, n), 0.0)
    costs = CostModel(
        taker_fee=float(rng.choice([0.0, 0.0005, 0.003])),
        maker_fee=float(rng.choice([0.0, 0.0002])),
        slippage=float(rng.choice([0.0, 0.0005, 0.01])),
        take_profit_order=str(rng.choice(["limit", "market"])),
    )
    stop_loss = float(rng.choice([0.0, 0.02, 0.1, 0.5]))
    take_profit = float(rng.choice([0.0, 0.03, 0.2, 2.0]))
    wanted = rng.choice([-1, 0, 1], size=n, p=[0.3, 0.3, 0.4])
    wanted = np.where(rng.random(n) < 0.8, np.repeat(wanted[::5], 5)[:n], wanted)  # runs, with some flicker
    fractions = rng.choice([0.1, 0.5, 0.999, 1.0], size=n)
    return (open_, high, low, close, funding), costs, stop_loss, take_profit, wanted, fractions


@pytest.mark.parametrize("seed", range(24))
def test_the_compiled_book_matches_the_python_book_bit_for_bit(seed):
    (open_, high, low, close, funding), costs, sl, tp, wanted, fractions = _scenario(seed)
    bars = pd.date_range(START, periods=len(close), freq="1h")
    ref = python_book.PaperBook("s", "X", 10_000.0, sl, tp, costs)
    new = CompiledBook(10_000.0, sl, tp, costs, bars)
    seen = set()
    for k in range(len(close)):
        ref_fills, ref_trades = ref.open_bar(bars[k], open_[k], high[k], low[k], funding[k])
        ref_mark, liquidated = ref.close_bar(bars[k], close[k])
        fills, trades, mark = new.bar(k, open_[k], high[k], low[k], close[k], funding[k])
        assert _same([_fields(f) for f in fills], [_fields(f) for f in ref_fills]), k
        assert _same([_fields(t) for t in trades], [_fields(t) for t in ref_trades + liquidated]), k
        assert _same(_fields(mark), _fields(ref_mark)), k
        seen |= {t.exit_reason for t in ref_trades + liquidated}
        if not ref.state.bankrupt:
            target = ref.target(int(wanted[k]))
            assert new.book.target(int(wanted[k])) == target
            if target != ref.state.direction:
                fraction = float(fractions[k]) if target else 0.0
                ref.submit(target, fraction, bars[k])
                new.book.submit(target, fraction, bars[k])
        assert _same(new.book.state.to_dict(), ref.state.to_dict()), k
    assert seen, "the scenario closed no trade"


def test_the_scenarios_reach_every_exit_and_liquidation():
    reasons = set()
    for seed in range(24):
        (open_, high, low, close, funding), costs, sl, tp, wanted, fractions = _scenario(seed)
        bars = pd.date_range(START, periods=len(close), freq="1h")
        ref = python_book.PaperBook("s", "X", 10_000.0, sl, tp, costs)
        for k in range(len(close)):
            _, trades = ref.open_bar(bars[k], open_[k], high[k], low[k], funding[k])
            _, liquidated = ref.close_bar(bars[k], close[k])
            reasons |= {t.exit_reason for t in trades + liquidated}
            if not ref.state.bankrupt and (target := ref.target(int(wanted[k]))) != ref.state.direction:
                ref.submit(target, float(fractions[k]) if target else 0.0, bars[k])
    assert reasons == {"signal", "stop_loss", "take_profit", "bankrupt"}


def test_a_book_state_round_trips_through_its_json_form_and_keeps_the_old_fields():
    state = BookState(initial_cash=100.0, cash=80.5, units=-0.25, direction=-1, entry_bar=3, entry_price=81.0,
                      entry_time=START, stop_price=None, take_profit_price=70.0, bars=9, last_time=START,
                      last_close=79.0, equity=99.0, last_decision_bar=None)  # fmt: skip
    state.pending = python_book.Order(1, 0.5, START)
    data = state.to_dict()
    assert list(data) == list(python_book.BookState.__dataclass_fields__)
    assert data == python_book.BookState.from_dict(data).to_dict()
    again = BookState.from_dict(data)
    assert again == state and again.pending.direction == 1 and again.last_decision_bar is None
    assert again.stop_price is None and math.isclose(again.take_profit_price, 70.0) and again.last_time == START


def test_a_run_gives_the_same_records_with_and_without_per_bar_results():
    frames = synthetic_frames(days=20)
    strategies = [
        config(genes("ema_crossover", "a", fast_period=5, slow_period=20, stop_loss=0.01, take_profit=0.02)),
        config(genes("rsi_filter", "b", stop_loss=0.0, take_profit=0.0)),
    ]

    def run(**kwargs):
        engine = StrategyRuntimeEngine(strategies, policy=RuntimePolicy.backtest_parity(), costs=COSTS,
                                       coins=list(frames), signal_mode="precomputed")  # fmt: skip
        return engine.run(frames, start=START + pd.Timedelta(days=5), **kwargs)

    steps = []
    tabled, stepped = run(), run(on_step=steps.append)
    assert len(steps) == stepped.bars == tabled.bars
    assert len(tabled.fills) > 4 and {t.exit_reason for t in tabled.trades} >= {"signal", "stop_loss"}
    pd.testing.assert_frame_equal(tabled.marks_frame(), stepped.marks_frame())
    assert tabled.marks == stepped.marks and tabled.trades == stepped.trades and tabled.fills == stepped.fills
    assert tabled.decisions == stepped.decisions
