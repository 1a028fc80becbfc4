"""Partitions: daily × coin for market data, daily (evolution date) for everything downstream, hourly for the paper
bars. They span the data: from the first day (`QUANT_ORGANISM_START_DATE`) to where the data end, so the UI never
calls a day the lake cannot have "missing".

They are built from the project's settings when the definitions load (`definitions.build_definitions`), never at
import: a module declares a partitioned asset with `partitioned(...)`, naming which partitions it takes, and each
load builds it on the partitions of that load's settings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import dagster as dg
import pandas as pd

from quant_organism import settings
from quant_organism.market.lake import MarketLake
from quant_organism.settings import ProjectSettings


def partitions_end(project: ProjectSettings | None = None) -> str | None:
    """The last day of the partitions: `QUANT_ORGANISM_END_DATE` when set; for the exchange (a live source), None:
    every complete day, as its nightly ingest adds them; for the synthetic market and the files (a history that
    ends where it was ingested), the lake's last day, or None for an empty lake (a first ingest may ask any day).
    The command line moves it to the end of the days it ingests (`cli/launch.py`)."""
    project = project or ProjectSettings.from_environment()
    if project.end_date or project.source == "hyperliquid":
        return project.end_date
    last = MarketLake(project.data_dir / "lake").last_stored_day("candles", project.coins, project.interval)
    return last.isoformat() if last else None


def end_after(end: str | None) -> str | None:
    """Dagster's exclusive end for partitions whose last day is `end` (the next midnight)."""
    return (pd.Timestamp(end) + pd.Timedelta(days=1)).strftime("%Y-%m-%d") if end else None


@dataclass(frozen=True)
class ProjectPartitions:
    """The partitions of one load: from the project's first day to `last` (None: open), over its coins."""

    project: ProjectSettings
    last: str | None

    @property
    def end(self) -> str | None:
        """Dagster's exclusive end; a lake ending before the start: one day."""
        return end_after(max(self.last, self.project.start_date)) if self.last else None

    @cached_property
    def daily(self) -> dg.DailyPartitionsDefinition:
        return dg.DailyPartitionsDefinition(start_date=self.project.start_date, end_date=self.end, timezone="UTC")

    @cached_property
    def hourly(self) -> dg.HourlyPartitionsDefinition:
        end = f"{self.end}-00:00" if self.end else None
        return dg.HourlyPartitionsDefinition(start_date=f"{self.project.start_date}-00:00", end_date=end, timezone="UTC")

    @cached_property
    def market(self) -> dg.MultiPartitionsDefinition:
        coins = dg.StaticPartitionsDefinition(list(self.project.coins))
        return dg.MultiPartitionsDefinition({"date": self.daily, "coin": coins})


def open_daily() -> dg.DailyPartitionsDefinition:
    """Daily partitions from the first day with no end: what a condition needs to ask a day's status, without
    reading the lake for the end on every evaluation."""
    return dg.DailyPartitionsDefinition(start_date=settings.partitions_start_date(), timezone="UTC")


@dataclass(frozen=True)
class Partitioned:
    """A definition (`dg.asset`, `dg.asset_check`) whose partitions are chosen from a load's `ProjectPartitions`."""

    decorator: Callable[..., Callable]
    choose: Callable[[ProjectPartitions], dg.PartitionsDefinition]
    fn: Callable
    arguments: dict[str, Any]

    def build(self, parts: ProjectPartitions):
        return self.decorator(partitions_def=self.choose(parts), **self.arguments)(self.fn)


DECLARED: list[Partitioned] = []  # every partitioned definition the defs modules declared, in import order


def partitioned(decorator: Callable[..., Callable], partitions: str | Callable[[ProjectPartitions], Any], **arguments: Any):
    """Declare `fn` as `decorator(partitions_def=<the load's partitions>, **arguments)`: `partitions` names a
    `ProjectPartitions` property (daily, hourly, market) or is a function of them."""
    choose = partitions if callable(partitions) else (lambda parts: getattr(parts, partitions))

    def declare(fn: Callable) -> Partitioned:
        declared = Partitioned(decorator, choose, fn, arguments)
        DECLARED.append(declared)
        return declared

    return declare


def build_partitioned(parts: ProjectPartitions) -> dg.Definitions:
    """Every declared partitioned definition, built on `parts`."""
    built = [declared.build(parts) for declared in DECLARED]
    checks = [b for b in built if isinstance(b, dg.AssetChecksDefinition)]
    return dg.Definitions(assets=[b for b in built if b not in checks], asset_checks=checks)


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
