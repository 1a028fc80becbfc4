"""Resources: the market source (synthetic | hyperliquid | files) and the DuckDB catalogue."""

from __future__ import annotations

from functools import lru_cache
from typing import Optional

import dagster as dg
from dagster_duckdb import DuckDBResource
from pydantic import Field

from quant_organism import settings
from quant_organism.market.lake import MarketLake
from quant_organism.market.sources import MarketDataSource, make_source


@lru_cache(maxsize=8)
def _cached_source(kind: str, seed: int, coins: tuple[str, ...], files_dir: Optional[str], base_url: Optional[str]) -> MarketDataSource:
    # One client per configuration and process: the synthetic simulation and parsed files are reused
    # across the partitions that one process materialises.
    return make_source(kind, seed=seed, coins=coins, files_dir=files_dir, base_url=base_url)


class MarketSource(dg.ConfigurableResource):
    """Where market data comes from. `source` picks the implementation (default from QUANT_ORGANISM_SOURCE)."""

    source: str = Field(default="synthetic", description="synthetic | hyperliquid | files")
    seed: int = Field(default=7, description="seed of the synthetic market")
    files_dir: Optional[str] = Field(default=None, description="directory of candle/funding files (files source)")
    base_url: Optional[str] = Field(default=None, description="Hyperliquid API URL (default mainnet; read-only info calls)")
    interval: str = Field(default="1h", description="bar interval")

    def client(self) -> MarketDataSource:
        return _cached_source(self.source, self.seed, tuple(settings.coins()), self.files_dir, self.base_url)


class LakeResource(dg.ConfigurableResource):
    """The Parquet lake under the data root."""

    root: str = Field(description="lake root directory")

    def lake(self) -> MarketLake:
        return MarketLake(self.root)


def default_resources() -> dict[str, dg.ConfigurableResource]:
    """Resources from the environment (QUANT_ORGANISM_*), as the UI and the main command use them."""
    files_dir = settings.files_dir()
    return {
        "market_source": MarketSource(
            source=settings.source_name(),
            files_dir=str(files_dir) if files_dir else None,
            interval=settings.interval(),
        ),
        "lake": LakeResource(root=str(settings.lake_dir())),
        "duckdb": DuckDBResource(database=str(settings.duckdb_path())),
    }
