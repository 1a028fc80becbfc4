"""A small deployed book for paper-trading tests: three long-window strategies on BTC and ETH (EMA 60/400, a
1,000-bar volatility baseline, a Donchian breakout), evolved on data before 2024-04-10 and deployed with
capital, and the days they trade."""

from __future__ import annotations

from datetime import date, datetime, timezone

import numpy as np
import pandas as pd

from quant_organism.catalog import DataWindow, DeploymentStatus, StrategyConfig, StrategyStore
from quant_organism.deployment import Candidate, DecisionEngine, deploy
from quant_organism.strategies import SeedGenes, SeedType, gene_space

COINS = ("BTC", "ETH")
FIRST, EVOLVED_ON = "2024-02-01", "2024-04-10"
# Exact parity is the point here: the portfolio risk controls (which may deliberately trade differently, and
# are tested in test_runtime_risk.py) are off.
NO_RISK = {"resources": {"operator_policy": {"config": {"max_drawdown": 0, "daily_loss": 0, "max_asset_exposure": 0}}}}
PAPER_DAYS = ["2024-04-11", "2024-04-12", "2024-04-13", "2024-04-14", "2024-04-15"]


def genes_with(seed_id: str, seed_type: str, **values) -> SeedGenes:
    defaults = {name: spec.default for name, spec in gene_space(SeedType(seed_type)).items()}
    return SeedGenes.from_gene_values(seed_type, seed_id, {**defaults, **values})


LONG_WINDOWS = [
    genes_with("ema", "ema_crossover", fast_period=60, slow_period=400, stop_loss=0.0, take_profit=0.0),
    genes_with("vol", "volatility_scaling", fast_period=24, slow_period=1000, signal_period=48, stop_loss=0.0, take_profit=0.0),
    genes_with("donchian", "donchian_breakout", fast_period=120, slow_period=480, stop_loss=0.05, take_profit=0.1),
]


def ingest_book_days(definitions, instance) -> None:
    """Ingest the book's coins from FIRST to the last paper day through the project's ingest job."""
    ingest = definitions.resolve_job_def("ingest_market_data")
    for coin in COINS:
        tags = {"dagster/asset_partition_range_start": f"{coin}|{FIRST}",
                "dagster/asset_partition_range_end": f"{coin}|{PAPER_DAYS[-1]}"}  # fmt: skip
        assert ingest.execute_in_process(instance=instance, tags=tags).success


def deploy_long_windows(store: StrategyStore, evolved_on: str = EVOLVED_ON, first: str = FIRST) -> list[str]:
    """Deploy the three strategies as evolved on `evolved_on` (they trade from the day after)."""
    window = DataWindow(start=datetime.fromisoformat(first).replace(tzinfo=timezone.utc),
                        end=datetime.fromisoformat(evolved_on).replace(tzinfo=timezone.utc), coins=COINS, interval="1h")  # fmt: skip
    configs = [StrategyConfig.from_genes(g, fitness_score=1.0, backtest_sharpe=1.0, data_window=window) for g in LONG_WINDOWS]
    store.save_evolved_strategies(configs)
    for config in configs:
        store.transition_strategy(config.name, DeploymentStatus.VALIDATED, "validated for the test")
    rng = np.random.default_rng(1)
    returns = pd.DataFrame({c.name: rng.normal(0.004, 0.01, 300) for c in configs})  # clear, uncorrelated edges
    plan = DecisionEngine().select([Candidate(c.name, 1.0) for c in configs], returns)
    deploy(plan, store, when=datetime.now(timezone.utc), evolution_date=date.fromisoformat(evolved_on))
    return plan.names


def deployed_config(
    name: str, status: str = "deployed", days: int = 10, sharpe: float = 1.5, drawdown: float = 0.05, allocation: float = 0.5
) -> StrategyConfig:
    genes = SeedGenes.random(SeedType.EMA_CROSSOVER, name, np.random.default_rng(len(name)), generation=0)
    config = StrategyConfig.from_genes(genes, fitness_score=1.0, backtest_sharpe=1.5, name=name, evolution_date=date(2024, 3, 1))
    config = config.transition("validated", "passed").transition("deployed", "selected", allocation=allocation)
    if status == "decaying":
        config = config.transition("decaying", "paper Sharpe fell")
    return config.with_performance(paper_trading_days=days, paper_sharpe=sharpe, max_drawdown=drawdown)
