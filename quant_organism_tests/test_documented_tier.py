"""The documented tier: pre-registered portfolio rules, their causality, the tiers' error shares, the beta null."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quant_organism.backtest.costs import CostModel
from quant_organism.backtest.portfolio_returns import portfolio_returns
from quant_organism.core.beta import beta_matched_excess
from quant_organism.market.sources.planted_panel import PanelMarket
from quant_organism.market.universe import point_in_time_members
from quant_organism.strategies.portfolio import DOCUMENTED_RULES, PortfolioRule, rule_named
from quant_organism.validation import tiers
from quant_organism.validation.documented import judge_documented

ALL_RULES = tuple(rule for rules in DOCUMENTED_RULES.values() for rule in rules)


def test_the_shares_of_the_error_add_up_to_the_family_wise_error() -> None:
    assert tiers.DOCUMENTED_LEVEL + tiers.EXPLORATORY_LEVEL == pytest.approx(tiers.FAMILY_WISE_ERROR)
    assert sum(tiers.DOCUMENTED_FAMILY_LEVELS.values()) == pytest.approx(tiers.DOCUMENTED_LEVEL)
    assert set(tiers.DOCUMENTED_FAMILY_LEVELS) == set(DOCUMENTED_RULES)
    assert len(ALL_RULES) == 12 and len({rule.name for rule in ALL_RULES}) == 12  # the grid is small and named


@pytest.mark.parametrize("rule", ALL_RULES, ids=lambda rule: rule.name)
def test_a_rule_at_day_t_reads_nothing_after_t(rule: PortfolioRule) -> None:
    panel = PanelMarket("trend", 1.5, seed=3, coins=8, days=500, forward_days=0).panel()
    members = point_in_time_members(panel.dollar_volume, top_n=6, min_history_days=30)
    full = rule.weights(panel.closes, members, panel.funding)
    assert full.abs().to_numpy().sum() > 0  # it trades
    for cut in (250, 371, 499):
        part = panel.until(panel.closes.index[cut])
        prefix = rule.weights(part.closes, members.iloc[: cut + 1], part.funding)
        pd.testing.assert_frame_equal(prefix, full.iloc[: cut + 1])


def test_costs_and_funding_are_charged_on_the_book() -> None:
    days = pd.date_range("2024-01-01", periods=4, freq="D", tz="UTC")
    closes = pd.DataFrame({"A": [100.0, 100.0, 110.0, 110.0]}, index=days)
    weights = pd.DataFrame({"A": [1.0, 1.0, 0.0, 0.0]}, index=days)
    funding = pd.DataFrame({"A": [0.0, 0.001, 0.001, 0.001]}, index=days)
    costs = CostModel(taker_fee=0.0005, maker_fee=0.0, slippage=0.0005)
    returns = portfolio_returns(weights, closes, costs, funding)
    assert returns.tolist() == pytest.approx([0.0, -0.001 - 0.001, 0.10 - 0.001, -0.001])


def test_beta_matched_excess_removes_the_market() -> None:
    rng = np.random.default_rng(0)
    market = pd.Series(rng.normal(0.002, 0.03, 2000))
    returns = pd.DataFrame({"leveraged": 2.0 * market, "timed": 0.5 * market + 0.001 + rng.normal(0, 0.01, 2000)})
    excess, alphas, betas = beta_matched_excess(returns, market)
    assert betas["leveraged"] == pytest.approx(2.0) and alphas["leveraged"] == pytest.approx(0.0, abs=1e-12)
    assert betas["timed"] == pytest.approx(0.5, abs=0.03) and alphas["timed"] == pytest.approx(0.365, abs=0.1)


def _passes(kind: str, seeds: range, strength: float = 0.0) -> dict[str, int]:
    counts = {family: 0 for family in DOCUMENTED_RULES}
    for seed in seeds:
        market = PanelMarket(kind, strength, seed, coins=20, days=5 * 365, forward_days=0)
        panel = market.panel()
        members = point_in_time_members(panel.dollar_volume, top_n=20, min_history_days=60)
        verdict = judge_documented(panel, market.evolution_date, members)
        for family in verdict.families:
            counts[family.family] += bool(family.superior)
    return counts


def test_no_family_passes_on_null_and_beta_null_markets() -> None:
    """Size per tier family on 24 nulls, half of them a common bull drift with no edge. At the tier's 2% the chance
    of three or more false passes in 24 runs is about 1%; a gate against cash, or one that paid for fewer rules
    than it tried, passes far more often. (bench organism --evidence measures the size on 80 runs.)"""
    null = _passes("null", range(200, 212))
    beta = _passes("beta_null", range(300, 312))
    assert sum(null.values()) + sum(beta.values()) <= 2, (null, beta)


def test_a_long_rule_on_a_bull_drift_has_beta_not_alpha() -> None:
    market = PanelMarket("beta_null", 0.0, seed=11, coins=20, days=5 * 365, forward_days=0)
    panel = market.panel()
    verdict = judge_documented(panel, market.evolution_date)
    long_flat = verdict.rules["ts_trend_60d_long_flat"]
    assert verdict.market_sharpe > 0.8  # the drift pays the market
    assert long_flat.sharpe > 0.5 and long_flat.beta > 0.1  # the long rule earns it too, through its beta ...
    assert long_flat.excess_sharpe < 0.5 and not long_flat.superior  # ... and no alpha to pass on (costs make it negative)


def test_a_planted_trend_passes_the_trend_family() -> None:
    counts = _passes("trend", range(400, 404), strength=2.3)  # reference Sharpe about 2 (bench calibration)
    assert counts["ts_trend"] >= 3


def test_the_verdict_reads_nothing_after_its_date() -> None:
    market = PanelMarket("trend", 2.0, seed=5, coins=10, days=3 * 365, forward_days=120)
    panel = market.panel()
    a = judge_documented(panel, market.evolution_date)
    b = judge_documented(panel.until(market.evolution_date), market.evolution_date)
    assert a.to_dict() == b.to_dict()
    assert rule_named("ts_trend_60d_long_flat").name in a.rules


def test_the_evidence_bench_counts_what_the_nights_decision_deploys() -> None:
    """`bench organism --evidence` takes the night's decision (deployment/night.decide) on each run: a planted trend
    that passes puts a trend rule on probation; a null run deploys nothing."""
    from quant_organism.benchmarks.evidence import EvidenceSpec, run_one

    trend = run_one(EvidenceSpec("trend", 2.0, 2.0498046875, 5140))  # the bench's calibrated strength for Sharpe 2
    assert trend["captured"] and trend["deployed_capturing"]
    assert set(trend["deployed"]) <= {f"documented.{name}" for name in trend["passed"]}  # never a rule that did not pass
    null = run_one(EvidenceSpec("null", 0.0, 0.0, 5000))
    assert not null["any_passed"] and null["deployed"] == []
