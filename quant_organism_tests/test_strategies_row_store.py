"""Indicator rows kept between calls (`row_store`): tables read through their index equal fresh ones, whatever was
kept, dropped or reused before; a table stays unchanged while it is held; the budget is handed back with the bars."""

from __future__ import annotations

import gc

import numpy as np
import pandas as pd
import pytest

from quant_organism.strategies import indicators as ind
from quant_organism.strategies import row_store
from quant_organism.strategies.ohlcv import prepare_bars

N = 500


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(4)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, N)))
    return pd.DataFrame(
        {"open": close, "high": close * 1.01, "low": close * 0.99, "close": close, "volume": rng.uniform(1, 2, N)},
        index=pd.date_range("2024-01-01", periods=N, freq="h", tz="UTC"),
    )


@pytest.fixture
def budget(monkeypatch):
    """Set the budget in rows of N bars (one name); bars earlier tests left behind are released first."""
    gc.collect()

    def rows(count: int) -> int:
        monkeypatch.setattr(row_store, "MEMORY_BYTES", row_store.kept_bytes() + count * N * 8)
        return row_store.kept_bytes()

    return rows


def _fresh(frame: pd.DataFrame, name: str, periods) -> np.ndarray:
    """Each period's row computed on new bars, nothing kept: what a genome reading `periods` must see."""
    rows, (index,) = ind.Indicators(prepare_bars(frame)).table(name, np.asarray(periods))
    return rows[index]


def test_kept_rows_are_read_in_place_equal_fresh_ones_and_are_released_with_the_bars(frame, budget) -> None:
    before = budget(1_000)
    bars = prepare_bars(frame)
    first, (first_index,) = ind.Indicators(bars).table("ema", np.array([5, 9]))
    table, (index,) = ind.Indicators(bars).table("ema", np.array([20, 9, 9]))  # 9 kept, 20 new
    np.testing.assert_array_equal(table[index], _fresh(frame, "ema", [20, 9, 9]))
    np.testing.assert_array_equal(first[first_index[1]], table[index[1]])
    again, (again_index,) = ind.Indicators(bars).table("ema", np.array([9, 20]))
    assert np.shares_memory(again, table)  # nothing new: the kept rows are read where they are kept, not copied
    np.testing.assert_array_equal(again[again_index], _fresh(frame, "ema", [9, 20]))
    for shared in (table, first):  # no caller can change the rows the bars keep
        with pytest.raises(ValueError, match="read-only"):
            shared[:] = 0.0
    assert row_store.kept_bytes() > before
    del bars, table, first, again
    gc.collect()
    assert row_store.kept_bytes() == before  # handed back with the bars


def test_a_full_store_drops_its_least_recently_used_rows_and_a_held_table_never_changes(frame, budget) -> None:
    budget(4)
    bars = prepare_bars(frame)
    held, (held_index,) = ind.Indicators(bars).table("sma", np.array([3, 4, 5, 6]))
    expected = held[held_index].copy()
    ind.Indicators(bars).table("sma", np.array([3, 4]))  # 5 and 6 are now the least recently used
    table, (index,) = ind.Indicators(bars).table("sma", np.array([3, 30, 31]))  # two rows must go: 5 and 6
    np.testing.assert_array_equal(table[index], _fresh(frame, "sma", [3, 30, 31]))
    np.testing.assert_array_equal(held[held_index], expected)  # moved to new matrices: the held view kept the old
    store = bars.rows[("sma",)]
    assert sorted(store.slot) == [3, 4, 30, 31] and row_store.kept_bytes() <= row_store.MEMORY_BYTES


def test_slots_are_written_again_in_place_only_while_no_table_is_held(frame, budget) -> None:
    budget(3)
    bars = prepare_bars(frame)
    ind.Indicators(bars).table("ema", np.array([10, 11, 12]))  # dropped at once: no table held
    store = bars.rows[("ema",)]
    matrix = store.matrices[0]
    table, (index,) = ind.Indicators(bars).table("ema", np.array([12, 40]))
    assert store.matrices[0] is matrix  # 40 took the least recently used row's slot, in place
    np.testing.assert_array_equal(table[index], _fresh(frame, "ema", [12, 40]))
    kept = table[index].copy()
    again, (again_index,) = ind.Indicators(bars).table("ema", np.array([41, 42]))  # `table` is held: no slot of it
    assert store.matrices[0] is not matrix  # is written again; the rows moved into a new matrix
    np.testing.assert_array_equal(table[index], kept)
    np.testing.assert_array_equal(again[again_index], _fresh(frame, "ema", [41, 42]))


