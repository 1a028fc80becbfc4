"""The organism's chain on markets with known answers: it deploys a capturing strategy where a strong edge
is planted and nothing on noise; evolution leaves position size to allocation; short histories shrink
the windows; the production preset is the default of the automation."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from quant_organism.benchmarks.organism import RunSpec, run_one, summarise, wilson
from quant_organism.benchmarks.planted_strength import market_frames
from quant_organism.deployment.chain import ChainSettings, run_chain
from quant_organism.deployment.documented_capital import documented_name, is_documented
from quant_organism.evolution.date_windows import evolution_windows
from quant_organism.evolution.evolution_config import EvolutionConfig, load_preset
from quant_organism.market.sources.planted import CAPTURING_FAMILIES, PlantedMarket
from quant_organism.strategies.portfolio import rule_named
from quant_organism.strategies.portfolio_genome import from_name
from quant_organism.validation.superiority import superiority_test

START = pd.Timestamp("2024-01-01", tz="UTC")
SMALL = dict(total_strategies=40, batch_size=20, generations=3, lookback_days=300, split=(0.4, 0.3, 0.3), min_trades=5,
             seed_types=["ema_crossover", "sma_trend", "rsi_filter", "stochastic"], executor="serial")  # fmt: skip


def chain_on(kind: str, strength: float, seed: int):
    market = PlantedMarket(kind=kind, strength=strength, seed=seed, coins=("BTC", "ETH", "SOL"), start=START,
                           end=START + pd.Timedelta(days=300))  # fmt: skip
    settings = ChainSettings(evolution=EvolutionConfig(**SMALL, random_seed=seed), max_candidates=12)
    return run_chain(market_frames(market), (START + pd.Timedelta(days=299)).date(), settings)


def test_a_strong_planted_trend_is_deployed_with_a_capturing_family():
    outcome = chain_on("trend", 0.15, 3)
    assert outcome.deployed, [v.reasons for v in outcome.validation.verdicts[:3]]
    families = {c.genes.seed_id: c.genes.seed_type.value for c in outcome.candidates}
    families |= {documented_name(r): f"documented_{rule_named(r).family}" for r in outcome.documented.passed}
    searched = [from_name(n) for n in outcome.deployed if n.startswith("searched.")]
    assert {families[n] for n in outcome.deployed if not n.startswith("searched.")} <= CAPTURING_FAMILIES["trend"]
    assert all(g.signal != "funding" and not g.fade for g in searched)  # the portfolio search's: it follows the trend
    assert any(not is_documented(n) for n in outcome.deployed)  # the search finds the edge at its own 0.5% share
    assert all(v.passed for v in outcome.validation.verdicts if v.candidate_id in outcome.deployed)
    for verdict in outcome.validation.verdicts:  # what is deployed traded day by day as paper trading does
        if verdict.candidate_id in outcome.deployed:
            assert verdict.stages["replay"].metrics["product_parity"] == {"passed": True, "problems": []}
    assert sum(outcome.plan.allocations.values()) <= 1.0


def test_noise_deploys_nothing():
    outcome = chain_on("null", 0.0, 3)
    assert outcome.deployed == []
    assert outcome.validation.test is not None and outcome.validation.test.spa_pvalue > 0.05


def test_evolution_leaves_position_size_to_allocation():
    outcome = chain_on("trend", 0.15, 4)
    assert (outcome.result.population["genes"].map(lambda g: json.loads(g)["position_size"]) == 1.0).all()


def test_a_short_history_shrinks_the_windows_down_to_a_stated_minimum():
    config = load_preset("full", max_lookback_days=None)
    assert config.for_history(366).lookback_days == 366 and config.for_history(366).split == config.split
    assert config.for_history(900).lookback_days == 540  # a fixed lookback stays fixed
    assert load_preset("full", lookback_days=300, max_lookback_days=None).for_history(366).lookback_days == 300
    with pytest.raises(ValueError, match="only 31 day"):
        config.for_history(31)
    windows = evolution_windows("2024-12-31", 366, (0.4, 0.3, 0.3))
    assert windows.train.start == pd.Timestamp("2024-01-01", tz="UTC") and windows.train.days == pytest.approx(146)


def test_a_longer_history_grows_the_held_out_windows_up_to_the_cap():
    """The production preset's evidence grows with the history: train keeps its 216 days (the search costs what it
    cost), the held-out windows get every other day up to the cap, split half and half as the preset splits them."""
    config = load_preset("full")
    assert config.max_lookback_days is not None and config.max_lookback_days > config.lookback_days
    grown = config.for_history(1500)
    windows = evolution_windows("2024-12-31", grown.lookback_days, grown.split)
    assert grown.lookback_days == 1500 and windows.train.days == 216
    assert windows.out_of_sample.days == 642 and windows.walk_forward.days == 642
    assert windows.walk_forward.end == pd.Timestamp("2025-01-01", tz="UTC")
    capped = config.for_history(10_000)
    assert capped.lookback_days == config.max_lookback_days
    assert capped.for_history(capped.lookback_days) == capped  # fitting again changes nothing


def test_the_full_preset_is_the_production_search():
    full = load_preset("full")
    assert (full.total_strategies, full.generations, full.lookback_days) == (500, 20, 540)
    assert full.split == (0.4, 0.3, 0.3)


def test_automation_runs_the_production_preset_by_default(monkeypatch):
    """The automation launches the population without run config: its preset is then the production one."""
    from quant_organism.defs.automation import sensors
    from quant_organism.defs.evolution.assets import EvolutionRunConfig

    monkeypatch.delenv("QUANT_ORGANISM_PRESET", raising=False)
    assert (
        EvolutionRunConfig().evolution_config().total_strategies
        == EvolutionRunConfig(preset="full").evolution_config().total_strategies
    )
    monkeypatch.setenv("QUANT_ORGANISM_PRESET", "test")
    assert EvolutionRunConfig().evolution_config() == EvolutionRunConfig(preset="test").evolution_config()
    assert sensors.make_strategy_decay_sensor(coins=["BTC"]).job_name == "evolve"
    monkeypatch.setenv("QUANT_ORGANISM_PRESET", "fastest")
    with pytest.raises(ValueError, match="QUANT_ORGANISM_PRESET"):
        EvolutionRunConfig().evolution_config()


def test_stepm_when_every_candidate_is_superior():
    """arch's own StepM fails on an empty subset once every candidate is found; ours reports them all."""
    rng = np.random.default_rng(0)
    returns = pd.DataFrame(rng.normal(0.01, 0.01, (200, 3)), columns=["a", "b", "c"])
    result = superiority_test(returns, alpha=0.5, reps=200)
    assert set(result.superior) == {"a", "b", "c"} and result.spa_pvalue < 0.05


