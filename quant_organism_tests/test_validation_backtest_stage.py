"""Stage 1: out-of-sample and walk-forward backtests with warm-up, thresholds and the deflated-Sharpe gate.

The markets are built here: a "trend" market whose price alternates persistent up and down regimes
(a pattern an EMA crossover exploits in every window), and a pure random walk. Both are hourly,
4,000 bars, split 2,400 train / 800 out-of-sample / 800 walk-forward bars (the 60/20/20 split).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from quant_organism.backtest import FitnessConfig, evaluate_population, run_backtest
from quant_organism.strategies import SeedGenes, gene_space, get_registry, repair_values
from quant_organism.validation import (
    BacktestStageConfig,
    StageStatus,
    TrialStats,
    Window,
    decide,
    run_backtest_stage,
    run_window,
)

N_BARS, TRAIN, OOS = 4000, 2400, 800
INDEX = pd.date_range("2024-01-01", periods=N_BARS, freq="h", tz="UTC")
TRAIN_END, OOS_END, END = INDEX[TRAIN], INDEX[TRAIN + OOS], INDEX[-1] + pd.Timedelta(hours=1)
OOS_WINDOW, WF_WINDOW = (TRAIN_END, OOS_END), (OOS_END, END)
HOURS_PER_YEAR = 8760
CONFIG = BacktestStageConfig(min_trades=6)  # ~7 regimes per 800-bar window: a trend follower trades ~10 times


def market(seed: int, trend: float = 0.0, regime: int = 120, vol: float = 0.004) -> pd.DataFrame:
    """Hourly strategy frame (market/frames.py layout): log-returns = ±trend by regime + Gaussian noise."""
    rng = np.random.default_rng(seed)
    sign = np.where((np.arange(N_BARS) // regime) % 2 == 0, 1.0, -1.0)
    close = 100.0 * np.exp(np.cumsum(trend * sign + vol * rng.standard_normal(N_BARS)))
    open_ = np.r_[100.0, close[:-1]]
    high = np.maximum(open_, close) * (1 + 0.001 * rng.random(N_BARS))
    low = np.minimum(open_, close) * (1 - 0.001 * rng.random(N_BARS))
    return pd.DataFrame(
        {"open": open_, "high": high, "low": low, "close": close, "volume": 1000.0, "funding_rate": np.nan}, index=INDEX
    )


def train_part(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.loc[frame.index < TRAIN_END]


def random_genomes(n: int, seed: int) -> list[SeedGenes]:
    rng = np.random.default_rng(seed)
    space = gene_space("ema_crossover")
    return [
        SeedGenes(
            seed_id=f"r{i}",
            seed_type="ema_crossover",
            **repair_values("ema_crossover", {k: s.sample(rng) for k, s in space.items()}),
        )
        for i in range(n)
    ]


def best_of(population: list[SeedGenes], frame: pd.DataFrame) -> tuple[SeedGenes, float, TrialStats]:
    """The search evolution does, in miniature: evaluate on the train window, keep the best Sharpe."""
    scores = evaluate_population(train_part(frame), population, fitness=FitnessConfig(min_trades=10))
    valid = scores.where(scores["valid"])
    k = int(valid["sharpe"].idxmax())
    return population[k], float(scores.loc[k, "sharpe"]), TrialStats.from_sharpes(scores["sharpe"], HOURS_PER_YEAR)


@pytest.fixture(scope="module")
def trend():
    frame = market(11, trend=0.0012)
    grid = [
        SeedGenes(seed_id=f"ema_{f}_{s}_{e}", seed_type="ema_crossover", fast_period=f, slow_period=s,
                  entry_threshold=e, stop_loss=0.0, position_size=0.5)  # fmt: skip
        for f, s, e in itertools.product([6, 12, 24], [48, 96], [0.0, 0.002])
    ]
    genes, train_sharpe, trials = best_of(grid, frame)
    return frame, genes, trials


def test_planted_trend_candidate_passes_stage_one(trend):
    frame, genes, trials = trend
    result = run_backtest_stage([genes], {"BTC": frame}, OOS_WINDOW, WF_WINDOW, trials, CONFIG)[genes.seed_id]
    assert result.status is StageStatus.PASSED, result.reasons
    assert result.reasons == []
    m = result.metrics
    assert m["out_of_sample"]["sharpe"] >= 1.0 and m["walk_forward"]["sharpe"] >= 1.0
    assert m["deflated_sharpe"]["passed"] and m["deflated_sharpe"]["dsr"] >= 0.95
    assert m["deflated_sharpe"]["n_trials"] == 12 and m["deflated_sharpe"]["n_observations"] == OOS
    assert [f["start"] for f in m["walk_forward"]["folds"]] == [
        str(t.isoformat()) for t in pd.date_range(OOS_END, END, periods=4)[:-1]
    ]
    assert m["walk_forward"]["consistency"] == 1.0 and result.score == 1.0
    json.dumps(result.to_dict(), allow_nan=False)  # plain JSON all the way down
    verdict = decide(genes.seed_id, [result], mode="minimal")
    assert verdict.passed and verdict.score == 1.0


@pytest.mark.parametrize("seed, oos_sharpe_collapses", [(21, True), (20, False)])
def test_noise_fitted_candidate_fails_out_of_sample(seed, oos_sharpe_collapses):
    """Best of 200 random genomes on a random walk: a high train Sharpe that is pure selection luck.

    On market 21 its out-of-sample Sharpe collapses; on market 20 it stays above 1 by luck (noise
    does that), and the deflated Sharpe gate is what catches it: 200 trials explain that Sharpe.
    """
    frame = market(seed)
    genes, train_sharpe, trials = best_of(random_genomes(200, 0), frame)
    assert train_sharpe > 2.0  # it looked good where it was fitted
    assert trials.n_trials >= 150
    result = run_backtest_stage([genes], {"BTC": frame}, OOS_WINDOW, WF_WINDOW, trials, CONFIG)[genes.seed_id]
    assert result.status is StageStatus.FAILED
    dsr = result.metrics["deflated_sharpe"]
    assert dsr["dsr"] < 0.95 and dsr["passed"] is False
    assert any(r.startswith("dsr ") for r in result.reasons)
    oos_sharpe = result.metrics["out_of_sample"]["sharpe"]
    assert (oos_sharpe < 1.0) is oos_sharpe_collapses
    assert any(r.startswith("oos_sharpe ") for r in result.reasons) is oos_sharpe_collapses
    verdict = decide(genes.seed_id, [result], mode="minimal")
    assert not verdict.passed and "deflated Sharpe ratio gate did not pass" in verdict.reasons


@pytest.mark.parametrize(
    "override, failing",
    [
        (dict(min_sharpe=1e4), {"oos_sharpe", "wf_sharpe"}),
        (dict(max_drawdown=1e-4), {"oos_max_drawdown", "wf_max_drawdown"}),
        (dict(min_win_rate=0.999), {"oos_win_rate", "wf_win_rate"}),
        (dict(min_trades=10_000), {"oos_trade_count", "wf_trade_count"}),
        (dict(min_dsr=1.0), {"dsr"}),
    ],
)
def test_each_threshold_fails_with_its_own_reason(trend, override, failing):
    frame, genes, trials = trend
    if "min_dsr" in override:  # an impossible bar for any DSR below exactly 1: use a huge, dispersed search
        trials = TrialStats(10**6, 0.01)
    config = dataclasses.replace(CONFIG, **override)
    result = run_backtest_stage([genes], {"BTC": frame}, OOS_WINDOW, WF_WINDOW, trials, config)[genes.seed_id]
    failed = {c["name"] for c in result.metrics["checks"] if not c["passed"]}
    assert result.status is StageStatus.FAILED and failed == failing
    assert len(result.reasons) == len(failing)
    for name in failing:
        (reason,) = [r for r in result.reasons if r.startswith(name + " ")]
        check = next(c for c in result.metrics["checks"] if c["name"] == name)
        fmt = lambda v: str(v) if isinstance(v, int) else f"{v:.4g}"
        assert reason == f"{name} {fmt(check['value'])} {'<' if check['op'] == '>=' else '>'} {fmt(check['threshold'])}"
    # score = 0.7 * share of the 10 checks met + 0.3 * walk-forward consistency (1.0 here)
    assert result.score == pytest.approx(0.7 * (10 - len(failing)) / 10 + 0.3)


def test_walk_forward_consistency_threshold(trend):
    frame, genes, trials = trend
    calm = frame.copy()
    # the market goes still in the last two folds of the walk-forward window: no edge, no positive Sharpe
    later = calm.index >= pd.date_range(OOS_END, END, periods=4)[1]
    price = calm.loc[later, "open"].iloc[0]
    calm.loc[later, ["open", "close"]] = price
    calm.loc[later, "high"], calm.loc[later, "low"] = price * 1.0005, price * 0.9995
    config = dataclasses.replace(CONFIG, min_wf_consistency=1.0)
    result = run_backtest_stage([genes], {"BTC": calm}, OOS_WINDOW, WF_WINDOW, trials, config)[genes.seed_id]
    wf = result.metrics["walk_forward"]
    positive = [f["sharpe"] > 0 for f in wf["folds"]]
    assert positive == [True, False, False]
    assert wf["consistency"] == pytest.approx(1 / 3)
    assert any(r.startswith("wf_consistency ") for r in result.reasons)


def _perturb(frame: pd.DataFrame, mask: np.ndarray, factor: float = 1.3) -> pd.DataFrame:
    """Scale the chosen bars' prices (a valid, very different market there)."""
    out = frame.copy()
    out.loc[mask, ["open", "high", "low", "close"]] *= factor
    return out


