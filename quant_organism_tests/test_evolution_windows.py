"""Evolution data windows: train / out-of-sample / walk-forward split, slicing, and the no-leak guard."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from quant_organism.evolution import (
    Window,
    WindowLeakError,
    evolution_windows,
    guard_train_frames,
    join_funding,
    market_frames,
    prepare_frames,
    slice_frames,
)
from quant_organism.market.sources.synthetic import SyntheticSource


def hourly_frame(start: str, days: int) -> pd.DataFrame:
    index = pd.date_range(start, periods=days * 24, freq="h", tz="UTC")
    close = np.linspace(100.0, 110.0, len(index))
    return pd.DataFrame(
        {"open": close, "high": close + 1, "low": close - 1, "close": close, "volume": 1.0, "funding_rate": 1e-5},
        index=index,
    )


@pytest.mark.parametrize("lookback, split", [(365, (0.6, 0.2, 0.2)), (30, (0.5, 0.3, 0.2)), (7, (0.6, 0.2, 0.2))])
def test_windows_are_contiguous_ordered_and_end_with_the_evolution_day(lookback, split):
    w = evolution_windows(date(2024, 6, 30), lookback, split)
    end = pd.Timestamp("2024-07-01", tz="UTC")  # end of D: bars of D itself are in, D+1 is not
    assert w.train.start == end - pd.Timedelta(days=lookback)
    assert w.train.end == w.out_of_sample.start and w.out_of_sample.end == w.walk_forward.start
    assert w.walk_forward.end == end
    assert not w.train.overlaps(w.out_of_sample) and not w.train.overlaps(w.walk_forward)
    assert [x.days for x in (w.train, w.out_of_sample, w.walk_forward)] == [
        round(lookback * split[0]),
        round(lookback * split[1]),
        lookback - round(lookback * split[0]) - round(lookback * split[1]),
    ]
    assert all(x.days >= 1 and float(x.days).is_integer() for x in (w.train, *w.validation))


def test_bad_window_requests_are_refused_with_reasons():
    with pytest.raises(ValueError, match="summing to 1"):
        evolution_windows("2024-06-30", 100, (0.6, 0.2, 0.3))
    with pytest.raises(ValueError, match=">= 1 day"):
        evolution_windows("2024-06-30", 4, (0.9, 0.05, 0.05))
    with pytest.raises(ValueError, match="calendar day"):
        evolution_windows("2024-06-30 12:00", 30)
    assert Window(pd.Timestamp("2024-01-01"), pd.Timestamp("2024-01-02", tz="UTC"), "x").start.tz is not None  # naive = UTC
    with pytest.raises(ValueError, match="must be before"):
        Window(pd.Timestamp("2024-01-02", tz="UTC"), pd.Timestamp("2024-01-01", tz="UTC"), "x")


def test_slicing_keeps_only_train_bars_and_the_guard_accepts_them():
    w = evolution_windows("2024-03-31", 30)
    frames = {"A": hourly_frame("2024-02-20", 50), "B": hourly_frame("2024-03-01", 45)}  # reach past D
    train = slice_frames(frames, w.train)
    for coin, part in train.items():
        assert part.index.min() >= w.train.start and part.index.max() < w.train.end
        expected = frames[coin][(frames[coin].index >= w.train.start) & (frames[coin].index < w.train.end)]
        pd.testing.assert_frame_equal(part, expected)
    guard_train_frames(train, w.train, w.validation)


def test_guard_names_the_validation_window_a_frame_reaches_into():
    w = evolution_windows("2024-03-31", 30)
    frames = {"A": hourly_frame("2024-02-20", 50)}
    one_oos_bar = slice_frames(frames, Window(w.train.start, w.train.end + pd.Timedelta(hours=1), "x"))
    with pytest.raises(WindowLeakError, match="A: .*out_of_sample.*2024-03-20 00:00"):
        guard_train_frames(one_oos_bar, w.train, w.validation)
    whole = slice_frames(frames, w.lookback)
    with pytest.raises(WindowLeakError, match="walk_forward"):
        guard_train_frames({"A": whole["A"].iloc[-5:]}, w.train, w.validation)
    before = slice_frames(frames, Window(w.train.start - pd.Timedelta(days=1), w.train.end, "x"))
    with pytest.raises(WindowLeakError, match="outside the train window"):
        guard_train_frames(before, w.train, w.validation)


def test_a_coin_without_bars_in_the_window_is_an_error():
    w = evolution_windows("2024-03-31", 30)
    with pytest.raises(ValueError, match="LATE: 0 bar"):
        slice_frames({"LATE": hourly_frame("2024-03-25", 10)}, w.train)


def test_market_frames_join_funding_onto_bars_from_a_source():
    source = SyntheticSource(seed=3, coins=("BTC", "ETH"))
    frames = market_frames(source, ("BTC", "ETH"), "2024-01-01", "2024-01-03")
    funding = source.funding("BTC", pd.Timestamp("2024-01-01", tz="UTC"), pd.Timestamp("2024-01-03", tz="UTC"))
    btc = frames["BTC"]
    assert list(btc.columns) == ["open", "high", "low", "close", "volume", "funding_rate"]
    assert len(btc) == 48 and str(btc.index.tz) == "UTC"
    np.testing.assert_allclose(btc["funding_rate"].to_numpy(), funding["funding_rate"].to_numpy())


def test_join_funding_places_jittered_and_sparse_rates_on_the_next_bar():
    bars = hourly_frame("2024-01-01", 1).drop(columns="funding_rate")
    stamps = pd.DatetimeIndex(["2024-01-01 00:00:00.004", "2024-01-01 07:59:59.990", "2024-01-01 08:30"], tz="UTC")
    out = join_funding(bars, pd.Series([1e-4, 2e-4, 3e-4], index=stamps))
    rates = out["funding_rate"]
    assert rates.iloc[0] == 1e-4 and rates.iloc[8] == 2e-4 and rates.iloc[9] == 3e-4
    assert rates.drop(rates.index[[0, 8, 9]]).isna().all()  # NaN = no new rate, not a zero rate


def test_prepare_frames_refuses_frames_it_cannot_trust():
    good = hourly_frame("2024-01-01", 2)
    with pytest.raises(ValueError, match="tz-aware"):
        prepare_frames({"A": good.tz_localize(None)})
    with pytest.raises(ValueError, match="strictly increasing"):
        prepare_frames({"A": good.iloc[::-1]})
    with pytest.raises(ValueError, match=r"missing column\(s\) \['funding_rate'\]"):
        prepare_frames({"A": good.drop(columns="funding_rate")}, need_funding=True)
    with_column = prepare_frames({"A": good.reset_index(names="timestamp")})
    pd.testing.assert_frame_equal(with_column["A"], good, check_names=False, check_freq=False)
