"""The DuckDB catalogue's views over the lake: created once, and a new dataset's view added without rebinding the
others (binding the candles' view reads every candle file's schema: hundreds of MB at the real universe's size)."""

from __future__ import annotations

import duckdb
import pandas as pd

from quant_organism.market import lake as lake_module
from quant_organism.market.ingest import ingest_candles, ingest_funding
from quant_organism.market.lake import MarketLake, ensure_catalog_file
from quant_organism.market.sources.synthetic import SyntheticSource


def test_a_new_views_dataset_is_added_without_rebinding_the_others(tmp_path, monkeypatch):
    lake, source = MarketLake(tmp_path / "lake"), SyntheticSource()
    with lake.batch():
        for day in ("2024-04-01", "2024-04-02"):
            ingest_candles(source, lake, "BTC", day)
            ingest_funding(source, lake, "BTC", day)
    database = tmp_path / "catalog.duckdb"
    first = ensure_catalog_file(database, lake)
    assert {"candles", "funding_rates", "partition_quality"} <= set(first) and "regimes" not in first
    assert ensure_catalog_file(database, lake) == []  # nothing new: the database is not even opened
    bound = []
    real = lake_module.ensure_catalog
    monkeypatch.setattr(
        lake_module, "ensure_catalog", lambda con, lk, interval, only=None: bound.append(only) or real(con, lk, interval, only)
    )
    row = pd.DataFrame({"date": [pd.Timestamp("2024-04-02").date()], "vol_regime": ["calm"]})
    lake.write_day("regimes", "2024-04-02", row)
    assert ensure_catalog_file(database, lake) == ["regimes"] and bound == [{"regimes"}]
    with duckdb.connect(str(database), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM candles").fetchone()[0] == 48
        assert con.execute("SELECT vol_regime FROM regimes").fetchall() == [("calm",)]
    marker = database.with_suffix(".catalog.views").read_text().split()
    assert {"candles", "funding_rates", "partition_quality", "regimes"} <= set(marker)
