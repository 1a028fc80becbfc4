"""Paper trading reproduces the backtest: strategies with long windows (the cases that used to diverge:
EMA 60/400, a 1,000-bar volatility baseline, a Donchian breakout; then every technical seed at its
longest allowed lookbacks, from evolution's own sampler) paper-traded day by day through the asset keep
positions equal to the vectorised backtest on every bar and equity within 1e-9 (the asset's own
`paper_matches_backtest` check). With the old 30-day warm-up the first of these fails."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from quant_organism.catalog import DataWindow, DeploymentStatus, StrategyConfig, StrategyStore
from quant_organism.catalog.store import STORE_DIR
from quant_organism.definitions import load_definitions
from quant_organism.defs.shared.resources import project_resources
from quant_organism.deployment import Candidate, DecisionConfig, DecisionEngine, deploy
from quant_organism.strategies import SeedGenes, SeedType, gene_space
from quant_organism_tests.support.instance import product_instance
from quant_organism_tests.support.paper_book import COINS, LONG_WINDOWS, NO_RISK, PAPER_DAYS, ingest_book_days
from quant_organism_tests.support.paper_book import deploy_long_windows as _deploy
from quant_organism_tests.support.paper_book import genes_with as _genes


def test_long_window_strategies_paper_trade_exactly_their_backtest_day_by_day(data_dir: Path, monkeypatch):
    monkeypatch.setenv("QUANT_ORGANISM_COINS", ",".join(COINS))
    defs = load_definitions()
    definitions = dg.Definitions(assets=defs.assets, asset_checks=defs.asset_checks, jobs=defs.jobs,
                                 resources=project_resources(data_dir))  # fmt: skip
    with product_instance() as instance:
        ingest_book_days(definitions, instance)
        names = _deploy(StrategyStore(data_dir / STORE_DIR))
        assert len(names) == 3
        paper = definitions.resolve_job_def("paper_trade")
        for day in PAPER_DAYS:
            result = paper.execute_in_process(instance=instance, partition_key=day, run_config=NO_RISK)
            assert result.success
            [parity] = result.get_asset_check_evaluations()
            assert parity.passed, (day, parity.metadata)
            assert parity.metadata["books"].value == len(names) * len(COINS)
    store = StrategyStore(data_dir / STORE_DIR)
    assert all(store.load_strategy(n).paper_trading_days == len(PAPER_DAYS) for n in names)


def _longest(seed_type: SeedType, rng: np.random.Generator) -> SeedGenes:
    """A genome from evolution's own sampler with every period gene at its largest allowed value."""
    from quant_organism.evolution.operators import random_genome
    from quant_organism.strategies.genes import PERIOD_GENES

    genes = random_genome(seed_type, rng)
    space = gene_space(seed_type)
    values = {**genes.gene_values(), **{n: space[n].high for n in PERIOD_GENES if n in space and space[n].active}}
    return SeedGenes.from_gene_values(seed_type, f"{seed_type.value}_longest", values)  # orderings repaired


# (first day of history = the strategies' anchor, evolution day, first paper day) per market
DATES = {"synthetic": ("2024-01-01", "2024-04-10", "2024-04-11"), "real_files": ("2025-02-01", "2025-05-10", "2025-05-11")}


