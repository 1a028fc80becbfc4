"""The documented tier as a path to capital: its passing rules compete in the decision engine beside the search's
passers, enter probation like them, are judged as incumbents on their forward record only, and the retrospective
trades them as sleeves of the organism's capital. Their per-bar returns are the rule's daily portfolio returns,
landed on each day's last bar, and never read a later bar."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quant_organism.backtest.portfolio_returns import portfolio_returns
from quant_organism.benchmarks.planted_strength import market_frames
from quant_organism.deployment import documented_capital as documented
from quant_organism.deployment.chain import ChainSettings, Incumbent, run_chain
from quant_organism.deployment.scoring import PaperRecord
from quant_organism.evolution.evolution_config import EvolutionConfig
from quant_organism.market.sources.planted import PlantedMarket
from quant_organism.reporting.retrospective import LiveStrategy, RetrospectiveSettings, _config, judge_date
from quant_organism.runtime.forward import trade_forward
from quant_organism.validation.held_out import HeldOutConfig
from quant_organism.validation.tiers import DOCUMENTED_LEVEL, EXPLORATORY_LEVEL, FAMILY_WISE_ERROR, GENOME_SEARCH_LEVEL

START = pd.Timestamp("2024-01-01", tz="UTC")
SMALL = dict(total_strategies=40, batch_size=20, generations=3, lookback_days=300, split=(0.4, 0.3, 0.3), min_trades=5,
             seed_types=["ema_crossover", "sma_trend", "rsi_filter", "stochastic"], executor="serial")  # fmt: skip
RULE = documented.documented_name("ts_trend_60d_long_flat")


def frames_of(kind: str, strength: float, seed: int, days: int = 300, interval: str = "1h") -> dict[str, pd.DataFrame]:
    market = PlantedMarket(kind=kind, strength=strength, seed=seed, coins=("BTC", "ETH", "SOL"), start=START,
                           end=START + pd.Timedelta(days=days))  # fmt: skip
    return market_frames(market, interval=interval)


def chain(frames, day: int, seed: int = 3, **incumbents):
    spec = ChainSettings(evolution=EvolutionConfig(**SMALL, random_seed=seed), max_candidates=12)
    return run_chain(frames, (START + pd.Timedelta(days=day)).date(), spec, incumbents=incumbents or None)


def test_the_seed_search_gate_spends_half_the_exploratory_share_and_the_tiers_add_up():
    assert HeldOutConfig().alpha == GENOME_SEARCH_LEVEL == EXPLORATORY_LEVEL / 2
    assert EXPLORATORY_LEVEL + DOCUMENTED_LEVEL == pytest.approx(FAMILY_WISE_ERROR)


def test_rule_returns_land_on_each_days_last_bar_and_equal_the_daily_book():
    frames = frames_of("trend", 0.15, 3, days=200, interval="4h")
    index = next(iter(frames.values())).index
    landed = documented.rule_bar_returns(frames, [RULE], index)[RULE]
    panel = documented.frames_panel(frames)
    rule = documented.rule_of(RULE)
    daily = portfolio_returns(rule.weights(panel.closes, documented.universe(panel)), panel.closes, None, panel.funding)
    per_day = landed.groupby(landed.index.floor("D")).sum()
    np.testing.assert_allclose(per_day.to_numpy(), daily.reindex(per_day.index).to_numpy(), atol=1e-12)
    last_bars = index.to_series().groupby(index.floor("D")).last()
    assert (landed.drop(pd.DatetimeIndex(last_bars.to_numpy())) == 0.0).all()
    assert (landed != 0.0).sum() > 50  # the rule traded once its warm-up was over


def test_rule_returns_read_no_later_bar():
    frames = frames_of("trend", 0.15, 4, days=240, interval="4h")
    cut = START + pd.Timedelta(days=200)
    prefix = {coin: f.loc[f.index < cut] for coin, f in frames.items()}
    index = next(iter(prefix.values())).index
    whole = documented.rule_bar_returns(frames, [RULE], index)
    early = documented.rule_bar_returns(prefix, [RULE], index)
    pd.testing.assert_frame_equal(whole, early)


def test_names_are_the_rules_and_nothing_else():
    assert documented.rule_of(RULE).name == "ts_trend_60d_long_flat"
    with pytest.raises(KeyError):
        documented.rule_of("ema_crossover_3_abcd")
    with pytest.raises(KeyError):
        documented.rule_of("documented.ts_trend_61d_long_flat")  # never a rule that was not pre-registered


def test_a_passing_rule_enters_probation_beside_the_search_and_a_null_gives_it_nothing():
    trend = chain(frames_of("trend", 0.15, 3, days=700), 699)  # 520 days of evidence: what an always-valid test needs
    assert trend.documented is not None and trend.documented.passed
    entered = [c for c in trend.plan.chosen if documented.is_documented(c.name)]
    assert entered and all(c.stage == "probation" for c in entered)
    assert all(
        c.allocation == pytest.approx(ChainSettings(evolution=EvolutionConfig()).decision.probation_allocation) for c in entered
    )
    assert {documented.rule_of(c.name).family for c in entered} == {"ts_trend"}
    null = chain(frames_of("null", 0.0, 3, days=700), 699)
    assert null.documented is not None and null.documented.passed == ()
    assert not any(documented.is_documented(n) for n in null.deployed)


def test_a_live_rule_is_judged_on_its_forward_record_only():
    frames = frames_of("trend", 0.15, 3, days=700)
    since = START + pd.Timedelta(days=690)  # 10 forward days: too short to look at
    outcome = chain(
        frames, 699, **{RULE: Incumbent(None, since, PaperRecord(days=10, sharpe=None, max_drawdown=None, capital=False))}
    )
    kept = {c.name: c for c in outcome.plan.chosen}
    assert RULE in kept and kept[RULE].stage == "probation"  # waiting on its record, whatever its held-out record
    assert kept[RULE].validation["judged_on"].startswith("on probation: 1 forward weeks")  # 10 days: one whole week
    assert kept[RULE].probation["entered"] == since.date().isoformat()  # its record starts where its forward days do


def test_the_retrospective_trades_a_chosen_rule_as_a_sleeve_of_the_capital():
    frames = frames_of("trend", 0.15, 3, days=330)
    chain = ChainSettings(evolution=EvolutionConfig(**SMALL, random_seed=3), max_candidates=12, portfolio=None)
    spec = RetrospectiveSettings(chain)  # the documented rule's sleeve alone (test_portfolio_search has the searched's)
    date, until = START + pd.Timedelta(days=300), START + pd.Timedelta(days=330)
    holding = {RULE: LiveStrategy(None, 0.02, START + pd.Timedelta(days=280), "probation")}
    outcome = judge_date(frames, date, until, spec, holding)
    row = outcome.row()
    assert RULE in row["deployed"] and "documented_ts_trend" in row["families"]
    live = outcome.live[RULE]
    assert live.genes is None and live.since == holding[RULE].since
    assert LiveStrategy.from_dict(live.to_dict()) == live  # the stored walk resumes with it
    organism = outcome.records["organism"]
    sleeve = organism.strategy_returns[RULE]
    forward = {coin: f.loc[f.index < until] for coin, f in frames.items()}
    expected = documented.rule_bar_returns(forward, [RULE], organism.returns.index)[RULE]
    pd.testing.assert_series_equal(sleeve, expected, check_names=False)
    assert (sleeve != 0.0).any()
    searched = [_config(n, s.genes, s.allocation) for n, s in outcome.live.items() if s.genes is not None]
    rest = trade_forward(searched, forward, date, until, spec.costs, spec.risk).returns
    rules = {n: s.allocation for n, s in outcome.live.items() if s.genes is None}
    entered = {n: s.since for n, s in outcome.live.items() if s.genes is None}  # a newly chosen rule pays its entry
    sleeves = documented.rule_bar_returns(forward, rules, organism.returns.index, since=entered)
    sleeves = sleeves.mul(pd.Series(rules), axis=1).sum(axis=1)
    np.testing.assert_allclose(organism.returns.to_numpy(), (rest + sleeves).to_numpy(), atol=1e-12)


def test_the_retrospective_on_spot_bars_skips_the_carry_family_and_says_why():
    """Spot candles have no funding: the date is judged, the carry family skipped with its reason in the row."""
    frames = frames_of("trend", 0.15, 3, days=330)
    spot = {coin: f.drop(columns=["funding_rate"]) for coin, f in frames.items()}
    spec = RetrospectiveSettings(ChainSettings(evolution=EvolutionConfig(**SMALL, random_seed=3), max_candidates=12))
    row = judge_date(spot, START + pd.Timedelta(days=300), START + pd.Timedelta(days=330), spec).row()
    assert "no funding rates" in row["documented_not_judged"]["funding_carry"]
    assert "ts_trend" not in row["documented_not_judged"] and row["documented_trend_p"] is not None


def test_a_retired_rule_is_judged_on_its_record_since_retirement_only():
    frames = frames_of("trend", 0.15, 3, days=700, interval="4h")
    date = START + pd.Timedelta(days=699)
    whole = documented.judge(frames, date)
    rule = "ts_trend_20d_long_flat"
    assert rule in whole.passed  # on its whole record
    left = (START + pd.Timedelta(days=600)).date()  # retired 100 days ago: 14 weeks of record since
    since = documented.judge(frames, date, retired={documented.documented_name(rule): left})
    assert rule not in since.passed and since.rules[rule].weeks == 14
    assert since.rules["ts_trend_20d_long_short"].weeks == whole.rules["ts_trend_20d_long_short"].weeks  # the others whole
