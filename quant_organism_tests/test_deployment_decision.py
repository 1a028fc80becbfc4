"""The decision engine: correlation filter, edge filter, pool sizing, and the plan it returns."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from quant_organism.deployment import Candidate, DecisionConfig, DecisionEngine, DeploymentPlan
from quant_organism.validation import StageResult, StageStatus, decide

N = 500


def returns(n_columns: int, seed: int = 0, mean: float = 2e-3, std: float = 0.01) -> pd.DataFrame:
    """Independent per-bar returns with a clear positive edge (the sample mean is ~4 standard errors up)."""
    rng = np.random.default_rng(seed)
    index = pd.date_range("2024-01-01", periods=N, freq="h", tz="UTC")
    return pd.DataFrame(rng.normal(mean, std, (N, n_columns)), index=index, columns=[f"s{i}" for i in range(n_columns)])


def candidates(frame: pd.DataFrame, scores: list[float] | None = None) -> list[Candidate]:
    scores = scores or [0.99 - 0.01 * i for i in range(len(frame.columns))]
    return [Candidate(name, score) for name, score in zip(frame.columns, scores)]


def test_nearly_identical_returns_keep_only_the_higher_score() -> None:
    frame = returns(3, seed=1)
    noise = np.random.default_rng(9).normal(0, 1e-3, N)
    frame["twin"] = frame["s0"] + noise  # corr ~0.995 with s0
    offered = [Candidate("s0", 0.80), Candidate("twin", 0.90), Candidate("s1", 0.85), Candidate("s2", 0.75)]
    plan = DecisionEngine().select(offered, frame)

    [rejected] = plan.rejected
    assert rejected.name == "s0" and rejected.correlated_with == "twin"
    assert rejected.correlation == pytest.approx(np.corrcoef(frame["s0"], frame["twin"])[0, 1])
    assert "correlation" in rejected.reason and "twin" in rejected.reason
    assert plan.names == ["twin", "s1", "s2"]  # best score first


def test_independent_and_anticorrelated_strategies_are_both_kept() -> None:
    frame = returns(2, seed=2)
    frame["mirror"] = 4e-3 - frame["s0"]  # corr -1 with s0, still a positive edge: a hedge, not a duplicate
    plan = DecisionEngine().select(candidates(frame), frame)
    assert set(plan.names) == {"s0", "s1", "mirror"} and not plan.rejected


def test_correlation_threshold_is_configurable_and_strict() -> None:
    rng = np.random.default_rng(3)
    base = rng.normal(0, 0.01, N)
    frame = pd.DataFrame({"a": 2e-3 + base, "b": 2e-3 + 0.8 * base + 0.6 * rng.normal(0, 0.01, N)})
    rho = float(np.corrcoef(frame["a"], frame["b"])[0, 1])
    assert 0.72 < rho < 0.88
    offered = candidates(frame)
    strict = DecisionEngine(DecisionConfig(max_correlation=0.7)).select(offered, frame)
    assert strict.names == ["a"] and strict.rejected[0].correlation == pytest.approx(rho, abs=1e-12)
    assert DecisionEngine(DecisionConfig(max_correlation=0.9)).select(offered, frame).names == ["a", "b"]
    at_the_bar = DecisionConfig(max_correlation=strict.rejected[0].correlation)
    assert DecisionEngine(at_the_bar).select(offered, frame).names == ["a", "b"]  # rejects above, not at


def test_filter_compares_only_with_chosen_strategies() -> None:
    """a chosen; b too close to a (rejected); c close to b but not to a: c is kept."""
    rng = np.random.default_rng(4)
    x, y = rng.normal(0, 0.01, N), rng.normal(0, 0.01, N)
    frame = pd.DataFrame({"a": 2e-3 + x, "b": 2e-3 + 0.75 * x + 0.66 * y, "c": 2e-3 + y})
    corr = frame.corr()
    assert corr.loc["a", "b"] > 0.7 and corr.loc["b", "c"] > 0.6 and abs(corr.loc["a", "c"]) < 0.2
    plan = DecisionEngine(DecisionConfig(max_correlation=0.7)).select(candidates(frame), frame)
    assert plan.names == ["a", "c"] and [r.name for r in plan.rejected] == ["b"]


def test_pool_is_capped_at_max_pool_best_scores_first() -> None:
    frame = returns(12, seed=5)
    scores = list(np.linspace(0.71, 0.99, 12))
    plan = DecisionEngine().select(candidates(frame, scores), frame)
    assert len(plan.chosen) == 10
    assert {r.name for r in plan.rejected} == {"s0", "s1"}  # the two lowest scores
    assert all("pool full" in r.reason for r in plan.rejected)
    # ten strategies at the 0.25 cap would be 2.5x the capital: scaled to exactly 1, no cash
    assert math.fsum(plan.allocations.values()) == pytest.approx(1.0) and plan.cash == pytest.approx(0.0, abs=1e-12)
    assert all(0 < w <= 0.25 for w in plan.allocations.values())
    assert not any("min_pool" in n for n in plan.notes)


def test_fewer_than_min_pool_deploys_what_passed_and_says_so() -> None:
    frame = returns(3, seed=6)
    plan = DecisionEngine().select(candidates(frame), frame)
    assert len(plan.chosen) == 3 and plan.allocations == pytest.approx({"s0": 0.25, "s1": 0.25, "s2": 0.25})
    assert plan.cash == pytest.approx(0.25)
    assert any("only 3 strategies" in n and "min_pool 5" in n for n in plan.notes)


def test_zero_candidates_is_an_honest_all_cash_plan() -> None:
    plan = DecisionEngine().select([], returns(2))
    assert plan.chosen == () and plan.cash == 1.0
    assert any("only 0" in n and "cash" in n for n in plan.notes)


def test_failed_verdicts_and_losing_strategies_are_rejected_with_reasons() -> None:
    frame = returns(2, seed=7)
    frame["loser"] = -frame["s1"]
    passed = StageResult("backtest", StageStatus.PASSED, 0.9, {"superiority": {"passed": True}})
    good = decide("s0", [passed], "minimal")
    bad = decide("s1", [StageResult("backtest", StageStatus.FAILED, 0.4, {}, ["OOS Sharpe 0.2 < 1"])], "minimal")
    plan = DecisionEngine().select([good, bad, Candidate("loser", 0.95)], frame)
    assert plan.names == ["s0"]
    reasons = {r.name: r.reason for r in plan.rejected}
    assert "failed validation" in reasons["s1"] and "OOS Sharpe" in reasons["s1"]
    assert "no positive edge" in reasons["loser"]
    [chosen] = plan.chosen
    assert chosen.score == pytest.approx(0.9) and chosen.validation["validation_mode"] == "minimal"
    assert chosen.validation["validation_backtest_status"] == "passed"


def test_plan_is_deterministic_and_json_ready() -> None:
    frame = returns(6, seed=8)
    offered = [Candidate(n, 0.8) for n in frame.columns]  # equal scores: ties broken by name
    first = DecisionEngine().select(offered, frame)
    second = DecisionEngine().select(list(reversed(offered)), frame)
    assert isinstance(first, DeploymentPlan) and first == second
    assert first.names == sorted(first.names)
    text = json.dumps(first.to_dict(), allow_nan=False)
    assert json.loads(text)["cash"] == first.cash


def test_bad_inputs_are_refused_clearly() -> None:
    frame = returns(2)
    with pytest.raises(ValueError, match="no validation returns for candidates \\['ghost'\\]"):
        DecisionEngine().select([Candidate("ghost", 0.9)], frame)
    with pytest.raises(ValueError, match="duplicate candidate"):
        DecisionEngine().select([Candidate("s0", 0.9), Candidate("s0", 0.8)], frame)
    with pytest.raises(ValueError, match="finite"):
        Candidate("s0", float("nan"))
    with pytest.raises(ValueError, match="hard cap"):
        DecisionConfig(max_weight=0.5)
    with pytest.raises(ValueError, match="min_pool"):
        DecisionConfig(min_pool=11, max_pool=10)
    with pytest.raises(TypeError, match="DataFrame"):
        DecisionEngine().select([Candidate("s0", 0.9)], {"s0": [0.1]})  # type: ignore[arg-type]
