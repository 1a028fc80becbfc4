"""Ingest one partition (one coin, one UTC day): fetch from a source, apply quality rules, write the lake.

This is the whole of what the `market/candles` and `market/funding_rates` assets do; the Dagster layer
only wires it up, and the ingest benchmark calls it directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from quant_organism.market.lake import MarketLake
from quant_organism.market.quality import QualityResult, check_candles, check_funding
from quant_organism.market.schema import MarketDataError, conform_candles, conform_funding
from quant_organism.market.sources.base import MarketDataSource


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


def day_bounds(day: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    start = pd.Timestamp(day, tz="UTC")
    return start, start + pd.Timedelta(days=1)


def _record_source_failure(lake: MarketLake, dataset: str, coin: str, day: str, error: Exception) -> None:
    """A partition the source could not deliver leaves a quarantine row saying why (nothing vanishes)."""
    row = pd.DataFrame([{"timestamp": pd.Timestamp(day, tz="UTC"), "coin": coin, "reason": f"source_error: {error}"}])
    lake.write_quarantine(dataset, coin, day, row)


def ingest_candles(source: MarketDataSource, lake: MarketLake, coin: str, day: str, interval: str = "1h") -> IngestResult:
    start, end = day_bounds(day)
    try:
        raw = conform_candles(source.candles(coin, start, end, interval))
    except MarketDataError as error:
        _record_source_failure(lake, "candles", coin, day, error)
        raise
    quality = check_candles(raw, coin, day, interval)
    quarantine_path = lake.write_quarantine("candles", coin, day, quality.quarantine)
    path = lake.write_partition("candles", coin, day, quality.clean, quality.report, interval)
    return IngestResult("candles", coin, day, path, quality, quarantine_path)


def ingest_funding(source: MarketDataSource, lake: MarketLake, coin: str, day: str) -> IngestResult:
    start, end = day_bounds(day)
    try:
        raw = conform_funding(source.funding(coin, start, end))
    except MarketDataError as error:
        _record_source_failure(lake, "funding_rates", coin, day, error)
        raise
    quality = check_funding(raw, coin, day)
    quarantine_path = lake.write_quarantine("funding_rates", coin, day, quality.quarantine)
    path = lake.write_partition("funding_rates", coin, day, quality.clean, quality.report)
    return IngestResult("funding_rates", coin, day, path, quality, quarantine_path)