def test_rows_that_do_not_fit_are_computed_for_the_call_and_not_kept(frame, budget) -> None:
    budget(2)
    bars = prepare_bars(frame)
    ind.Indicators(bars).table("rsi", np.array([7, 8]))
    table, (fast, slow) = ind.Indicators(bars).table("rsi", np.array([7, 9, 10]), np.array([8, 11, 12]))
    np.testing.assert_array_equal(table[fast], _fresh(frame, "rsi", [7, 9, 10]))
    np.testing.assert_array_equal(table[slow], _fresh(frame, "rsi", [8, 11, 12]))
    assert sorted(bars.rows[("rsi",)].slot) == [7, 8]  # this call asked for both, so neither could go
    lone = prepare_bars(frame)  # a store makes room from its own rows only: new bars get none of the budget held
    rows, (index,) = ind.Indicators(lone).table("rsi", np.array([20, 21, 22]))
    np.testing.assert_array_equal(rows[index], _fresh(frame, "rsi", [20, 21, 22]))
    assert not lone.rows[("rsi",)].slot


def test_indicators_laid_out_together_share_one_index(frame, budget) -> None:
    budget(1_000)
    bars = prepare_bars(frame)
    ind.Indicators(bars).table("rolling_high", np.array([50]))  # kept alone, in another store
    (highs, lows), (slow, fast) = ind.Indicators(bars).tables(("rolling_high", "rolling_low"), [20, 50], [5, 5])
    np.testing.assert_array_equal(highs[slow], _fresh(frame, "rolling_high", [20, 50]))
    np.testing.assert_array_equal(lows[slow], _fresh(frame, "rolling_low", [20, 50]))
    np.testing.assert_array_equal(lows[fast], _fresh(frame, "rolling_low", [5, 5]))
    with pytest.raises(ValueError, match="unknown indicator 'macd'"):
        ind.Indicators(bars).tables(("rolling_high", "macd"), [5])


def test_a_prefix_for_the_proofs_keeps_no_rows_and_its_tables_are_its_bars_alone(frame):
    """The prefix proofs read each prefix once: its tables are computed per call from its own bars (never the
    whole frame's rows), read-only like kept ones, and nothing is kept on it or counted against the budget."""
    bars = prepare_bars(frame)
    whole, (at,) = ind.Indicators(bars).table("sma", np.array([5, 40]))
    prefix = bars.prefix(300)
    before = row_store.kept_bytes()
    rows, (index,) = ind.Indicators(prefix).table("sma", np.array([40, 5, 40]))
    assert rows.shape == (2, 300) and not rows.flags.writeable
    assert prefix.rows == {} and row_store.kept_bytes() == before
    np.testing.assert_array_equal(rows[index[1]], ind.sma(frame["close"].to_numpy()[:300], 5))
    np.testing.assert_array_equal(rows[index[0]], whole[at[1]][:300])  # a causal indicator: the whole frame's prefix


def test_fresh_rows_past_the_kept_ones_are_computed_in_their_slots_and_a_failure_keeps_nothing(
    frame, budget, monkeypatch
) -> None:
    budget(1_000)
    bars = prepare_bars(frame)
    ind.Indicators(bars).table("sma", np.array([3, 4, 5, 6]))
    store = bars.rows[("sma",)]
    kept = {p: store.matrices[0][s].copy() for p, s in store.slot.items()}
    compute = ind._TABLES["sma"]
    written_into = []

    def failing(indicators, periods, out):
        written_into.append(out)
        out[:] = -1.0  # half-written rows, then a failure
        raise RuntimeError("indicator failed")

    monkeypatch.setitem(ind._TABLES, "sma", failing)
    with pytest.raises(RuntimeError, match="indicator failed"):
        ind.Indicators(bars).table("sma", np.array([3, 30]))
    assert np.shares_memory(written_into[0], store.matrices[0])  # the slot itself, no fresh table to copy
    assert sorted(store.slot) == [3, 4, 5, 6]  # nothing kept of the failed call
    monkeypatch.setitem(ind._TABLES, "sma", compute)
    table, (index,) = ind.Indicators(bars).table("sma", np.array([3, 30, 31]))
    np.testing.assert_array_equal(table[index], _fresh(frame, "sma", [3, 30, 31]))
    for period, row in kept.items():
        np.testing.assert_array_equal(store.matrices[0][store.slot[period]], row)
