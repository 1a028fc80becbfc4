"""Issue 15, finding 4 and the fuzz acceptance: the quality gate sees level shifts across days, reads
time units row by row, refuses bars after now, and no fuzzed file loses a row without a quarantine reason."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from quant_organism.market.ingest import IngestFailure, IngestResult, ingest_candle_days
from quant_organism.market.lake import MarketLake
from quant_organism.market.quality import check_candle_days
from quant_organism.market.schema import MarketDataError
from quant_organism.market.sources.files import FileSource
from quant_organism.market.sources.synthetic import SyntheticSource

DAYS = [f"2024-05-{d:02d}" for d in range(10, 24)]  # two weeks


def _bars(first: str = DAYS[0], days: int = len(DAYS)) -> pd.DataFrame:
    start = pd.Timestamp(first, tz="UTC")
    return SyntheticSource().candles("BTC", start, start + pd.Timedelta(days=days)).reset_index(drop=True)


def _write_csv(frame: pd.DataFrame, folder: Path, times: pd.Series | None = None) -> Path:
    folder.mkdir(exist_ok=True)
    out = frame.drop(columns="coin").assign(timestamp=(frame["timestamp"].astype("int64") // 10**6) if times is None else times)
    out.to_csv(folder / "BTC_1h.csv", index=False)
    return folder


def test_a_week_at_an_absurd_level_is_quarantined_day_after_day(tmp_path: Path) -> None:
    bars = _bars()
    week = (bars["timestamp"] >= pd.Timestamp(DAYS[3], tz="UTC")) & (bars["timestamp"] < pd.Timestamp(DAYS[10], tz="UTC"))
    for column in ("open", "high", "low", "close"):
        bars.loc[week, column] = 1e307
    lake = MarketLake(tmp_path / "lake")
    source = FileSource(_write_csv(bars, tmp_path / "files"))
    # one day at a time, as the nightly schedule ingests: the reference close comes from the lake
    outcomes = [ingest_candle_days(source, lake, "BTC", [day])[0] for day in DAYS]
    scores = {o.day: o.quality.report.score for o in outcomes if isinstance(o, IngestResult)}
    assert all(scores[d] == 0.0 for d in DAYS[3:10]), scores  # the whole shifted week, not just its first bar
    assert all(scores[d] == 1.0 for d in DAYS[:3] + DAYS[10:]), scores  # normal data before and after
    reasons = lake.quarantine("candles", "BTC", DAYS[5])["reason"]
    assert len(reasons) == 24 and reasons.str.contains("implausible").all()
    # and in one range call the result is the same
    ranged = ingest_candle_days(source, MarketLake(tmp_path / "lake2"), "BTC", DAYS)
    assert {o.day: o.quality.report.score for o in ranged} == scores


def test_mixed_time_units_read_row_by_row_and_truncated_epochs_are_quarantined(tmp_path: Path) -> None:
    bars = _bars(days=2)
    ms = bars["timestamp"].astype("int64") // 10**6
    times = ms.astype(object)
    times.iloc[::2] = (ms.iloc[::2] // 1000).astype(object)  # every other row in seconds
    times.iloc[5] = ms.iloc[5] // 10  # a truncated millisecond epoch: 1975
    lake = MarketLake(tmp_path / "lake")
    source = FileSource(_write_csv(bars, tmp_path / "files", times=times.astype("int64")))

    outcomes = ingest_candle_days(source, lake, "BTC", DAYS[:2])

    assert [o.quality.report.clean_rows for o in outcomes] == [23, 24]  # the mixed units all read right
    undated = lake.quarantine("candles", "BTC", "undated")
    assert len(undated) == 1 and undated["reason"].iloc[0].startswith("implausible_time: ")
    assert str(ms.iloc[5] // 10) in undated["reason"].iloc[0]


def test_bars_after_now_are_quarantined_and_the_synthetic_market_invents_no_future() -> None:
    bars = _bars(days=1)
    now = pd.Timestamp(DAYS[0], tz="UTC") + pd.Timedelta(hours=10, minutes=30)
    [result] = check_candle_days(bars, "BTC", DAYS[:1], now=now.value)
    assert result.report.clean_rows == 10  # bars opening 00:00..09:00 have closed by 10:30
    assert set(result.quarantine["reason"]) == {"future_bar"}

    today = pd.Timestamp.now(tz="UTC").floor("D")
    future = SyntheticSource().candles("BTC", today, today + pd.Timedelta(days=3))
    assert len(future) <= 24 and (future["timestamp"] + pd.Timedelta(hours=1) <= pd.Timestamp.now(tz="UTC")).all()


# --- fuzzed files ------------------------------------------------------------------------------------
def _fuzz(bars: pd.DataFrame, rng: np.random.Generator, kind: str) -> tuple[pd.DataFrame, pd.Series]:
    bars = bars.copy()
    times = (bars["timestamp"].astype("int64") // 10**6).astype("int64")
    n = len(bars)
    pick = rng.choice(n, size=max(1, n // 20), replace=False)
    if kind == "mixed_units":
        times.iloc[pick] //= 1000
    elif kind == "truncated_times":
        times.iloc[pick] //= 10 ** rng.integers(1, 4, size=len(pick))
    elif kind == "level_shift":
        start = int(rng.integers(0, n - 30))
        bars.loc[start : start + 29, ["open", "high", "low", "close"]] *= 10 ** float(rng.uniform(1, 300))
    elif kind == "nan_inf":
        bars.loc[pick, "close"] = rng.choice([np.nan, np.inf, -np.inf], size=len(pick))
    elif kind == "shuffled":
        order = rng.permutation(n)
        bars, times = bars.iloc[order].reset_index(drop=True), times.iloc[order].reset_index(drop=True)
    elif kind == "duplicate_days":
        extra = bars.iloc[24:48]
        bars = pd.concat([bars, extra], ignore_index=True)
        times = pd.concat([times, times.iloc[24:48]], ignore_index=True)
    return bars, times


@pytest.mark.parametrize(
    "kind", ["mixed_units", "truncated_times", "level_shift", "nan_inf", "shuffled", "duplicate_days", "truncated_file"]
)
@pytest.mark.parametrize("seed", [0, 1])
def test_fuzzed_files_never_crash_and_every_row_is_kept_or_quarantined_with_a_reason(
    tmp_path: Path, kind: str, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    bars, times = _fuzz(_bars(days=7), rng, kind)
    folder = _write_csv(bars, tmp_path / "files", times=times)
    if kind == "truncated_file":  # cut the file at a random byte, mid-row
        data = (folder / "BTC_1h.csv").read_bytes()
        (folder / "BTC_1h.csv").write_bytes(data[: int(rng.integers(len(data) // 2, len(data) - 5))])
    lake = MarketLake(tmp_path / "lake")
    try:
        outcomes = ingest_candle_days(FileSource(folder), lake, "BTC", DAYS[:7])
    except MarketDataError as error:  # a structural problem: a clear message naming the file
        assert "BTC_1h.csv" in str(error)
        return
    rows_in_file = len(pd.read_csv(folder / "BTC_1h.csv"))
    clean = sum(o.quality.report.clean_rows for o in outcomes if isinstance(o, IngestResult))
    quarantined = sum(len(lake.quarantine("candles", "BTC", day)) for day in [*DAYS[:7], "undated"])
    assert not any(isinstance(o, IngestFailure) for o in outcomes)
    assert clean + quarantined == rows_in_file  # nothing vanished
    for day in [*DAYS[:7], "undated"]:
        reasons = lake.quarantine("candles", "BTC", day).get("reason", pd.Series(dtype=object))
        assert reasons.astype(str).str.len().gt(0).all()
