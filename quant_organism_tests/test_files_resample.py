"""Bars built from a finer file (a 1h history from 15m or 1m downloads): only from complete, sound runs of
sub-bars, checked against the exchange's own coarser bars on real data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from quant_organism.market.schema import CANDLE_COLUMNS, MarketDataError
from quant_organism.market.sources.files import FileSource
from quant_organism.market.sources.resample import finer_interval, interval_of_token, resample_candles

ALL_TIME = (pd.Timestamp("2000-01-01", tz="UTC"), pd.Timestamp("2100-01-01", tz="UTC"))
T0 = pd.Timestamp("2024-01-01", tz="UTC")
MIN15 = pd.Timedelta(minutes=15)
HOUR = pd.Timedelta(hours=1)


def quarter_hours(n: int, start: pd.Timestamp = T0) -> pd.DataFrame:
    """n 15m bars: bar i opens at 100 + i, high +2, low -1, closes +1, volume 10 + i."""
    i = np.arange(n, dtype=float)
    return pd.DataFrame(
        {
            "timestamp": pd.date_range(start, periods=n, freq="15min", tz="UTC"),
            "coin": "BTC",
            "open": 100 + i,
            "high": 102 + i,
            "low": 99 + i,
            "close": 101 + i,
            "volume": 10 + i,
        }
    )


def test_an_hour_is_its_four_quarters_open_first_high_max_low_min_close_last_volume_summed() -> None:
    out = resample_candles(quarter_hours(8), MIN15, HOUR)
    assert list(out.frame.columns) == list(CANDLE_COLUMNS) and out.left_out == 0
    assert list(out.frame["timestamp"]) == [T0, T0 + HOUR]
    first = out.frame.iloc[0]
    assert (first.open, first.high, first.low, first.close, first.volume) == (100, 105, 99, 104, 10 + 11 + 12 + 13)


@pytest.mark.parametrize(
    ("spoil", "why"),
    [
        (lambda f: f.drop(index=5), "a quarter missing"),
        (lambda f: pd.concat([f, f.iloc[[5]]]), "a quarter twice"),
        (lambda f: f.assign(high=np.where(f.index == 5, 50.0, f.high)), "a high below its open"),
        (lambda f: f.assign(close=np.where(f.index == 5, np.nan, f.close)), "a close that is not a number"),
        (lambda f: f.assign(low=np.where(f.index == 5, 0.0, f.low)), "a price that is not positive"),
        (lambda f: f.assign(timestamp=f.timestamp.where(f.index != 5, f.timestamp + pd.Timedelta(minutes=7))), "off grid"),
    ],
)
def test_an_hour_with_a_spoilt_quarter_is_not_built_and_is_counted(spoil, why) -> None:
    out = resample_candles(spoil(quarter_hours(12)), MIN15, HOUR)
    assert list(out.frame["timestamp"]) == [T0, T0 + 2 * HOUR], why  # the second hour (quarters 4..7) left out
    assert out.left_out == 1, why


def test_rows_out_of_order_build_the_same_bars_and_coarse_bars_sit_on_the_utc_grid() -> None:
    bars = quarter_hours(16 * 6 + 8, start=T0 - pd.Timedelta(hours=2))  # from 22:00 the day before
    shuffled = bars.sample(frac=1.0, random_state=3)
    pd.testing.assert_frame_equal(resample_candles(shuffled, MIN15, HOUR).frame, resample_candles(bars, MIN15, HOUR).frame)
    four = resample_candles(bars, MIN15, pd.Timedelta(hours=4))
    assert four.frame["timestamp"].iloc[0] == T0 and four.left_out == 1  # 20:00-24:00 the day before lacks 20:00-22:00
    assert (four.frame["timestamp"].dt.hour % 4 == 0).all()


@pytest.mark.parametrize(
    ("available", "interval", "chosen"),
    [
        ({"1m", "5m", "15m"}, "1h", "15m"),
        ({"30m"}, "1h", "30m"),
        ({"7m"}, "1h", None),  # does not divide an hour
        ({"4h", "1d"}, "1h", None),  # coarser
        ({"1M"}, "1d", None),  # a month is no fixed length
        ({"1h", "2h"}, "4h", "2h"),
        ({"1h"}, "1d", "1h"),
    ],
)
def test_the_coarsest_finer_interval_that_divides_is_chosen(available, interval, chosen) -> None:
    assert finer_interval(available, interval) == chosen
    assert interval_of_token("15m") == MIN15 and interval_of_token("1M") is None and interval_of_token("xh") is None


def write_15m(path: Path, bars: pd.DataFrame) -> Path:
    frame = bars.assign(timestamp_ms=bars.timestamp.astype("int64") // 10**6)
    frame[["timestamp_ms", "open", "high", "low", "close", "volume"]].to_csv(path, index=False)
    return path


def test_the_files_source_builds_hours_from_a_15m_file_and_says_so_and_a_1h_file_wins(tmp_path: Path) -> None:
    bars = quarter_hours(4 * 48 + 2).drop(index=9)  # two days and half an hour; one quarter missing
    write_15m(tmp_path / "BTC_15m.csv", bars)
    source = FileSource(tmp_path)
    out = source.candles("BTC", *ALL_TIME, interval="1h")
    assert len(out) == 47 and (out["timestamp"].diff().dropna() >= HOUR).all()
    assert source.history_start("BTC") == T0 and source.history_end("BTC") == T0 + 47 * HOUR
    note = source.history_note("BTC", "1h")
    assert note.startswith("BTC: 1h bars built from its 15m file(s), 47 bars; 2 1h bar(s) not built")
    assert source.history_note("BTC", "15m") is None
    assert source.whole_days("BTC", "1h") == (T0, T0 + pd.Timedelta(days=1))

    pd.DataFrame(
        {"timestamp_ms": [T0.value // 10**6], "open": [1], "high": [2], "low": [0.5], "close": [1.5], "volume": [3]}
    ).to_csv(tmp_path / "BTC_1h.csv", index=False)
    assert len(source.candles("BTC", *ALL_TIME, interval="1h")) == 1  # a file at the interval itself is used as is
    with pytest.raises(MarketDataError, match=r"no candle file for BTC at interval 1m \(nor at a finer one"):
        source.candles("BTC", *ALL_TIME, interval="1m")


def test_a_finer_file_whose_bars_are_not_what_its_name_says_is_refused(tmp_path: Path) -> None:
    hourly = quarter_hours(8).assign(timestamp=pd.date_range(T0, periods=8, freq="h", tz="UTC"))
    write_15m(tmp_path / "BTC_15m.csv", hourly)
    with pytest.raises(MarketDataError, match=r"bars are 0 days 01:00:00 apart \(median\), not the 15m its name says"):
        FileSource(tmp_path).history_start("BTC", "1h")


@pytest.mark.parametrize("interval", ["4h", "1d"])
def test_bars_built_from_the_real_hourly_file_are_hyperliquids_own(tmp_path: Path, market_data_dir: Path, interval: str) -> None:
    """Built from Hyperliquid's real 1h BTC bars, the 4h and 1d bars are the exchange's own 4h and 1d bars, to
    the last digit, on every bar but one: on 2025-04-20 the exchange's 4h and 1d bars start at 10:00, leaving out
    its own 08:00 and 09:00 hourly bars (their open and volume differ; close, high and low agree)."""
    real = market_data_dir / "hyperliquid__BTC_1h.csv"
    (tmp_path / real.name).symlink_to(real)
    built = FileSource(tmp_path).candles("BTC", *ALL_TIME, interval=interval).set_index("timestamp")
    own = FileSource(market_data_dir).candles("BTC", *ALL_TIME, interval=interval).set_index("timestamp")
    both = built.join(own, rsuffix="_own", how="inner")
    assert len(both) == len(built) > {"4h": 1900, "1d": 320}[interval]
    differ = {
        c: both.index[(both[c] - both[f"{c}_own"]).abs() > 1e-9 * both[f"{c}_own"].abs()]
        for c in ("open", "high", "low", "close", "volume")
    }
    assert differ["close"].empty and differ["low"].empty
    quirk = pd.Timestamp("2025-04-20 08:00" if interval == "4h" else "2025-04-20", tz="UTC")
    assert list(differ["open"]) == list(differ["volume"]) == [quirk]
    assert set(differ["high"]) <= {quirk}
