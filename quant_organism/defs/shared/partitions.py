"""Partitions: daily × coin for market data, daily (evolution date) for everything downstream."""

from __future__ import annotations

import dagster as dg

from quant_organism import settings


def partition_settings() -> tuple[str, tuple[str, ...]]:
    """What the partitions below are built from: the first day and the coin universe (read from the environment)."""
    return settings.partitions_start_date(), tuple(settings.coins())


BUILT_FOR = partition_settings()  # load_definitions compares it with the environment of its call
daily_partitions = dg.DailyPartitionsDefinition(start_date=BUILT_FOR[0], timezone="UTC")
coin_partitions = dg.StaticPartitionsDefinition(list(BUILT_FOR[1]))
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
