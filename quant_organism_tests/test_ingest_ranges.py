"""A backfill fetches a coin's consecutive days in one source call; every partition must still come out
exactly as a one-day run would write it: same bytes, same quarantine, same verdict.

The defects sit at day boundaries on purpose (a jump at midnight, a duplicate of the last bar of a
day, rows swapped across midnight, a row stamped outside every requested day), where grouping rows
by day is easiest to get wrong.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from quant_organism.market.ingest import (
    IngestFailure,
    IngestResult,
    consecutive_runs,
    ingest_candle_days,
    ingest_candles,
    ingest_funding,
    ingest_funding_days,
)
from quant_organism.market.lake import MarketLake
from quant_organism.market.schema import MarketDataError
from quant_organism.market.sources.files import FileSource
from quant_organism.market.sources.synthetic import SyntheticSource

DAYS = ["2024-05-10", "2024-05-11", "2024-05-12", "2024-05-13"]


def _defective_files(files: Path) -> Path:
    """BTC candles and funding for DAYS plus a day either side, with defects at the day boundaries."""
    source = SyntheticSource()
    bars = source.candles("BTC", "2024-05-09", "2024-05-15").reset_index(drop=True)
    funding = source.funding("BTC", "2024-05-09", "2024-05-15").reset_index(drop=True)
    midnight = 48  # index of 2024-05-11 00:00
    bars.loc[midnight, ["open", "high", "low", "close"]] *= 2.5  # implausible jump exactly at midnight
    bars.loc[midnight + 30, "close"] = np.nan
    swapped = list(range(len(bars)))
    swapped[midnight + 23], swapped[midnight + 24] = midnight + 24, midnight + 23  # 23:00 and 00:00 swapped
    bars = bars.iloc[swapped].reset_index(drop=True)
    last_of_day = bars.iloc[[midnight + 47]]  # a duplicate of a day's last bar, placed in the next day
    bars = pd.concat([bars.iloc[: midnight + 49], last_of_day, bars.iloc[midnight + 49 :]], ignore_index=True)
    funding.loc[midnight + 5, "funding_rate"] = 0.5
    funding = pd.concat([funding, funding.iloc[[midnight + 70]]], ignore_index=True)  # a late duplicate
    files.mkdir()
    out = bars.drop(columns="coin").assign(timestamp=bars["timestamp"].astype("int64") // 10**6)
    out.to_csv(files / "BTC_1h.csv", index=False)
    funding.drop(columns="coin").to_csv(files / "BTC_funding.csv", index=False)
    return files


def _files_of(lake: MarketLake) -> dict[str, bytes]:
    return {str(p.relative_to(lake.root)): p.read_bytes() for p in sorted(lake.root.rglob("*.parquet"))}


def test_range_ingest_writes_exactly_what_day_by_day_ingest_writes(tmp_path):
    source = FileSource(_defective_files(tmp_path / "files"))
    by_range, by_day = MarketLake(tmp_path / "range"), MarketLake(tmp_path / "day")
    with by_range.batch():
        ranged = ingest_candle_days(source, by_range, "BTC", DAYS) + ingest_funding_days(source, by_range, "BTC", DAYS)
    single = [ingest_candles(source, by_day, "BTC", d) for d in DAYS] + [ingest_funding(source, by_day, "BTC", d) for d in DAYS]

    assert all(isinstance(r, IngestResult) for r in ranged)
    assert [r.quality.report for r in ranged] == [r.quality.report for r in single]
    for a, b in zip(ranged, single):
        pd.testing.assert_frame_equal(a.clean, b.clean)
        pd.testing.assert_frame_equal(a.quality.quarantine, b.quality.quarantine)
    assert _files_of(by_range) == _files_of(by_day)  # data, quality metadata and quarantine, byte for byte

    # The defects were found where they were planted, and nothing was lost.
    reports = {(r.dataset, r.day): r.quality.report for r in ranged}
    assert reports["candles", "2024-05-11"].violations["implausible_jump"] == 1
    assert reports["candles", "2024-05-12"].violations["nan_value"] == 1
    assert reports["candles", "2024-05-12"].violations["duplicate_timestamp"] == 2
    assert reports["funding_rates", "2024-05-11"].violations["implausible_rate"] == 1
    assert reports["funding_rates", "2024-05-13"].violations["duplicate_timestamp"] == 2
    for report in reports.values():
        assert report.clean_rows + report.quarantined_rows == report.rows


def test_rows_outside_the_requested_days_are_quarantined_not_dropped():
    from quant_organism.market.quality import check_candle_days

    raw = SyntheticSource().candles("ETH", "2024-05-10", "2024-05-12")
    raw.loc[3, "timestamp"] -= pd.Timedelta(days=3)  # before the first day
    raw.loc[40, "timestamp"] += pd.Timedelta(days=5)  # after the last day
    first, second = check_candle_days(raw, "ETH", ["2024-05-10", "2024-05-11"])
    assert first.report.violations["outside_partition"] == 1 and second.report.violations["outside_partition"] == 1
    assert first.report.rows + second.report.rows == len(raw)
    assert first.report.clean_rows == second.report.clean_rows == 23  # only the stray rows: no knock-on "out_of_order"


def test_days_must_be_consecutive_for_one_check():
    from quant_organism.market.quality import check_candle_days

    raw = SyntheticSource().candles("ETH", "2024-05-10", "2024-05-12")
    with pytest.raises(ValueError, match="consecutive"):
        check_candle_days(raw, "ETH", ["2024-05-10", "2024-05-12"])


def test_gaps_between_requested_days_split_the_source_calls(tmp_path):
    assert list(consecutive_runs(["2024-05-13", "2024-05-10", "2024-05-11", "2024-05-11"])) == [
        ["2024-05-10", "2024-05-11"],
        ["2024-05-13"],
    ]
    calls: list[tuple[pd.Timestamp, pd.Timestamp]] = []

    class CountingSource(SyntheticSource):
        def candles(self, coin, start, end, interval="1h"):
            calls.append((pd.Timestamp(start), pd.Timestamp(end)))
            return super().candles(coin, start, end, interval)

    lake = MarketLake(tmp_path / "lake")
    outcomes = ingest_candle_days(CountingSource(), lake, "BTC", ["2024-05-10", "2024-05-11", "2024-05-13"])
    assert [o.day for o in outcomes] == ["2024-05-10", "2024-05-11", "2024-05-13"]
    assert calls == [
        (pd.Timestamp("2024-05-10", tz="UTC"), pd.Timestamp("2024-05-12", tz="UTC")),
        (pd.Timestamp("2024-05-13", tz="UTC"), pd.Timestamp("2024-05-14", tz="UTC")),
    ]
    assert not lake.partition_path("candles", "BTC", "2024-05-12").exists()


def test_a_failing_range_falls_back_to_days_and_loses_only_the_bad_day(tmp_path):
    bad_day = pd.Timestamp("2024-05-12", tz="UTC")

    class OneBadDay(SyntheticSource):
        """The exchange errors on any request that covers one particular day."""

        def candles(self, coin, start, end, interval="1h"):
            if pd.Timestamp(start) <= bad_day < pd.Timestamp(end):
                raise MarketDataError("HTTP 500 for 2024-05-12 (server storm)")
            return super().candles(coin, start, end, interval)

    lake, reference = MarketLake(tmp_path / "lake"), MarketLake(tmp_path / "reference")
    outcomes = ingest_candle_days(OneBadDay(), lake, "BTC", DAYS)
    assert [type(o).__name__ for o in outcomes] == ["IngestResult", "IngestResult", "IngestFailure", "IngestResult"]
    failure = outcomes[2]
    assert isinstance(failure, IngestFailure) and "server storm" in str(failure.error)
    quarantine = lake.quarantine("candles", "BTC", "2024-05-12")
    assert len(quarantine) == 1 and quarantine["reason"].iloc[0] == "source_error: HTTP 500 for 2024-05-12 (server storm)"
    for day in ("2024-05-10", "2024-05-11", "2024-05-13"):
        ingest_candles(SyntheticSource(), reference, "BTC", day)
        assert (
            lake.partition_path("candles", "BTC", day).read_bytes()
            == reference.partition_path("candles", "BTC", day).read_bytes()
        )
    assert not lake.partition_path("candles", "BTC", "2024-05-12").exists()


def test_a_failed_write_in_a_batch_commits_nothing(tmp_path):
    lake = MarketLake(tmp_path / "lake")
    ingest_candles(SyntheticSource(), lake, "BTC", DAYS[0])
    before = _files_of(lake)
    blocker = lake.partition_path("candles", "BTC", DAYS[2]).parent
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_text("a file where the partition's directory must go")
    with pytest.raises(OSError), lake.batch():
        ingest_candle_days(SyntheticSource(seed=8), lake, "BTC", DAYS)
    assert _files_of(lake) == before  # the first day is not replaced by the new seed's bars either
    assert not [p for p in lake.root.rglob("*.tmp")]
