"""The project's Definitions over a test data root, and the ingest a chain test starts from."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from quant_organism.definitions import load_definitions
from quant_organism.defs.shared.resources import project_resources


def project_definitions(data_dir: Path, **source) -> dg.Definitions:
    """Every asset, check and job of the project, with resources for `data_dir` (`source`: MarketSource fields)."""
    defs = load_definitions()
    return dg.Definitions(
        assets=defs.assets, asset_checks=defs.asset_checks, jobs=defs.jobs, resources=project_resources(data_dir, **source)
    )


def loaded_asset(key: dg.AssetKey) -> dg.AssetsDefinition:
    """The project's asset `key` as this environment's load builds it (its partitions follow the settings)."""
    return load_definitions().get_assets_def(key)


def ingest_coins(definitions: dg.Definitions, instance, coins, first: str, last: str) -> None:
    """One range run of `ingest_market_data` per coin over first..last, as a backfill does."""
    job = definitions.resolve_job_def("ingest_market_data")
    for coin in coins:
        tags = {"dagster/asset_partition_range_start": f"{coin}|{first}", "dagster/asset_partition_range_end": f"{coin}|{last}"}
        assert job.execute_in_process(instance=instance, tags=tags).success