def test_bars_after_a_window_never_reach_its_results(trend):
    frame, genes, trials = trend
    run = lambda f: run_backtest_stage([genes], {"BTC": f}, OOS_WINDOW, WF_WINDOW, trials, CONFIG)[genes.seed_id]
    baseline = run(frame)
    # bars after the last window: nothing changes
    longer = pd.concat([frame, _perturb(frame, slice(None)).set_axis(frame.index + (END - INDEX[0]))])
    assert run(longer).to_dict() == baseline.to_dict()
    # bars after the out-of-sample window (inside walk-forward): the OOS figures stay, walk-forward moves
    moved = run(_perturb(frame, frame.index >= OOS_END + pd.Timedelta(hours=200)))
    assert moved.metrics["out_of_sample"] == baseline.metrics["out_of_sample"]
    assert moved.metrics["deflated_sharpe"] == baseline.metrics["deflated_sharpe"]
    assert moved.metrics["walk_forward"] != baseline.metrics["walk_forward"]
    # bars inside the out-of-sample window: its figures move
    inside = run(_perturb(frame, (frame.index >= TRAIN_END + pd.Timedelta(hours=300)) & (frame.index < OOS_END)))
    assert inside.metrics["out_of_sample"]["per_coin"] != baseline.metrics["out_of_sample"]["per_coin"]


