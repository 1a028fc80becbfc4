"""Partitions: daily × coin for market data, daily (evolution date) for everything downstream, hourly for the paper
bars. They span the data: from the first day (`QUANT_ORGANISM_START_DATE`) to where the data end, so the UI never
calls a day the lake cannot have "missing"."""

from __future__ import annotations

import dagster as dg
import pandas as pd

from quant_organism import settings
from quant_organism.market.lake import MarketLake


def partitions_end() -> str | None:
    """The last day of the partitions: `QUANT_ORGANISM_END_DATE` when set; for the exchange (a live source), None:
    every complete day, as its nightly ingest adds them; for the synthetic market and the files (a history that
    ends where it was ingested), the lake's last day, or None for an empty lake (a first ingest may ask any day).
    The command line moves it to the end of the days it ingests (`cli/launch.py`)."""
    fixed = settings.partitions_end_date()
    if fixed or settings.source_name() == "hyperliquid":
        return fixed
    last = MarketLake(settings.lake_dir()).last_stored_day("candles", settings.coins(), settings.interval())
    return last.isoformat() if last else None


def partition_settings() -> tuple[str, tuple[str, ...], str | None]:
    """What the partitions below are built from: the first day, the coin universe and the last day."""
    return settings.partitions_start_date(), tuple(settings.coins()), partitions_end()


def end_after(end: str | None) -> str | None:
    """Dagster's exclusive end for partitions whose last day is `end` (the next midnight)."""
    return (pd.Timestamp(end) + pd.Timedelta(days=1)).strftime("%Y-%m-%d") if end else None


BUILT_FOR = partition_settings()  # load_definitions compares it with the environment of its call
START, COINS, LAST = BUILT_FOR
END = end_after(max(LAST, START)) if LAST else None  # Dagster's exclusive end; a lake ending before the start: one day
daily_partitions = dg.DailyPartitionsDefinition(start_date=START, end_date=END, timezone="UTC")
hourly_partitions = dg.HourlyPartitionsDefinition(
    start_date=f"{START}-00:00", end_date=f"{END}-00:00" if END else None, timezone="UTC"
)
coin_partitions = dg.StaticPartitionsDefinition(list(COINS))
market_partitions = dg.MultiPartitionsDefinition({"date": daily_partitions, "coin": coin_partitions})
# A daily asset depends on every coin's market partition of its day.
all_coins_of_day = dg.MultiToSingleDimensionPartitionMapping(partition_dimension_name="date")


def lookback_days(days: int) -> dg.TimeWindowPartitionMapping:
    """A daily asset's dependency on the `days` daily partitions ending on its own (what a lookback reads)."""
    return dg.TimeWindowPartitionMapping(start_offset=-(days - 1), end_offset=0)


def partition_coin_day(key: str | dg.MultiPartitionKey) -> tuple[str, str]:
    """(coin, day) of a date × coin partition key ('BTC|2024-01-01' or a MultiPartitionKey)."""
    if isinstance(key, dg.MultiPartitionKey):
        dims = key.keys_by_dimension
        return dims["coin"], dims["date"]
    coin, day = str(key).split("|")  # dimensions are ordered by name: coin, date
    return coin, day
