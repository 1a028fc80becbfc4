"""The ingest benchmark measures what it claims: every partition of every coin written, both paths."""

from __future__ import annotations

import json

import pyarrow.parquet as pq

from quant_organism.benchmarks import ingest_speed as bench
from quant_organism.market.lake import MarketLake
from quant_organism.settings import DEFAULT_COINS


def test_both_paths_write_every_partition_with_identical_bytes(tmp_path):
    ranged = bench.run(3, "2025-03-01", tmp_path / "range")
    daily = bench.run(3, "2025-03-01", tmp_path / "day", per_day=True)
    for result in (ranged, daily):
        assert result["partitions"] == 2 * 3 * len(DEFAULT_COINS)
        assert result["candle_rows"] == result["funding_rows"] == 3 * 24 * len(DEFAULT_COINS)
    files = sorted(p.relative_to(tmp_path / "range") for p in (tmp_path / "range" / "lake").rglob("*.parquet"))
    assert len(files) == ranged["partitions"]
    for relative in files:
        assert (tmp_path / "range" / relative).read_bytes() == (tmp_path / "day" / relative).read_bytes()
    lake = MarketLake(tmp_path / "range" / "lake")
    assert pq.read_table(lake.partition_path("candles", "XRP", "2025-03-03")).num_rows == 24


def test_quick_json_output(capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    assert bench.main(["--days", "2", "--quick", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    (only,) = report["runs"]
    assert only["mode"] == "range" and only["workers"] == 1 and only["wall_s"] > 0


def test_the_dagster_row_materialises_the_same_partitions_through_the_job(tmp_path):
    through_dagster = bench.run_dagster(2, "2025-03-01", tmp_path / "dagster")
    direct = bench.run(2, "2025-03-01", tmp_path / "direct")
    assert through_dagster["mode"] == "dagster"
    assert through_dagster["candle_rows"] == direct["candle_rows"] == 2 * 24 * len(DEFAULT_COINS)
    assert through_dagster["funding_rows"] == direct["funding_rows"]
    for path in (tmp_path / "direct" / "lake").rglob("data.parquet"):
        twin = tmp_path / "dagster" / path.relative_to(tmp_path / "direct")
        assert twin.read_bytes() == path.read_bytes()
