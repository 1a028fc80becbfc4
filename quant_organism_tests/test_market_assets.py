"""Materialising `market/candles` and `market/funding_rates` in process, for each source.

Dagster's own harness (`materialize`, `instance_for_test`) runs the real assets against a fresh data
root; the lake and the DuckDB catalogue are then read back and compared with what the source served.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
from dagster_duckdb import DuckDBResource

from quant_organism.defs.market.assets import CANDLES, FUNDING
from quant_organism.defs.shared.resources import LakeResource, MarketSource
from quant_organism.market.lake import MarketLake
from quant_organism.market.sources.synthetic import SyntheticSource
from quant_organism_tests.support.chain import loaded_asset
from quant_organism_tests.support.hl_replay_server import HyperliquidReplayServer

DAY = "2024-03-01"


def _resources(data_dir: Path, **source) -> dict:
    return {
        "market_source": MarketSource(**source),
        "lake": LakeResource(root=str(data_dir / "lake")),
        "duckdb": DuckDBResource(database=str(data_dir / "catalog.duckdb")),
    }


def _materialize(resources: dict, coin: str, day: str = DAY, instance=None, raise_on_error: bool = True):
    key = dg.MultiPartitionKey({"date": day, "coin": coin})
    return dg.materialize(
        [loaded_asset(CANDLES), loaded_asset(FUNDING)],
        partition_key=key,
        resources=resources,
        instance=instance,
        raise_on_error=raise_on_error,
    )


def _checks(result) -> dict[tuple[str, str], bool]:
    return {(e.asset_key.to_user_string(), e.check_name): e.passed for e in result.get_asset_check_evaluations()}


def _metadata(result, node: str) -> dict:
    (materialization,) = result.asset_materializations_for_node(node)
    return {k: getattr(v, "value", v) for k, v in materialization.metadata.items()}


def test_synthetic_partition_materialises_with_metadata_checks_and_catalogue(data_dir):
    resources = _resources(data_dir)
    with dg.instance_for_test() as instance:
        result = _materialize(resources, "BTC", instance=instance)
        assert result.success
        assert all(_checks(result).values())
        meta = _metadata(result, "market__candles")
        assert meta["rows"] == 24 and meta["quarantined_rows"] == 0 and meta["quality_score"] == 1.0
        assert meta["first_bar"] == "2024-03-01 00:00:00+00:00" and meta["last_bar"] == "2024-03-01 23:00:00+00:00"
        assert "| timestamp" in meta["preview"]
        # Re-materialising replaces the partition: still one copy of each bar.
        assert _materialize(resources, "BTC", instance=instance).success
        assert instance.get_materialized_partitions(dg.AssetKey(["market", "candles"])) == {f"BTC|{DAY}"}

    expected = SyntheticSource().candles("BTC", DAY, "2024-03-02")
    with duckdb.connect(str(data_dir / "catalog.duckdb"), read_only=True) as con:
        stored = con.execute("SELECT * FROM candles ORDER BY timestamp").df()
        quality = con.execute("SELECT dataset, coin, day, score, passed FROM partition_quality ORDER BY dataset").fetchall()
        funding_rows = con.execute("SELECT count(*) FROM funding_rates").fetchone()[0]
        # The README's view works with any filter (issue 15.5: DuckDB used to parse other metadata as JSON).
        filtered = {
            sql: con.execute(f"SELECT count(*) FROM partition_quality WHERE {sql}").fetchone()[0]
            for sql in (
                "coin = 'BTC'",
                "passed",
                "score >= 0.95",
                f"day = DATE '{DAY}'",
                "dataset = 'candles'",
                "violations IS NOT NULL",
            )
        }
    np.testing.assert_array_equal(stored["close"].to_numpy(), expected["close"].to_numpy())
    assert len(stored) == 24 and funding_rows == 24
    assert filtered == {**dict.fromkeys(filtered, 2), "dataset = 'candles'": 1}
    assert [(d, c, str(day), s, p) for d, c, day, s, p in quality] == [
        ("candles", "BTC", DAY, 1.0, True),
        ("funding_rates", "BTC", DAY, 1.0, True),
    ]


def test_files_source_partition_materialises_what_the_file_holds(data_dir, tmp_path):
    files = tmp_path / "files"
    files.mkdir()
    frame = SyntheticSource().candles("ETH", "2024-02-28", "2024-03-03")
    csv = frame.assign(timestamp_ms=frame["timestamp"].astype("int64") // 10**6)[
        ["timestamp_ms", "open", "high", "low", "close", "volume"]
    ]
    csv.to_csv(files / "ETH_1h.csv", index=False)
    result = _materialize(_resources(data_dir, source="files", files_dir=str(files)), "ETH")
    assert result.success and all(_checks(result).values())
    stored, skipped = MarketLake(data_dir / "lake").read("candles", ["ETH"], DAY, "2024-03-02")
    assert skipped == []
    # CSV text round-trips floats to within one ulp.
    np.testing.assert_allclose(stored["open"].to_numpy(), frame.set_index("timestamp").loc[DAY, "open"].to_numpy(), rtol=1e-15)
    # No funding file for ETH: an empty, passing funding partition (documented), not an error.
    assert _metadata(result, "market__funding_rates")["rows"] == 0


def test_a_partition_built_from_a_finer_file_says_so_in_its_metadata(data_dir, tmp_path):
    """The UI's user reads the materialisation, not the terminal: an hourly partition built from 15m bars says so."""
    files = tmp_path / "files"
    files.mkdir()
    times = pd.date_range("2024-02-29", "2024-03-02 23:45", freq="15min", tz="UTC")
    close = 100.0 + np.arange(len(times)) * 0.25
    quarters = pd.DataFrame({"timestamp_ms": times.as_unit("ms").asi8, "open": close - 0.1, "high": close + 0.5,
                             "low": close - 0.5, "close": close, "volume": 2.0})  # fmt: skip
    quarters.to_csv(files / "ETH_15m.csv", index=False)
    result = _materialize(_resources(data_dir, source="files", files_dir=str(files)), "ETH")
    assert result.success and all(_checks(result).values())
    meta = _metadata(result, "market__candles")
    assert meta["rows"] == 24 and meta["history"].startswith("ETH: 1h bars built from its 15m file(s)")
    stored, _ = MarketLake(data_dir / "lake").read("candles", ["ETH"], DAY, "2024-03-02")
    day = (times >= DAY) & (times < "2024-03-02")
    np.testing.assert_array_equal(stored["close"].to_numpy(), close[day][3::4])  # each hour closes at its 4th quarter
    np.testing.assert_array_equal(stored["volume"].to_numpy(), np.full(24, 8.0))
    assert "history" not in _metadata(result, "market__funding_rates")


