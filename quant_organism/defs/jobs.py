"""Jobs: the ingest of market data (every coin of a day)."""

from __future__ import annotations

import dagster as dg

from quant_organism.defs.market import CANDLES, FUNDING

ingest_job = dg.define_asset_job(
    "ingest_market_data",
    selection=dg.AssetSelection.assets(CANDLES, FUNDING),
    description="Fetch, quality-check and store candles and funding rates for date × coin partitions.",
)

DEFINITIONS = dg.Definitions(jobs=[ingest_job])
