"""Probation (deployment/probation.py): a newly chosen strategy holds no capital until one look at its own
forward record promotes it; the look's size and power are those of a one-sided t-test."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quant_organism.deployment.decision import DecisionConfig
from quant_organism.deployment.probation import forward_test
from quant_organism.deployment.scoring import PaperRecord
from quant_organism.deployment.selection import plan_from_verdicts

BARS = pd.date_range("2024-01-01", periods=24 * 120, freq="h", tz="UTC")
ON_PROBATION = PaperRecord(days=0, sharpe=None, max_drawdown=None, capital=False)


def _bars(seed: int, mean: float = 0.0002, sd: float = 0.004, forward_days: int | None = None) -> np.ndarray:
    """Hourly returns; with `forward_days`, NaN before the last `forward_days` days (an incumbent's forward record)."""
    values = np.random.default_rng(seed).normal(mean, sd, len(BARS))
    if forward_days is not None:
        values[: len(BARS) - 24 * forward_days] = np.nan
    return values


def _verdict(name: str) -> dict:
    return {"candidate_id": name, "score": 0.9, "passed": True, "mode": "full", "reasons": []}


def test_a_newly_chosen_strategy_enters_at_incubation_capital_and_gets_kelly_capital_at_once_with_probation_off():
    returns = pd.DataFrame({"new": _bars(1)}, index=BARS)
    on = plan_from_verdicts([_verdict("new")], returns)
    assert [(c.name, c.allocation, c.stage) for c in on.chosen] == [("new", 0.02, "probation")]  # incubation
    assert on.cash == 0.98 and any("probation at 2.0% each" in n for n in on.notes)
    off = plan_from_verdicts([_verdict("new")], returns, DecisionConfig(probation_days=0))
    assert off.chosen[0].allocation > 0.02 and off.chosen[0].stage == "capital"
    paper_only = plan_from_verdicts([_verdict("new")], returns, DecisionConfig(probation_allocation=0.0))
    assert [(c.allocation, c.stage) for c in paper_only.chosen] == [(0.0, "probation")] and paper_only.cash == 1.0
    with pytest.raises(ValueError, match="probation_allocation"):
        DecisionConfig(probation_allocation=0.1)  # ten of them would hold all the capital


def test_a_probationer_waits_at_incubation_capital_until_its_forward_record_is_long_enough():
    returns = pd.DataFrame({"young": _bars(2, mean=0.002, forward_days=20)}, index=BARS)
    plan = plan_from_verdicts([], returns, paper={"young": ON_PROBATION})
    (young,) = plan.chosen
    assert young.allocation == 0.02 and young.stage == "probation"
    assert young.validation["judged_on"] == "on probation: 20 of 60 forward days"


def test_one_look_promotes_a_forward_edge_and_retires_a_forward_null():
    returns = pd.DataFrame({"edge": _bars(3, mean=0.001, forward_days=70),
                            "null": _bars(4, mean=0.0, forward_days=70)}, index=BARS)  # fmt: skip
    paper = {"edge": ON_PROBATION, "null": ON_PROBATION}
    plan = plan_from_verdicts([], returns, paper=paper)
    assert [c.name for c in plan.chosen] == ["edge"]
    edge = plan.chosen[0]
    assert edge.allocation > 0.0 and edge.stage == "capital" and edge.validation["probation_promoted"] is True
    assert edge.validation["probation_days"] == 70 and edge.validation["probation_pvalue"] <= 0.05
    (null,) = [r for r in plan.rejected if r.name == "null"]
    assert "failed probation: forward record of 70 days" in null.reason
    assert any("promoted from probation on their forward record: edge" in n for n in plan.notes)
    looks = plan.to_dict()["probation_looks"]  # every look made, in the plan (and so the manifest)
    assert set(looks) == {"edge", "null"} and looks["edge"]["probation_promoted"] and not looks["null"]["probation_promoted"]


def test_a_capital_holder_outranks_a_correlated_newcomer_with_a_better_score():
    base = _bars(5, mean=0.0003, forward_days=90)
    returns = pd.DataFrame({"holder": base, "newcomer": np.where(np.isnan(base), _bars(6, mean=0.001), base * 1.01)}, index=BARS)
    paper = {"holder": PaperRecord(days=90, sharpe=None, max_drawdown=None)}  # holds capital
    plan = plan_from_verdicts([_verdict("newcomer")], returns, paper=paper)
    assert [c.name for c in plan.chosen] == ["holder"] and plan.chosen[0].allocation > 0.0
    (newcomer,) = plan.rejected
    assert newcomer.name == "newcomer" and newcomer.correlated_with == "holder"


def test_probation_holds_at_most_max_pool_strategies():
    returns = pd.DataFrame(
        {f"p{k}": _bars(10 + k, forward_days=10) for k in range(2)} | {"new": _bars(20, mean=0.001)}, index=BARS
    )
    plan = plan_from_verdicts([_verdict("new")], returns, DecisionConfig(min_pool=1, max_pool=2),
                              paper={"p0": ON_PROBATION, "p1": ON_PROBATION})  # fmt: skip
    assert sorted(c.name for c in plan.chosen) == ["p0", "p1"]
    assert [r.reason for r in plan.rejected] == ["probation full (2 waiting, max_pool 2)"]


@pytest.mark.parametrize("alpha", [0.05, 0.10])
def test_the_look_has_its_nominal_size_on_nulls_and_the_power_a_t_test_predicts(alpha):
    from scipy import stats

    rng = np.random.default_rng(7)
    days, draws = 60, 4000
    null = np.mean([forward_test(pd.Series(rng.standard_t(4, days) * 0.02), alpha).promoted for _ in range(draws)])
    assert abs(null - alpha) < 3 * np.sqrt(alpha * (1 - alpha) / draws) + 0.005  # fat tails, still its size
    sharpe = 3.0  # annualised over 365 days, the planted markets' convention
    daily = sharpe / np.sqrt(365)
    power = np.mean([forward_test(pd.Series(rng.normal(daily, 1.0, days)), alpha).promoted for _ in range(draws)])
    predicted = 1 - stats.nct.cdf(stats.t.ppf(1 - alpha, days - 1), days - 1, daily * np.sqrt(days))
    assert abs(power - predicted) < 0.03


def test_a_flat_record_is_never_promoted():
    assert not forward_test(pd.Series(np.zeros(90)), 0.05).promoted
    assert not forward_test(pd.Series([np.nan] * 90), 0.05).promoted