def test_signals_use_warm_up_history_but_metrics_only_the_window(trend):
    """The convention of windowed.py: signals from all bars before the window's end, backtest on the window."""
    frame, genes, _ = trend
    window = Window.of(OOS_WINDOW)
    assert Window.of(SimpleNamespace(name="out_of_sample", start=TRAIN_END, end=OOS_END)) == window  # evolution's windows
    assert Window.of(("2024-04-10", "2024-05-01")).start.tzname() == "UTC"  # naive times are UTC
    got = run_window([genes], frame, window)
    history = frame.loc[frame.index < window.end]
    signals = get_registry().batch_signals(genes.seed_type, history, [genes]).loc[history.index >= window.start]
    bars = history.loc[history.index >= window.start]
    manual = run_backtest(bars, signals, stop_loss=genes.stop_loss, position_size=genes.position_size)
    assert len(got.equity) == OOS and got.equity.index[0] == TRAIN_END
    pd.testing.assert_frame_equal(got.metrics, manual.metrics)
    # without warm-up the slow EMA starts cold inside the window: different positions, different result
    cold = run_window([genes], frame.loc[frame.index >= window.start], window)
    assert not got.position.equals(cold.position)
    assert (cold.position.iloc[:48] == 0).all().all()  # flat until the indicators have warmed up
    # warmup_bars=0 means exactly that cold start; a long enough warm-up equals the full history
    pd.testing.assert_frame_equal(run_window([genes], frame, window, warmup_bars=0).metrics, cold.metrics)
    pd.testing.assert_frame_equal(run_window([genes], frame, window, warmup_bars=2000).metrics, got.metrics)
    # changing warm-up bars (before the window) changes the window's signals, so its result
    early = _perturb(frame, (frame.index >= TRAIN_END - pd.Timedelta(hours=30)) & (frame.index < TRAIN_END), 0.8)
    assert not run_window([genes], early, window).position.equals(got.position)


