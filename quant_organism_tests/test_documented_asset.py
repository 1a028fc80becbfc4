"""`validation/documented_tier` materialises on the lake: the tier's verdict, what it could see, and its plot."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pandas as pd

from quant_organism.market.ingest import ingest_candle_days, ingest_funding_days
from quant_organism.market.lake import MarketLake
from quant_organism.market.sources.synthetic import SyntheticSource


def test_the_documented_tier_asset_judges_the_lake_before_its_date(data_dir, monkeypatch):
    """The lake is written by the domain's ingest (as the ingest asset writes it; test_market_assets covers that
    path), daily bars of the synthetic market, so that 300 days of five coins take seconds."""
    from quant_organism_tests.support.chain import project_definitions

    monkeypatch.setenv("QUANT_ORGANISM_INTERVAL", "1d")  # the tier reads days
    first, day = "2024-01-01", "2024-10-26"  # 300 days: 180 of warm-up, 120 of evidence
    lake = MarketLake(data_dir / "lake")
    days = [d.strftime("%Y-%m-%d") for d in pd.date_range(first, day)]
    for coin in ("BTC", "ETH", "SOL", "DOGE", "XRP"):
        ingest_candle_days(SyntheticSource(), lake, coin, days, "1d")
        ingest_funding_days(SyntheticSource(), lake, coin, days)
    definitions = project_definitions(data_dir)
    with dg.instance_for_test() as instance:
        job = dg.define_asset_job("documented", selection=["validation/documented_tier"]).resolve(
            asset_graph=definitions.get_repository_def().asset_graph
        )
        result = job.execute_in_process(instance=instance, partition_key=day, resources=definitions.resources)
    assert result.success
    metadata = result.asset_materializations_for_node("validation__documented_tier")[0].metadata
    assert metadata["evidence_days"].value == 120
    families = metadata["families"].data
    assert set(families) == {"ts_trend", "xs_momentum", "funding_carry"}
    assert families["ts_trend"]["level"] == 0.015 and families["ts_trend"]["spa_pvalue"] is not None
    assert metadata["detectable_sharpe_50"].value > 3.0  # 120 days cannot see much, and it says so
    assert "data:image/png;base64," in metadata["excess_plot"].value
    saved = json.loads(Path(metadata["path"].value).read_text())
    assert Path(metadata["path"].value).is_relative_to(data_dir)
    assert saved["span"]["end"].startswith(day) and saved["span"]["days"] == 120