def _paper_trade_btc_for_20_days(
    data_dir: Path, monkeypatch, request, market: str, genomes: list[SeedGenes], regimes: bool = False
) -> None:
    """Deploy `genomes` on BTC (history anchored at the market's first day), paper-trade 20 days through the
    asset, and require its parity check to pass on every day for every book."""
    monkeypatch.setenv("QUANT_ORGANISM_COINS", "BTC")
    first, evolved_on, paper_from = DATES[market]
    source = {}
    if market == "real_files":
        monkeypatch.setenv("QUANT_ORGANISM_START_DATE", "2024-09-01")
        source = {"source": "files", "files_dir": str(request.getfixturevalue("market_data_dir"))}
    days = [d.strftime("%Y-%m-%d") for d in pd.date_range(paper_from, periods=20, freq="D")]
    defs = load_definitions()
    definitions = dg.Definitions(assets=defs.assets, asset_checks=defs.asset_checks, jobs=defs.jobs,
                                 resources=project_resources(data_dir, **source))  # fmt: skip
    store = StrategyStore(data_dir / STORE_DIR)
    start = datetime.fromisoformat(first).replace(tzinfo=timezone.utc)
    window = DataWindow(start=start, end=start + timedelta(days=31), coins=("BTC",), interval="1h")
    configs = [StrategyConfig.from_genes(g, fitness_score=1.0, backtest_sharpe=1.0, data_window=window) for g in genomes]
    store.save_evolved_strategies(configs)
    for config in configs:
        store.transition_strategy(config.name, DeploymentStatus.VALIDATED, "validated for the test")
    returns = pd.DataFrame({c.name: np.random.default_rng(k).normal(0.004, 0.01, 300) for k, c in enumerate(configs)})
    engine = DecisionEngine(DecisionConfig(min_pool=1, max_pool=len(configs), max_correlation=1.0, max_weight=0.1))
    plan = engine.select([Candidate(c.name, 1.0) for c in configs], returns)
    deploy(plan, store, when=datetime.now(timezone.utc), evolution_date=date.fromisoformat(evolved_on))
    assert len(plan.names) == len(genomes)
    with product_instance() as instance:
        tags = {"dagster/asset_partition_range_start": f"BTC|{first}", "dagster/asset_partition_range_end": f"BTC|{days[-1]}"}
        assert definitions.resolve_job_def("ingest_market_data").execute_in_process(instance=instance, tags=tags).success
        if regimes:  # the regime series the regime genes read, over the whole history
            range_tags = {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": days[-1]}
            assert definitions.resolve_job_def("market_regime").execute_in_process(instance=instance, tags=range_tags).success
        for day in days:
            result = definitions.resolve_job_def("paper_trade").execute_in_process(
                instance=instance, partition_key=day, run_config=NO_RISK
            )
            [parity] = result.get_asset_check_evaluations()
            assert parity.passed, (day, parity.metadata["differing"].value)
            assert parity.metadata["books"].value == len(genomes)


@pytest.mark.parametrize("market", ["synthetic", "real_files"])
def test_every_technical_seed_at_its_longest_lookbacks_keeps_parity_for_20_days(data_dir: Path, monkeypatch, request, market):
    """On the synthetic market, and on the real Hyperliquid 1h files (skipped where they are absent)."""
    from quant_organism.strategies import TECHNICAL_SEEDS

    rng = np.random.default_rng(11)
    genomes = [_longest(seed_type, rng) for seed_type in TECHNICAL_SEEDS]
    _paper_trade_btc_for_20_days(data_dir, monkeypatch, request, market, genomes)


def test_parity_holds_on_the_real_hyperliquid_files(data_dir: Path, market_data_dir: Path, monkeypatch):
    """The same long-window strategies on the real 1h files (skipped where ../shared/market-data is absent)."""
    monkeypatch.setenv("QUANT_ORGANISM_COINS", ",".join(COINS))
    monkeypatch.setenv("QUANT_ORGANISM_START_DATE", "2024-09-01")
    first, evolved_on = "2025-03-01", "2025-05-10"
    days = [d.strftime("%Y-%m-%d") for d in pd.date_range("2025-05-11", periods=5, freq="D")]
    defs = load_definitions()
    definitions = dg.Definitions(assets=defs.assets, asset_checks=defs.asset_checks, jobs=defs.jobs,
                                 resources=project_resources(data_dir, source="files", files_dir=str(market_data_dir)))  # fmt: skip
    store = StrategyStore(data_dir / STORE_DIR)
    window = DataWindow(start=datetime.fromisoformat(first).replace(tzinfo=timezone.utc),
                        end=datetime(2025, 4, 1, tzinfo=timezone.utc), coins=COINS, interval="1h")  # fmt: skip
    configs = [StrategyConfig.from_genes(g, fitness_score=1.0, backtest_sharpe=1.0, data_window=window) for g in LONG_WINDOWS]
    store.save_evolved_strategies(configs)
    for config in configs:
        store.transition_strategy(config.name, DeploymentStatus.VALIDATED, "validated for the test")
    returns = pd.DataFrame({c.name: np.random.default_rng(2).normal(0.004, 0.01, 300) for c in configs})
    plan = DecisionEngine(DecisionConfig(max_correlation=1.0)).select([Candidate(c.name, 1.0) for c in configs], returns)
    deploy(plan, store, when=datetime.now(timezone.utc), evolution_date=date.fromisoformat(evolved_on))
    with product_instance() as instance:
        for coin in COINS:
            tags = {"dagster/asset_partition_range_start": f"{coin}|{first}",
                    "dagster/asset_partition_range_end": f"{coin}|{days[-1]}"}  # fmt: skip
            assert definitions.resolve_job_def("ingest_market_data").execute_in_process(instance=instance, tags=tags).success
        for day in days:
            result = definitions.resolve_job_def("paper_trade").execute_in_process(
                instance=instance, partition_key=day, run_config=NO_RISK
            )
            [parity] = result.get_asset_check_evaluations()
            assert parity.passed, (day, parity.metadata["differing"].value)
            assert parity.metadata["books"].value == len(plan.names) * len(COINS)


@pytest.mark.parametrize("market", ["synthetic", "real_files"])
def test_ml_seeds_with_long_training_windows_keep_parity_for_20_days(data_dir: Path, monkeypatch, request, market):
    """The ML seeds refit on a schedule anchored at the first bar of their input: the paper asset feeds them
    the history their backtest saw, so their refits (and positions) match, for the longest train windows."""
    from quant_organism.strategies import ML_SEEDS

    rng = np.random.default_rng(5)
    genomes = []
    for seed_type in ML_SEEDS:
        values = {**_longest(seed_type, rng).gene_values(), "train_window": 2000, "refit_every": 200}
        genomes.append(SeedGenes.from_gene_values(seed_type, f"{seed_type.value}_ml", values))
    _paper_trade_btc_for_20_days(data_dir, monkeypatch, request, market, genomes)


@pytest.mark.parametrize("market", ["synthetic", "real_files"])
def test_regime_genes_are_honoured_identically_in_paper_trading_and_the_backtest(data_dir: Path, monkeypatch, request, market):
    """Issue 12: a strategy with each regime filter on, paper-traded 20 days through the asset over a lake
    holding the `market/regime` series: the parity check holds on every day, and the filters did filter."""
    from quant_organism.market.frames import load_market_frames
    from quant_organism.market.lake import MarketLake
    from quant_organism.strategies import get_registry

    base = _genes("regime", "ema_crossover", fast_period=6, slow_period=30, stop_loss=0.0, take_profit=0.0)
    genomes = [
        SeedGenes.from_gene_values("ema_crossover", f"regime{k}", {**base.gene_values(), "regime_filter": k}) for k in range(1, 5)
    ]
    _paper_trade_btc_for_20_days(data_dir, monkeypatch, request, market, genomes, regimes=True)
    first, _, paper_from = DATES[market]
    frames = load_market_frames(MarketLake(data_dir / "lake"), ["BTC"], first, pd.Timestamp(paper_from) + pd.Timedelta(days=20))
    frame = frames.frames["BTC"]
    assert (frame["regime_vol"] >= 0).mean() > 0.25  # the regimes were there for the signals to read (after warm-up)
    seed = get_registry().seed_class(SeedType.EMA_CROSSOVER)
    unfiltered = seed.generate_signals_batch(frame, [base])
    filtered = seed.generate_signals_batch(frame, genomes)
    assert any((filtered[g.seed_id] != unfiltered.iloc[:, 0]).any() for g in genomes)  # the genes changed positions


def test_rule_trees_from_evolutions_sampler_keep_parity_for_20_days(data_dir: Path, monkeypatch, request):
    """Trees as DEAP draws them (leaves, votes, regime and volatility conditions), paper-traded day by day with the
    regime series joined: the same positions as their backtest on every bar."""
    import json

    from quant_organism.evolution import gp
    from quant_organism.strategies.rule_tree import nodes

    rng = np.random.default_rng(21)
    genomes = []
    while len(genomes) < 4:
        values = gp.random_genome_values(SeedType.RULE_TREE, rng)
        if nodes(json.loads(values["rule"])) >= 5:  # composed trees, not lone leaves
            genomes.append(SeedGenes.from_gene_values(SeedType.RULE_TREE, f"tree_{len(genomes)}", values))
    assert any('"cond"' in g.rule for g in genomes)
    _paper_trade_btc_for_20_days(data_dir, monkeypatch, request, "synthetic", genomes, regimes=True)