def test_the_benchmark_summary_counts_size_and_power_with_wilson_intervals():
    runs = [
        {"kind": "null", "target": 0.0, "deploys": d, "found": False, "planted_sharpe": 0.1, "oracle_sharpe": 0.0,
         "forward_capture": np.nan, "forward_sharpe": np.nan, "planted_forward_sharpe": 0.0, "naive_captures": False, "naive_forward_sharpe": -1.0,
         "seconds": 1.0} for d in [False] * 19 + [True]
    ] + [
        {"kind": "trend", "target": 3.0, "deploys": True, "found": f, "planted_sharpe": 3.0, "oracle_sharpe": 6.0,
         "forward_capture": 0.8, "forward_sharpe": 2.4, "planted_forward_sharpe": 3.0, "naive_captures": True, "naive_forward_sharpe": 2.0,
         "seconds": 1.0} for f in [True] * 9 + [False]
    ]  # fmt: skip
    rng = np.random.default_rng(0)
    for run in runs[20:]:  # the deployed set earns 0.8 of the planted rule's Sharpe, per bar, in every run
        rule = rng.normal(3.0 / np.sqrt(8760), 1.0, 2000)
        fwd = 0.8 * rule + rng.normal(0.0, 0.05, 2000)
        for prefix, values in (("fwd", fwd), ("rule", rule)):
            run.update({f"{prefix}_n": 2000.0, f"{prefix}_sum": values.sum(), f"{prefix}_sumsq": (values**2).sum()})
    table, verdict = summarise(runs)
    # 1 of 20: the point estimate meets <= 5%, the Wilson upper bound (25%) does not: not met
    assert verdict["size"] == pytest.approx(0.05) and verdict["size_point_meets"] and not verdict["size_target_met"]
    trend = table[table["kind"] == "trend"].iloc[0]
    assert trend["power"] == pytest.approx(0.9) and trend["low"] < 0.9 < trend["high"]
    assert verdict["kinds_meeting_power_targets"] == [] and not verdict["power_target_met"]  # no Sharpe-2 cell
    capture, (low, high) = verdict["forward_capture_at_3"]["trend"], verdict["forward_capture_ci_at_3"]["trend"]
    assert low < capture < high and 0.5 < capture < 1.1  # pooled over runs, with its bootstrap interval
    assert verdict["forward_capture_target_met"] == (low >= 0.5)
    many = [dict(r, deploys=False) for r in runs[:20]] * 5  # 0 of 100 null runs: the upper bound is 3.7%
    assert summarise(many + runs[20:])[1]["size_target_met"]
    low, high = wilson(0, 40)
    assert low == 0.0 and 0.08 < high < 0.09


@pytest.mark.slow
def test_one_benchmark_run_on_the_production_preset():
    """One run of `bench organism` as it runs (production preset, a planted Sharpe near 3)."""
    result = run_one(RunSpec("trend", 3.0, 0.1, 7))
    assert result["candidates"] == 50 and result["planted_sharpe"] > 1.5
    assert result["deploys"] and result["found"]
    assert result["parity_ok"] and np.isfinite(result["forward_sharpe"]) and np.isfinite(result["planted_forward_sharpe"])
    assert isinstance(result["first_look"], bool)


def test_a_nightly_path_judges_one_null_market_date_after_date():
    """`bench organism --nightly`'s unit: a null market re-judged at a cadence, incumbents carried, until capital
    goes into a strategy or the simulated span ends (here the quick preset over 40 days, every 20)."""
    from quant_organism.benchmarks.organism import nightly_path

    path = nightly_path(5000, every_days=20, year_days=40, preset="test")
    assert path["dates"] == 2
    assert 1 <= path["judgements"] <= 2 and path["capital"] == (path["first_capital"] is not None)
    assert path["judgements"] == 2 or path["capital"]  # a path stops early only at its first capital
    # probation: nothing the first judgement chose can hold capital 20 days later (it needs 60 forward days)
    assert not path["capital"] and path["promotions"] == 0 and path["look_pvalues"] == []
