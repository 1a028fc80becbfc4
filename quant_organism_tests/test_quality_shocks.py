"""The quality gate tells a genuine large move from a bad print (issue 23).

Real shocks from the real Hyperliquid files: XRP +74% on 2023-07-13 (the SEC ruling), DOGE +390% on
2021-01-28 and SOL -51% on 2022-11-09 (FTX) as daily bars, and XRP's +17% hour of 2025-03-02 15:00 scaled up
past the threshold. On the old gate each of them quarantined every later bar until the price came back, so
the coin fell below the coverage threshold and left the universe. Planted bad prints must still be caught.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from quant_organism.market.ingest import IngestResult, ingest_candle_days
from quant_organism.market.lake import MarketLake
from quant_organism.market.quality import MAX_ABS_LOG_JUMP, check_candle_days
from quant_organism.market.sources.files import FileSource
from quant_organism.market.sources.synthetic import SyntheticSource

PRICES = ["open", "high", "low", "close"]


def _days(first: str, count: int) -> list[str]:
    return [d.strftime("%Y-%m-%d") for d in pd.date_range(first, periods=count, freq="D")]


def _write(frame: pd.DataFrame, folder: Path, coin: str, interval: str) -> FileSource:
    folder.mkdir(exist_ok=True)
    frame.drop(columns="coin").assign(timestamp=frame["timestamp"].astype("int64") // 10**6).to_csv(
        folder / f"{coin}_{interval}.csv", index=False
    )
    return FileSource(folder)


def _ingest_day_by_day(source: FileSource, lake: MarketLake, coin: str, days: list[str], interval: str) -> dict:
    """As the nightly schedule ingests: one day per run, the reference close read from the lake."""
    outcomes = [ingest_candle_days(source, lake, coin, [day], interval)[0] for day in days]
    assert all(isinstance(o, IngestResult) for o in outcomes)
    return {o.day: o.quality.report for o in outcomes}


@pytest.mark.parametrize(
    ("coin", "shock_day", "move"),
    [
        ("XRP", "2023-07-13", 0.557),
        ("DOGE", "2021-01-28", 1.589),
        ("SOL", "2022-11-09", -0.711),
    ],
)
def test_real_daily_shocks_are_accepted_with_a_flag(market_data_dir, tmp_path, coin, shock_day, move):
    days = _days((pd.Timestamp(shock_day) - pd.Timedelta(days=5)).strftime("%Y-%m-%d"), 40)
    real = FileSource(market_data_dir).candles(coin, days[0], pd.Timestamp(days[-1]) + pd.Timedelta(days=1), "1d")
    shock = real[real["timestamp"] == pd.Timestamp(shock_day, tz="UTC")].index[0]
    assert np.log(real.loc[shock, "close"] / real.loc[shock - 1, "close"]) == pytest.approx(move, abs=5e-3)
    assert abs(move) > MAX_ABS_LOG_JUMP  # a real move past the threshold, not a planted one

    reports = _ingest_day_by_day(_write(real, tmp_path / "files", coin, "1d"), MarketLake(tmp_path / "lake"), coin, days, "1d")

    assert all(r.score == 1.0 for r in reports.values()), {d: r.score for d, r in reports.items() if r.score < 1}
    assert reports[shock_day].flags == {"large_move": 1}
    assert sum(r.flags.get("large_move", 0) for r in reports.values()) >= 1
    stored, _ = MarketLake(tmp_path / "lake").read(
        "candles", [coin], days[0], pd.Timestamp(days[-1]) + pd.Timedelta(days=1), "1d"
    )
    assert len(stored) == len(days)  # the coin keeps its whole history: no survivorship hole after the shock


def test_a_real_hourly_shock_scaled_past_the_threshold_is_accepted_day_by_day_and_in_one_range(market_data_dir, tmp_path):
    days = _days("2025-03-01", 4)
    bars = FileSource(market_data_dir).candles("XRP", days[0], pd.Timestamp(days[-1]) + pd.Timedelta(days=1), "1h")
    bars = bars.reset_index(drop=True)
    at = bars.index[bars["timestamp"] == pd.Timestamp("2025-03-02 15:00", tz="UTC")][0]
    real_move = np.log(bars.loc[at, "close"] / bars.loc[at - 1, "close"])
    assert real_move > 0.15  # the hour of the US crypto-reserve post
    factor = np.exp(0.65 - real_move)  # the same hour, as a move of 0.65 in log: within the bar, then held
    bars.loc[at, ["high", "close"]] *= factor
    bars.loc[at + 1 :, PRICES] *= factor

    source = _write(bars, tmp_path / "files", "XRP", "1h")
    by_day = _ingest_day_by_day(source, MarketLake(tmp_path / "day"), "XRP", days, "1h")
    in_range = {o.day: o.quality.report for o in ingest_candle_days(source, MarketLake(tmp_path / "range"), "XRP", days, "1h")}

    assert by_day == in_range
    assert [r.score for r in by_day.values()] == [1.0, 1.0, 1.0, 1.0]
    assert by_day["2025-03-02"].flags == {"large_move": 1} and by_day["2025-03-02"].violations["implausible_jump"] == 0


def _day(coin: str = "ETH", day: str = "2024-05-11") -> pd.DataFrame:
    start = pd.Timestamp(day, tz="UTC")
    return SyntheticSource().candles(coin, start, start + pd.Timedelta(days=1)).reset_index(drop=True)


@pytest.mark.parametrize(
    ("row", "columns", "why"),
    [
        (9, PRICES, "a whole bar at ten times the price, then back"),
        (9, ["high", "close"], "a fat-finger close inside an ordinary bar, then back"),
        (23, PRICES, "the day's last bar opens at ten times the price (no later bar to revert)"),
        (0, PRICES, "the day's first bar, judged against the lake's last close"),
    ],
)
def test_planted_bad_prints_are_quarantined_with_their_reason(row, columns, why):
    raw = _day()
    previous_close = float(raw.loc[0, "open"])
    raw.loc[row, columns] *= 10.0
    [result] = check_candle_days(raw, "ETH", ["2024-05-11"], previous_close=previous_close)
    assert list(result.quarantine["timestamp"]) == [raw.loc[row, "timestamp"]], why
    assert list(result.quarantine["reason"]) == ["implausible_jump"]
    assert result.report.flags == {} and result.report.clean_rows == 23


def test_a_shock_that_trades_through_the_days_last_bar_is_accepted():
    raw = _day()
    raw.loc[23, ["high", "close"]] *= 2.0  # opens where the last bar closed, closes twice as high
    [result] = check_candle_days(raw, "ETH", ["2024-05-11"])
    assert result.report.flags == {"large_move": 1} and result.report.clean_rows == 24
