"""The held-out gate on small simulated cases with known answers: how often it rejects a real edge
(false rejection) and accepts noise (false acceptance), and that each rule does what it says."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from quant_organism.benchmarks.planted_strength import market_frames
from quant_organism.core.windows import Window
from quant_organism.market.sources.planted import PlantedMarket
from quant_organism.strategies import SeedGenes, SeedType
from quant_organism.validation.held_out import HeldOutConfig, HeldOutEvidence, gate_inputs, judge, run_held_out_stage
from quant_organism.validation.stage_result import StageStatus
from quant_organism.validation.superiority import superiority_test

START = pd.Timestamp("2024-01-01", tz="UTC")
COINS = ("BTC", "ETH", "SOL")
PLAIN = {"stop_loss": 0.0, "take_profit": 0.0, "position_size": 1.0}


def ema(seed_id: str, fast: int, slow: int) -> SeedGenes:
    return SeedGenes(seed_id=seed_id, seed_type="ema_crossover", fast_period=fast, slow_period=slow, signal_period=12,
                     entry_threshold=0.002, exit_threshold=0.0, filter_threshold=0.0, **PLAIN)  # fmt: skip


CANDIDATES = [ema(f"ema_{f}_{s}", f, s) for f, s in ((12, 48), (24, 96), (36, 144), (48, 192), (8, 64), (16, 128))]


def windows(days: int = 240) -> tuple[Window, Window]:
    """The last `days` of a 300-day market: out-of-sample then walk-forward, half each."""
    end = START + pd.Timedelta(days=300)
    cut = end - pd.Timedelta(days=days // 2)
    return Window(end - pd.Timedelta(days=days), cut, "out_of_sample"), Window(cut, end, "walk_forward")


def frames_of(kind: str, strength: float, seed: int) -> dict[str, pd.DataFrame]:
    market = PlantedMarket(kind=kind, strength=strength, seed=seed, coins=COINS, start=START, end=START + pd.Timedelta(days=300))
    return market_frames(market)


def test_false_acceptance_on_noise_stays_near_the_level():
    """Null markets: the share of runs where any of 6 trend rules passes is at most ~alpha. With 12 runs and
    a true rate of 5%, seeing 3 or more passes has probability 2%; costs push null rules below zero, so the
    real rate is lower still."""
    oos, wf = windows()
    passes = 0
    for seed in range(12):
        results, _, _ = run_held_out_stage(CANDIDATES, frames_of("null", 0.0, seed), oos, wf, HeldOutConfig(reps=300))
        passes += any(r.status is StageStatus.PASSED for r in results.values())
    assert passes <= 2


def test_false_rejection_of_a_strong_planted_trend_is_rare():
    """A trend whose fixed EMA rule earns a Sharpe of about 6 per coin: found in (nearly) every run."""
    oos, wf = windows()
    found = 0
    for seed in range(6):
        results, _, _ = run_held_out_stage(CANDIDATES, frames_of("trend", 0.15, seed), oos, wf, HeldOutConfig(reps=300))
        found += any(r.status is StageStatus.PASSED for r in results.values())
    assert found >= 5


def test_a_passing_candidate_carries_its_evidence_and_the_gate_record():
    oos, wf = windows()
    results, evidence, test = run_held_out_stage(CANDIDATES, frames_of("trend", 0.15, 0), oos, wf, HeldOutConfig(reps=300))
    passed = [name for name, r in results.items() if r.status is StageStatus.PASSED]
    assert passed and set(passed) <= set(test.superior)
    metrics = results[passed[0]].metrics
    assert metrics["superiority"]["passed"] is True and metrics["superiority"]["candidates_judged"] == len(CANDIDATES)
    assert metrics["walk_forward"]["total_return"] > 0 and metrics["held_out"]["trade_count"] >= 10
    assert "dsr" in metrics["deflated_sharpe"]
    assert evidence.bar_returns.index.min() >= oos.start and evidence.bar_returns.index.max() < wf.end
    assert list(evidence.daily_returns.columns) == [g.seed_id for g in CANDIDATES]


def _evidence(daily: pd.DataFrame, trades: dict[str, int]) -> HeldOutEvidence:
    """Evidence with one bar per day (so per-bar and per-day returns coincide)."""
    oos, wf = (
        Window(daily.index[0], daily.index[60], "out_of_sample"),
        Window(daily.index[60], daily.index[-1] + pd.Timedelta(days=1), "walk_forward"),
    )
    return HeldOutEvidence(daily, daily, trades, {n: 0.3 for n in daily}, oos, wf, 365.0, ("X",))


def test_each_rule_rejects_with_its_own_reason_and_no_win_rate_rule():
    days = pd.date_range("2024-01-01", periods=120, freq="D", tz="UTC")
    rng = np.random.default_rng(3)
    edge = rng.normal(0.004, 0.01, 120)  # strongly positive throughout
    flips = np.r_[rng.normal(0.012, 0.01, 60), rng.normal(-0.002, 0.01, 60)]  # strong first, losing later
    daily = pd.DataFrame({"edge": edge, "flips": flips, "rare": edge, "noise": rng.normal(0.0, 0.01, 120)}, index=days)
    evidence = _evidence(daily, {"edge": 40, "flips": 40, "rare": 3, "noise": 40})
    test = superiority_test(daily, reps=500, seed=0)
    config = HeldOutConfig(min_trades=10)
    verdicts = {name: judge(name, evidence, test, config) for name in daily}
    assert verdicts["edge"].status is StageStatus.PASSED  # wins only 30% of trades: no style is rejected for it
    assert any(r.startswith("walk_forward_return") for r in verdicts["flips"].reasons)
    assert any(r.startswith("trade_count 3") for r in verdicts["rare"].reasons)
    assert any(r.startswith("superiority: no excess") for r in verdicts["noise"].reasons)
    relaxed = HeldOutConfig(min_trades=0, require_positive_walk_forward=False)
    assert judge("flips", evidence, test, relaxed).status is StageStatus.PASSED


def test_bad_configs_are_refused():
    with pytest.raises(ValueError, match="alpha"):
        HeldOutConfig(alpha=0.0)
    with pytest.raises(ValueError, match="reps"):
        HeldOutConfig(reps=10)


def test_a_lookback_longer_than_the_history_is_rejected_with_that_reason():
    oos, wf = windows()
    short_history = {coin: frame.loc[frame.index >= oos.start - pd.Timedelta(days=5)]
                     for coin, frame in frames_of("trend", 0.15, 0).items()}  # fmt: skip
    results, evidence, _ = run_held_out_stage(CANDIDATES, short_history, oos, wf, HeldOutConfig(reps=300))
    assert evidence.history_bars == 120  # five days of 1h bars before the held-out span
    assert any(r.startswith("lookback 204 bars exceeds the 120 bars") for r in results["ema_48_192"].reasons)
    assert results["ema_48_192"].status is StageStatus.FAILED
    assert not any(r.startswith("lookback") for r in results["ema_12_48"].reasons + results["ema_8_64"].reasons)
    from quant_organism.validation.held_out import history_bars

    assert history_bars(CANDIDATES[3]) == 192 + 12  # the slow EMA's window and the bars its slope spans


def test_every_seed_declares_genes_the_validation_understands_and_the_history_follows_the_declaration():
    """Each seed's genes carry a role; validation reads history from roles alone, never from a slot's name. A seed
    that declared a role the validation does not know would fail here (history_bars raises on it)."""
    from quant_organism.strategies.genes import GeneRole, GeneSpec, gene_space
    from quant_organism.validation import held_out

    for seed_type in SeedType:
        for name, spec in gene_space(seed_type).items():
            assert spec.role in held_out.HISTORY_ROLES | held_out.NO_HISTORY_ROLES, (seed_type, name, spec.role)
        assert held_out.history_bars(SeedGenes.create_default(seed_type, "d")) > 0
    assert not held_out.HISTORY_ROLES & held_out.NO_HISTORY_ROLES
    assert set(GeneRole) == held_out.HISTORY_ROLES | held_out.NO_HISTORY_ROLES

    def genome(seed_type, **genes):
        return SeedGenes.from_gene_values(seed_type, "g", {**SeedGenes.create_default(seed_type, "g").gene_values(), **genes})

    # a 500-bar time stop needs no history: the RSI's 14 bars and the trend filter's 30 do
    assert held_out.history_bars(genome("rsi_filter", fast_period=14, slow_period=30, signal_period=500)) == 30
    assert held_out.history_bars(genome("vwap_reversion", fast_period=20, slow_period=40, signal_period=500)) == 40
    # %D smooths %K: 20 + 3 bars, beyond the 10-bar trend filter
    assert held_out.history_bars(genome("stochastic", fast_period=20, slow_period=21, signal_period=3)) == 23
    # the displacement shifts every line of the cloud
    assert held_out.history_bars(genome("ichimoku", fast_period=9, slow_period=26, senkou_period=52, signal_period=26)) == 78
    # a model's training rows come after its features' longest window
    svc = genome("linear_svc", fast_period=14, slow_period=48, signal_period=24, n_lags=5, train_window=720)
    assert held_out.history_bars(svc) == 48 + 720
    assert held_out.history_bars(genome("funding_carry", fast_period=8, slow_period=72)) == 72  # signal_period unused
    tree = SeedGenes(seed_id="t", seed_type="rule_tree", rule=json.dumps({"op": "gate", "args": [
        {"cond": "vol_ratio", "fast": 10, "slow": 300, "above": 1.2},
        {"op": "and", "args": [{"leaf": {"seed_type": "rsi_filter", "fast_period": 14, "slow_period": 30, "signal_period": 500}},
                               {"leaf": {"seed_type": "sma_trend", "fast_period": 20, "slow_period": 100, "signal_period": 24}}]}]}))  # fmt: skip
    assert held_out.history_bars(tree) == 300  # the volatility condition's window beyond the SMA's 100 + 24
    with pytest.raises(ValueError, match="inactive exactly when"):
        GeneSpec("y", 1, 2, "int", 1, active=False)


def test_returns_of_candidates_taken_in_groups_equal_those_of_one_batch(monkeypatch):
    """Many candidates x many coins are backtested in groups within a memory budget (the one-process 50-coin run
    peaked on the PBO's 200 individuals): the mean returns and every coin's metrics are the same, to the bit,
    whatever the group size, with coins whose bars differ (a late start, a hole)."""
    from quant_organism.evolution.operators import random_genome
    from quant_organism.strategies import TECHNICAL_SEEDS
    from quant_organism.validation import held_out

    rng = np.random.default_rng(3)
    mixed = CANDIDATES + [
        random_genome(TECHNICAL_SEEDS[k % len(TECHNICAL_SEEDS)], rng).model_copy(update={"seed_id": f"g{k}"}) for k in range(10)
    ]
    frames = frames_of("trend", 0.15, 0)
    frames["ETH"] = frames["ETH"].iloc[24 * 170 :]  # starts 20 days into the window
    frames["SOL"] = frames["SOL"].drop(frames["SOL"].index[24 * 200 : 24 * 203])
    window = Window(START + pd.Timedelta(days=150), START + pd.Timedelta(days=300), "span")
    whole, whole_metrics = held_out.window_returns(mixed, frames, window)
    bars = sum(int(((f.index >= window.start) & (f.index < window.end)).sum()) for f in frames.values())
    batches = []
    run_window = held_out.run_window
    monkeypatch.setattr(held_out, "run_window", lambda c, *a, **k: batches.append(len(c)) or run_window(c, *a, **k))
    for group in (1, 3, 7):
        monkeypatch.setattr(held_out, "RETURNS_MEMORY_BYTES", 8 * bars * group)
        batches.clear()
        grouped, grouped_metrics = held_out.window_returns(mixed, frames, window)
        assert max(batches) == group and sum(batches) == len(mixed) * len(frames)  # groups within the budget
        pd.testing.assert_frame_equal(grouped, whole, check_exact=True)
        assert list(grouped_metrics) == list(whole_metrics)
        for coin, metrics in whole_metrics.items():
            pd.testing.assert_frame_equal(grouped_metrics[coin], metrics, check_exact=True)
    union = sorted(set().union(*(f.index[(f.index >= window.start) & (f.index < window.end)] for f in frames.values())))
    assert list(whole.columns) == [g.seed_id for g in mixed] and list(whole.index) == union


def test_the_gate_tests_the_excess_over_the_beta_matched_market():
    """A candidate that is the market, levered, in a bull run beats cash by far and has no alpha: it does not pass,
    and its verdict says its beta and what the test could have seen. A market timer passes."""
    days = pd.date_range("2024-01-01", periods=300, freq="D", tz="UTC")
    rng = np.random.default_rng(5)
    market = pd.Series(rng.normal(0.004, 0.02, 300), index=days)  # a strong bull drift
    daily = pd.DataFrame(
        {
            "levered": 1.5 * market + rng.normal(0.0, 0.002, 300),
            "timer": 0.5 * market + rng.normal(0.003, 0.008, 300),
            "noise": rng.normal(0.0, 0.01, 300),
        },
        index=days,
    )
    evidence = _evidence(daily, {name: 40 for name in daily})
    evidence.market_daily = market
    assert "levered" in superiority_test(daily, alpha=0.025, reps=500, seed=0).superior  # against cash it would pass
    inputs = gate_inputs(evidence, 0.025)
    assert inputs.betas["levered"] == pytest.approx(1.5, abs=0.05) and abs(inputs.alphas["levered"]) < 0.1
    test = superiority_test(inputs.excess, alpha=0.025, reps=500, seed=0)
    config = HeldOutConfig(min_trades=10)
    levered = judge("levered", evidence, test, config, inputs=inputs)
    assert levered.status is StageStatus.FAILED and "could see an annual Sharpe" in levered.reasons[0]
    assert levered.metrics["superiority"]["beta"] == pytest.approx(1.5, abs=0.05)
    assert judge("timer", evidence, test, config, inputs=inputs).status is StageStatus.PASSED
    assert inputs.reach.n_candidates == 3 and inputs.reach.at_50 < inputs.reach.at_80
