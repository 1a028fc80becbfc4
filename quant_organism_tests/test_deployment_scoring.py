"""Issue 12: allocation scored on Sharpe, consistency, drawdown and age, then Kelly under the caps; the paper
results of strategies still trading count in their score at each deployment."""

from __future__ import annotations

import numpy as np
import pandas as pd

from quant_organism.deployment.scoring import PaperRecord, score
from quant_organism.deployment.selection import plan_from_verdicts

BARS = pd.date_range("2024-01-01", periods=24 * 120, freq="h", tz="UTC")


def _returns(seed: int, mean: float = 0.0004, sd: float = 0.004) -> np.ndarray:
    return np.random.default_rng(seed).normal(mean, sd, len(BARS))


def _verdict(name: str, passed: bool = True) -> dict:
    return {"candidate_id": name, "score": 0.9, "passed": passed, "mode": "full", "reasons": []}


def test_each_component_moves_the_score_the_right_way():
    days = pd.date_range("2024-01-01", periods=120, freq="D")
    steady = pd.Series(np.random.default_rng(1).normal(0.004, 0.01, 120), index=days)
    noisy = pd.Series(np.random.default_rng(1).normal(0.004, 0.04, 120), index=days)
    assert score(steady).total > score(noisy).total
    assert score(steady).sharpe > score(noisy).sharpe and score(steady).drawdown >= score(noisy).drawdown
    proven = score(steady, PaperRecord(days=45, sharpe=2.5, max_drawdown=0.03))
    fading = score(steady, PaperRecord(days=45, sharpe=-1.5, max_drawdown=0.12, decaying=True))
    assert proven.age == 1.0 and fading.age == 0.0
    assert proven.total > score(steady).total > fading.total
    assert score(steady, PaperRecord(days=0, sharpe=None, max_drawdown=None)) == score(steady)  # no record: as new


def test_incumbents_compete_with_new_candidates_their_paper_record_counting():
    returns = pd.DataFrame({"new": _returns(1), "old_good": _returns(2), "old_bad": _returns(3)}, index=BARS)
    paper = {
        "old_good": PaperRecord(days=60, sharpe=3.0, max_drawdown=0.02),
        "old_bad": PaperRecord(days=60, sharpe=-2.0, max_drawdown=0.2, decaying=True),
    }
    plan = plan_from_verdicts(
        [_verdict("new"), _verdict("failed", passed=False)], returns.assign(failed=_returns(4)), paper=paper
    )
    ranked = {c.name: c.score for c in plan.chosen} | {r.name: r.score for r in plan.rejected if r.name != "failed"}
    assert ranked["old_good"] > ranked["new"] > ranked["old_bad"]
    assert plan.chosen[0].name == "old_good"
    chosen = {c.name: c for c in plan.chosen}
    capital = [c for c in plan.chosen if c.name != "new"]
    assert all(0.0 < c.allocation <= 0.25 for c in capital) and sum(c.allocation for c in plan.chosen) <= 1.0
    assert chosen["new"].allocation == 0.02 and chosen["new"].stage == "probation"  # unproven: incubation only
    assert chosen["old_good"].validation["incumbent"] is True
    assert "deployment_score_age" in chosen["new"].validation
    assert "failed" not in chosen