def test_coins_are_aggregated_like_the_universal_fitness(trend):
    frame, genes, trials = trend
    frames = {"BTC": frame, "ETH": market(12, trend=0.0012), "SOL": market(13)}
    both = run_backtest_stage([genes], frames, OOS_WINDOW, WF_WINDOW, trials, CONFIG)[genes.seed_id]
    alone = {
        coin: run_backtest_stage([genes], {coin: f}, OOS_WINDOW, WF_WINDOW, trials, CONFIG)[genes.seed_id].metrics
        for coin, f in frames.items()
    }
    oos = both.metrics["out_of_sample"]
    per = [alone[c]["out_of_sample"] for c in frames]
    assert oos["sharpe"] == pytest.approx(np.mean([p["sharpe"] for p in per]))
    assert oos["max_drawdown"] == pytest.approx(max(p["max_drawdown"] for p in per))
    assert oos["trade_count"] == sum(p["trade_count"] for p in per)
    winners = sum(p["win_rate"] * p["trade_count"] for p in per)
    assert oos["win_rate"] == pytest.approx(winners / oos["trade_count"])
    dsr = both.metrics["deflated_sharpe"]
    assert dsr["sharpe"] == pytest.approx(np.mean([alone[c]["deflated_sharpe"]["sharpe"] for c in frames]))
    assert set(oos["per_coin"]) == set(frames)


def test_several_candidates_of_several_seed_types_in_one_call(trend):
    frame, genes, trials = trend
    other = SeedGenes(seed_id="sma", seed_type="sma_trend")
    results = run_backtest_stage([genes, other], {"BTC": frame}, OOS_WINDOW, WF_WINDOW, trials, CONFIG)
    assert list(results) == [genes.seed_id, "sma"]
    single = run_backtest_stage([other], {"BTC": frame}, OOS_WINDOW, WF_WINDOW, trials, CONFIG)["sma"]
    assert results["sma"].to_dict() == single.to_dict()


def test_bad_inputs_are_refused_with_a_reason(trend):
    frame, genes, trials = trend
    args = dict(frames={"BTC": frame}, out_of_sample=OOS_WINDOW, walk_forward=WF_WINDOW, trials=trials)
    with pytest.raises(ValueError, match="no candidates"):
        run_backtest_stage([], **args)
    with pytest.raises(ValueError, match="unique"):
        run_backtest_stage([genes, genes], **args)
    with pytest.raises(ValueError, match="before its end"):
        run_backtest_stage([genes], **{**args, "out_of_sample": (OOS_END, TRAIN_END)})
    with pytest.raises(ValueError, match="out-of-sample window"):
        run_backtest_stage([genes], **{**args, "out_of_sample": (END, END + pd.Timedelta(days=3))})
    with pytest.raises(TypeError, match="TrialStats"):
        run_backtest_stage([genes], **{**args, "trials": 100})
    with pytest.raises(ValueError, match="tz-aware UTC"):
        run_backtest_stage([genes], **{**args, "frames": {"BTC": frame.tz_localize(None)}})
    with pytest.raises(ValueError, match="min_win_rate"):
        BacktestStageConfig(min_win_rate=40)
