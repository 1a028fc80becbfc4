"""Issue 15, findings 1 and 2: the store never acts on a name outside itself and never follows a link."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from quant_organism.catalog import ConfigStoreError, StrategyConfig, StrategyStore
from quant_organism.strategies import SeedGenes, SeedType


def make_config(seed: int, fitness: float) -> StrategyConfig:
    genes = SeedGenes.random(SeedType.EMA_CROSSOVER, f"ind{seed}", np.random.default_rng(seed), generation=0)
    return StrategyConfig.from_genes(genes, fitness_score=fitness, backtest_sharpe=fitness)


@pytest.fixture
def store(tmp_path: Path) -> StrategyStore:
    store = StrategyStore(tmp_path / "data" / "strategies")
    store.save_strategy(make_config(seed=1, fitness=1.0))
    return store


@pytest.mark.parametrize("name", ["../../victim", "/ABS/victim", "../victim"])
def test_a_planted_commit_naming_a_path_outside_the_store_is_set_aside_not_replayed(
    store: StrategyStore, tmp_path: Path, name: str
) -> None:
    victim = tmp_path / "victim.json"
    victim.write_text('{"keep": true}')
    target = name.replace("/ABS", str(tmp_path))
    staging = store.directory / ".txn-planted"
    staging.mkdir()
    (staging / "COMMIT.json").write_text(json.dumps({"puts": [], "archives": [[target, "x.json"]]}))
    (staging / "COMMIT2.json").write_text("")

    before = {c.name for c in store.load_strategies()}  # a plain reader: must not delete anything outside

    assert victim.read_text() == '{"keep": true}'
    assert before == {make_config(seed=1, fitness=1.0).name}
    assert not staging.exists() and (store.directory / ".rejected-txn-planted" / "COMMIT.json").exists()
    # and the store still works for readers and writers afterwards
    store.save_strategy(make_config(seed=2, fitness=2.0))
    assert len(StrategyStore(store.directory).load_strategies()) == 2


def test_a_commit_with_archives_replays_even_when_the_archive_folder_does_not_exist_yet(store: StrategyStore) -> None:
    config = make_config(seed=1, fitness=1.0)
    staging = store.directory / ".txn-real"
    (staging / "archive").mkdir(parents=True)
    retired_file = f"{config.name}__20240301T000000000000Z.json"
    retired = config.transition("retired", "test")
    (staging / "archive" / retired_file).write_text(retired.to_json())
    (staging / "COMMIT.json").write_text(json.dumps({"puts": [], "archives": [[config.name, retired_file]]}))

    assert store.load_strategies() == []  # rolled forward, no FileNotFoundError on archive/
    assert [c.name for c in store.load_archived()] == [config.name]
    assert store.load_strategies() == []


def test_a_symlinked_config_is_reported_and_never_loaded(store: StrategyStore, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    foreign = make_config(seed=5, fitness=9.0).transition("validated", "x").transition("deployed", "x", allocation=0.2)
    (outside / f"{foreign.name}.json").write_text(foreign.to_json())
    os.symlink(outside / f"{foreign.name}.json", store.path_for(foreign.name))

    loaded = store.load_strategies()

    assert foreign.name not in {c.name for c in loaded}
    assert [p.kind for p in store.problems] == ["link"]
    with pytest.raises(ConfigStoreError, match="symbolic link"):
        store.load_strategy(foreign.name)
    with pytest.raises(ConfigStoreError, match="refusing to overwrite"):
        store.save_strategy(make_config(seed=5, fitness=9.0))
    assert (outside / f"{foreign.name}.json").read_text() == foreign.to_json()


def test_a_symlinked_archive_folder_stops_the_write_before_its_commit_point(store: StrategyStore, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    os.symlink(outside, store.archive_dir)
    name = make_config(seed=1, fitness=1.0).name

    with pytest.raises(ConfigStoreError, match="symbolic link"):
        store.archive_strategy(name, "retire")

    assert list(outside.iterdir()) == []
    assert [c.name for c in store.load_strategies()] == [name]
    assert not any(p.name.startswith(".txn-") for p in store.directory.iterdir())


def test_the_lake_reader_skips_a_symlinked_partition_and_says_so(tmp_path: Path) -> None:
    import pandas as pd

    from quant_organism.market.lake import MarketLake
    from quant_organism.market.quality import check_candles
    from quant_organism.market.sources.synthetic import SyntheticSource

    lake = MarketLake(tmp_path / "lake")
    outside = MarketLake(tmp_path / "outside")
    source = SyntheticSource()
    for target, day in ((lake, "2024-01-01"), (outside, "2024-01-02")):
        start = pd.Timestamp(day, tz="UTC")
        quality = check_candles(source.candles("BTC", start, start + pd.Timedelta(days=1)), "BTC", day)
        target.write_partition("candles", "BTC", day, quality.table, quality.report)
    linked = lake.partition_path("candles", "BTC", "2024-01-02").parent
    linked.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(outside.partition_path("candles", "BTC", "2024-01-02").parent, linked)

    frame, skipped = lake.read("candles", ["BTC"], "2024-01-01", "2024-01-03")

    assert len(frame) == 24 and frame["timestamp"].max() < pd.Timestamp("2024-01-02", tz="UTC")
    assert skipped == ["candles/BTC/2024-01-02: a symbolic link in the lake, not followed"]


def test_the_lake_reader_says_why_it_skips_each_day_it_does_not_read(tmp_path: Path) -> None:
    """One reason per skipped partition, in day order, whichever part of its path is wrong: a linked data file, a
    missing day, a failed quality report, a file that is not Parquet, and every day of a coin whose folder is a
    link. The rows read are the good days' alone."""
    import dataclasses

    import pandas as pd

    from quant_organism.market.lake import MarketLake
    from quant_organism.market.quality import check_candles
    from quant_organism.market.sources.synthetic import SyntheticSource

    lake, outside, source = MarketLake(tmp_path / "lake"), MarketLake(tmp_path / "outside"), SyntheticSource()
    days = [f"2024-01-0{d}" for d in range(1, 7)]

    def write(target: MarketLake, coin: str, day: str, passed: bool = True) -> Path:
        start = pd.Timestamp(day, tz="UTC")
        quality = check_candles(source.candles(coin, start, start + pd.Timedelta(days=1)), coin, day)
        report = quality.report if passed else dataclasses.replace(quality.report, score=0.5)
        return target.write_partition("candles", coin, day, quality.table, report)

    for day in days:
        write(outside, "BTC", day)
        write(outside, "ETH", day)
    for day in ("2024-01-01", "2024-01-06"):
        write(lake, "BTC", day)
    linked_file = lake.partition_path("candles", "BTC", "2024-01-02")  # 01-03: never written
    linked_file.parent.mkdir(parents=True)
    os.symlink(outside.partition_path("candles", "BTC", "2024-01-02"), linked_file)
    write(lake, "BTC", "2024-01-04", passed=False)
    garbage = lake.partition_path("candles", "BTC", "2024-01-05")
    garbage.parent.mkdir(parents=True)
    garbage.write_bytes(b"not a parquet file")
    eth = lake.partition_path("candles", "ETH", "2024-01-01").parent.parent
    os.symlink(outside.partition_path("candles", "ETH", "2024-01-01").parent.parent, eth)

    frame, skipped = lake.read("candles", ["BTC", "ETH"], days[0], "2024-01-07")

    assert sorted(frame["timestamp"].dt.strftime("%Y-%m-%d").unique()) == ["2024-01-01", "2024-01-06"]
    assert set(frame["coin"]) == {"BTC"} and len(frame) == 48
    assert [line.split(":")[0] for line in skipped] == [f"candles/BTC/{d}" for d in days[1:5]] + [
        f"candles/ETH/{d}" for d in days
    ]
    reasons = [line.split(": ", 1)[1] for line in skipped]
    assert reasons[:3] == ["a symbolic link in the lake, not followed", "not materialised", "quality 50.0% below threshold"]
    assert reasons[3].startswith("unreadable Parquet file, not read") and reasons[3].endswith("re-materialise the partition")
    assert reasons[4:] == ["a symbolic link in the lake, not followed"] * len(days)
    assert garbage.read_bytes() == b"not a parquet file"  # reported, left in place
    assert lake.quality("candles", "BTC", "2024-01-04")["passed"] is False
    assert lake.quality("candles", "BTC", "2024-01-01")["passed"] is True


