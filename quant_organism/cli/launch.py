"""Launches the project's jobs on a persistent Dagster instance: what the README's main command runs.

Market data is ingested as one run per coin over a date range (a single-run backfill), so a year of
hourly bars for five coins takes seconds rather than one run per partition.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from functools import lru_cache

import dagster as dg
import pandas as pd

from quant_organism import settings
from quant_organism.automation.job_names import EVOLVE_JOBS_BY_PRESET, INGEST_JOB, PAPER_JOB

log = logging.getLogger("quant_organism")

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


@dataclass
class IngestSummary:
    coin: str
    start: str
    end: str
    success: bool
    run_id: str


def default_end_date() -> str:
    """The last complete UTC day."""
    return (pd.Timestamp.now(tz="UTC").floor("D") - pd.Timedelta(days=1)).strftime("%Y-%m-%d")


def date_window(end: str | None, days: int) -> tuple[str, str]:
    """[first, last] days of a window of `days` days ending on `end`, clipped to the partitions' start."""
    last = pd.Timestamp(end or default_end_date())
    first = max(last - pd.Timedelta(days=days - 1), pd.Timestamp(settings.partitions_start_date()))
    return first.strftime("%Y-%m-%d"), last.strftime("%Y-%m-%d")


INSTANCE_YAML = """\
# Written by quant_organism. A consolidated SQLite event log: per-run shard databases cost a new
# connection and fsync per event, which made a year-long ingest minutes instead of seconds.
event_log_storage:
  module: dagster._core.storage.event_log
  class: ConsolidatedSqliteEventLogStorage
  config:
    base_dir: {home}/history
telemetry:
  enabled: false
"""


def prepare_dagster_home() -> str:
    """Create DAGSTER_HOME under the data root with the project's instance settings; export it."""
    home = settings.dagster_home()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(INSTANCE_YAML.format(home=home))
    os.environ["DAGSTER_HOME"] = str(home)
    return str(home)


def persistent_instance() -> dg.DagsterInstance:
    """The Dagster instance under the data root (the UI command uses the same DAGSTER_HOME)."""
    prepare_dagster_home()
    return dg.DagsterInstance.get()


@lru_cache(maxsize=1)
def _definitions() -> dg.Definitions:
    """The project's definitions, loaded once per CLI process (the environment does not change in it)."""
    from quant_organism.definitions import load_definitions

    return load_definitions()


def ingest(instance: dg.DagsterInstance, first: str, last: str, coins: tuple[str, ...] | None = None) -> list[IngestSummary]:
    """Materialise candles and funding rates for every coin over [first, last], one run per coin."""
    job = _definitions().resolve_job_def(INGEST_JOB)
    summaries = []
    for coin in coins or settings.coins():
        tags = {RANGE_START_TAG: f"{coin}|{first}", RANGE_END_TAG: f"{coin}|{last}"}
        result = job.execute_in_process(instance=instance, tags=tags, raise_on_error=False)
        summaries.append(IngestSummary(coin, first, last, result.success, result.run_id))
        log.info("ingest %s %s..%s: %s (run %s)", coin, first, last, "ok" if result.success else "FAILED", result.run_id)
    return summaries


def evolve(instance: dg.DagsterInstance, day: str, preset: str = "full") -> dg.ExecuteInProcessResult:
    """Run the evolution chain (population -> configs -> validated -> deployed -> report) for `day`."""
    job = _definitions().resolve_job_def(EVOLVE_JOBS_BY_PRESET[preset])
    result = job.execute_in_process(instance=instance, partition_key=day, raise_on_error=False)
    log.info("evolve %s (%s preset): %s (run %s)", day, preset, "ok" if result.success else "FAILED", result.run_id)
    return result


def paper_trade(instance: dg.DagsterInstance, day: str) -> dg.ExecuteInProcessResult:
    """Paper-trade the deployed set on `day`'s bars (the `paper_trade` job for that partition)."""
    job = _definitions().resolve_job_def(PAPER_JOB)
    result = job.execute_in_process(instance=instance, partition_key=day, raise_on_error=False)
    log.info("paper %s: %s (run %s)", day, "ok" if result.success else "FAILED", result.run_id)
    return result