def test_hyperliquid_source_partition_materialises_through_the_real_sdk(data_dir):
    source = SyntheticSource()
    bars = source.candles("SOL", "2024-02-25", "2024-03-05")
    rates = source.funding("SOL", "2024-02-25", "2024-03-05")
    with HyperliquidReplayServer() as server:
        server.add_candles("SOL", bars)
        server.add_funding("SOL", rates)
        result = _materialize(_resources(data_dir, source="hyperliquid", base_url=server.url), "SOL")
        assert server.count("candleSnapshot") >= 1 and server.count("fundingHistory") >= 1
    assert result.success and all(_checks(result).values())
    lake = MarketLake(data_dir / "lake")
    stored, _ = lake.read("candles", ["SOL"], DAY, "2024-03-02")
    want = bars.set_index("timestamp").loc[DAY]
    # The exchange format carries decimal strings: equal to the served values at their printed precision.
    np.testing.assert_allclose(stored["close"].to_numpy(), want["close"].to_numpy(), rtol=1e-9)
    assert list(stored["timestamp"]) == list(want.index)
    funding, _ = lake.read("funding_rates", ["SOL"], DAY, "2024-03-02")
    assert len(funding) == 24


def test_real_hyperliquid_files_import_through_the_asset(data_dir, market_data_dir):
    result = _materialize(_resources(data_dir, source="files", files_dir=str(market_data_dir)), "BTC", day="2025-01-15")
    assert result.success and all(_checks(result).values())
    raw = pd.read_csv(market_data_dir / "hyperliquid__BTC_1h.csv")
    raw["timestamp"] = pd.to_datetime(raw["timestamp_ms"], unit="ms", utc=True)
    want = raw[(raw["timestamp"] >= "2025-01-15") & (raw["timestamp"] < "2025-01-16")]
    stored, _ = MarketLake(data_dir / "lake").read("candles", ["BTC"], "2025-01-15", "2025-01-16")
    np.testing.assert_array_equal(stored["close"].to_numpy(), want["close"].to_numpy())
    funding, _ = MarketLake(data_dir / "lake").read("funding_rates", ["BTC"], "2025-01-15", "2025-01-16")
    assert len(funding) == 24 and funding["funding_rate"].notna().all()


def test_range_run_ingests_many_partitions_in_one_run(data_dir):
    """A single-run backfill over a date range (what the main command does per coin)."""
    from quant_organism.defs.jobs.pipeline_jobs import ingest_job

    defs = dg.Definitions(
        assets=[loaded_asset(CANDLES), loaded_asset(FUNDING)], jobs=[ingest_job], resources=_resources(data_dir)
    )
    job = defs.resolve_job_def("ingest_market_data")
    with dg.instance_for_test() as instance:
        result = job.execute_in_process(
            instance=instance,
            tags={"dagster/asset_partition_range_start": "XRP|2024-01-01", "dagster/asset_partition_range_end": "XRP|2024-01-10"},
        )
        assert result.success
        assert len(instance.get_materialized_partitions(dg.AssetKey(["market", "candles"]))) == 10
    assert all(_checks(result).values())
    stored, skipped = MarketLake(data_dir / "lake").read("candles", ["XRP"], "2024-01-01", "2024-01-11")
    assert len(stored) == 240 and skipped == [] and stored["timestamp"].is_unique
