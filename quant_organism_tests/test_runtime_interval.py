"""The paper asset trades the configured bar interval (QUANT_ORGANISM_INTERVAL), not the 1h default."""

from __future__ import annotations

from datetime import date, datetime, timezone
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd

from quant_organism.catalog import DataWindow, DeploymentStatus, StrategyConfig, StrategyStore
from quant_organism.catalog.store import STORE_DIR
from quant_organism.definitions import load_definitions
from quant_organism.defs.shared.resources import project_resources
from quant_organism.deployment import Candidate, DecisionEngine, deploy
from quant_organism.strategies import SeedGenes

COINS = ("BTC", "ETH")
EVOLVED_ON, TRADED = "2024-03-05", "2024-03-06"


def _deploy_one(store: StrategyStore) -> str:
    genes = SeedGenes(seed_id="ema_4h", seed_type="ema_crossover", fast_period=3, slow_period=12, signal_period=6,
                      entry_threshold=0.0, exit_threshold=0.0, filter_threshold=0.0, stop_loss=0.0, take_profit=0.0,
                      position_size=1.0)  # fmt: skip
    window = DataWindow(start=datetime(2024, 1, 1, tzinfo=timezone.utc), end=datetime(2024, 3, 6, tzinfo=timezone.utc),
                        coins=COINS, interval="4h")  # fmt: skip
    config = StrategyConfig.from_genes(genes, fitness_score=1.0, backtest_sharpe=1.0, data_window=window)
    store.save_evolved_strategies([config])
    store.transition_strategy(config.name, DeploymentStatus.VALIDATED, "validated for the test")
    returns = pd.DataFrame({config.name: np.random.default_rng(0).normal(0.001, 0.01, 200)})
    plan = DecisionEngine().select([Candidate(config.name, 1.0)], returns)
    deploy(plan, store, when=datetime.now(timezone.utc), evolution_date=date.fromisoformat(EVOLVED_ON))
    return config.name


def test_paper_trading_reads_the_configured_interval(data_dir: Path, monkeypatch):
    monkeypatch.setenv("QUANT_ORGANISM_INTERVAL", "4h")
    defs = load_definitions()
    definitions = dg.Definitions(
        assets=defs.assets, asset_checks=defs.asset_checks, jobs=defs.jobs,
        resources=project_resources(data_dir, interval="4h"),
    )  # fmt: skip
    with dg.instance_for_test() as instance:
        ingest = definitions.resolve_job_def("ingest_market_data")
        for coin in COINS:
            tags = {"dagster/asset_partition_range_start": f"{coin}|2024-02-01",
                    "dagster/asset_partition_range_end": f"{coin}|{TRADED}"}  # fmt: skip
            assert ingest.execute_in_process(instance=instance, tags=tags).success
        assert not (data_dir / "lake" / "candles" / "interval=1h").exists()
        name = _deploy_one(StrategyStore(data_dir / STORE_DIR))
        result = definitions.resolve_job_def("paper_trade").execute_in_process(instance=instance, partition_key=TRADED)
        assert result.success
        [materialization] = result.asset_materializations_for_node("runtime__paper_performance")
        assert materialization.metadata["bars"].value == 6  # six 4h bars in the day, not 24 hourly ones
        [parity] = result.get_asset_check_evaluations()
        assert parity.passed, parity.metadata
        assert StrategyStore(data_dir / STORE_DIR).load_strategy(name).paper_trading_days >= 1