def test_the_lake_reader_reads_in_chunks_and_narrows_columns_alike_in_both_engines(tmp_path: Path, monkeypatch) -> None:
    """Chunked Polars reads (a 50-coin year is 18,000 files) equal one read, and `columns` narrows both engines."""
    import pandas as pd

    from quant_organism.market import lake as lake_module
    from quant_organism.market.lake import MarketLake
    from quant_organism.market.quality import check_candles
    from quant_organism.market.sources.synthetic import SyntheticSource

    lake = MarketLake(tmp_path / "lake")
    source = SyntheticSource()
    days = [d.strftime("%Y-%m-%d") for d in pd.date_range("2024-01-01", periods=4, freq="D")]
    for coin in ("BTC", "ETH"):
        for day in days:
            start = pd.Timestamp(day, tz="UTC")
            quality = check_candles(source.candles(coin, start, start + pd.Timedelta(days=1)), coin, day)
            lake.write_partition("candles", coin, day, quality.table, quality.report)
    whole, _ = lake.read("candles", ["BTC", "ETH"], "2024-01-01", "2024-01-05")
    monkeypatch.setattr(lake_module, "READ_CHUNK_FILES", 3)  # 8 files in chunks of 3
    chunked, _ = lake.read("candles", ["BTC", "ETH"], "2024-01-01", "2024-01-05")
    pd.testing.assert_frame_equal(chunked, whole)
    assert len(whole) == 2 * 4 * 24 and whole["coin"].is_monotonic_increasing
    for engine in ("polars", "duckdb"):
        narrow, _ = lake.read("candles", ["BTC", "ETH"], "2024-01-01", "2024-01-05", engine=engine, columns=["close"])
        assert list(narrow.columns) == ["coin", "timestamp", "close"]
        pd.testing.assert_frame_equal(narrow, whole[["coin", "timestamp", "close"]], check_dtype=False)
