"""Ingest partitions (one coin, one UTC day each): fetch from a source, apply quality rules, write the lake.

This is the whole of what the `market/candles` and `market/funding_rates` assets do; the Dagster layer
only wires it up, and the ingest benchmark calls it directly.

A run of many partitions (a backfill) fetches each coin's consecutive days in one source call and
checks them from that one frame; every day is still judged and written as its own partition, exactly
as a one-day run would (see market/quality.py). If the range call fails, the days are fetched one by
one, so a single bad day costs only its own partition and leaves a quarantine row saying why.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from quant_organism.market.lake import MarketLake
from quant_organism.market.quality import QualityResult, check_candle_days, check_funding_days
from quant_organism.market.schema import MarketDataError, conform_candles, conform_funding
from quant_organism.market.sources.interface import MarketDataSource

DAY = pd.Timedelta(days=1)
UNDATED = "undated"  # the quarantine partition of rows whose time no day can hold


@dataclass
class IngestResult:
    dataset: str
    coin: str
    day: str
    path: Path
    quality: QualityResult
    quarantine_path: Path | None

    @property
    def clean(self) -> pd.DataFrame:
        return self.quality.clean


@dataclass
class IngestFailure:
    """A partition the source could not deliver (its quarantine row holds the same reason)."""

    dataset: str
    coin: str
    day: str
    error: MarketDataError


def day_bounds(day: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    start = pd.Timestamp(day, tz="UTC")
    return start, start + DAY


def consecutive_runs(days: list[str]) -> Iterator[list[str]]:
    """Split sorted, distinct days into runs of consecutive days (each run is one source call)."""
    run: list[str] = []
    for day in sorted(set(days)):
        if run and pd.Timestamp(day) - pd.Timestamp(run[-1]) != DAY:
            yield run
            run = []
        run.append(day)
    if run:
        yield run


def _record_source_failure(lake: MarketLake, dataset: str, coin: str, day: str, error: Exception) -> None:
    """A partition the source could not deliver leaves a quarantine row saying why (nothing vanishes)."""
    row = pd.DataFrame([{"timestamp": pd.Timestamp(day, tz="UTC"), "coin": coin, "reason": f"source_error: {error}"}])
    lake.write_quarantine(dataset, coin, day, row)


def _ingest_days(
    lake: MarketLake,
    dataset: str,
    coin: str,
    days: list[str],
    fetch: Callable[[pd.Timestamp, pd.Timestamp], pd.DataFrame],
    check: Callable[[pd.DataFrame, list[str]], list[QualityResult]],
    interval: str = "1h",
) -> list[IngestResult | IngestFailure]:
    """Every day of `days`, in order, as an IngestResult, or an IngestFailure where the source failed."""
    outcomes: list[IngestResult | IngestFailure] = []
    for run in consecutive_runs(days):
        start, end = day_bounds(run[0])[0], day_bounds(run[-1])[1]
        try:
            qualities = check(fetch(start, end), run)
        except MarketDataError as error:
            if len(run) == 1:
                _record_source_failure(lake, dataset, coin, run[0], error)
                outcomes.append(IngestFailure(dataset, coin, run[0], error))
                continue
            # The range failed as a whole: retry day by day so that only the bad days are lost.
            outcomes.extend(_ingest_days(lake, dataset, coin, [d], fetch, check, interval)[0] for d in run)
            continue
        for day, quality in zip(run, qualities):
            quarantine_path = lake.write_quarantine(dataset, coin, day, quality.quarantined)
            path = lake.write_partition(dataset, coin, day, quality.table, quality.report, interval)
            outcomes.append(IngestResult(dataset, coin, day, path, quality, quarantine_path))
    return outcomes


def ingest_candle_days(
    source: MarketDataSource, lake: MarketLake, coin: str, days: list[str], interval: str = "1h"
) -> list[IngestResult | IngestFailure]:
    """Candle partitions of one coin for `days` (one source call per run of consecutive days)."""
    quarantine_undated(source, lake, "candles", coin)
    return _ingest_days(
        lake,
        "candles",
        coin,
        days,
        lambda start, end: conform_candles(source.candles(coin, start, end, interval)),
        lambda frame, run: check_candle_days(frame, coin, run, interval, previous_close=lake.last_close(coin, run[0], interval)),
        interval,
    )


def ingest_funding_days(
    source: MarketDataSource, lake: MarketLake, coin: str, days: list[str]
) -> list[IngestResult | IngestFailure]:
    """Funding-rate partitions of one coin for `days` (one source call per run of consecutive days)."""
    quarantine_undated(source, lake, "funding_rates", coin)
    return _ingest_days(
        lake,
        "funding_rates",
        coin,
        days,
        lambda start, end: conform_funding(source.funding(coin, start, end)),
        lambda frame, run: check_funding_days(frame, coin, run),
    )


def quarantine_undated(source: MarketDataSource, lake: MarketLake, dataset: str, coin: str) -> int:
    """Quarantine the source's rows of `coin` that no day can hold (partition `date=undated`); the count."""
    try:
        rows = source.undated_rows(coin, dataset)
    except MarketDataError:
        return 0  # the file itself is the problem; its error is already quarantined per day
    if rows is None:
        return 0
    lake.write_quarantine(dataset, coin, UNDATED, rows)
    return len(rows)


def _single(outcomes: list[IngestResult | IngestFailure]) -> IngestResult:
    (outcome,) = outcomes
    if isinstance(outcome, IngestFailure):
        raise outcome.error
    return outcome


def ingest_candles(source: MarketDataSource, lake: MarketLake, coin: str, day: str, interval: str = "1h") -> IngestResult:
    """One candle partition; raises MarketDataError (after quarantining the reason) if the source fails."""
    return _single(ingest_candle_days(source, lake, coin, [day], interval))


def ingest_funding(source: MarketDataSource, lake: MarketLake, coin: str, day: str) -> IngestResult:
    """One funding partition; raises MarketDataError (after quarantining the reason) if the source fails."""
    return _single(ingest_funding_days(source, lake, coin, [day]))
