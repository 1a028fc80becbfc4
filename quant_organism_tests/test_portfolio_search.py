"""The portfolio search (issue 79, parts 2-3): portfolio construction as genes, searched on the train window only and
judged once on the held-out days after it.

- the documented rules are points of the genome space: the same weights to the last bit;
- a genome's name is the genome; its weights at a day read nothing after it (prefix invariance);
- the search reads nothing after its train window: the data after it can be anything;
- the gate passes nothing on a null market and a planted cross-sectional edge on a strong one; it counts the effective
  trials the search spent; its market is held as perpetuals, so a short book's funding income is not alpha;
- run_chain deploys a searched passer under its genome's name, and the name resolves to a paper book.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quant_organism.backtest.costs import CostModel
from quant_organism.backtest.portfolio_returns import equal_weight_market, portfolio_returns
from quant_organism.core.beta import beta_matched_excess
from quant_organism.core.windows import Window
from quant_organism.deployment import documented_capital as documented
from quant_organism.evolution.portfolio_search import PortfolioSearchSettings, search_portfolios
from quant_organism.market.panel import DailyPanel
from quant_organism.market.sources.planted_panel import PanelMarket
from quant_organism.strategies.portfolio import DOCUMENTED_RULES
from quant_organism.strategies.portfolio_genome import GRID, PortfolioGenome, from_indices, from_name, from_rule
from quant_organism.validation.searched_rules import search_and_judge
from quant_organism.validation.tiers import DOCUMENTED_LEVEL, FAMILY_WISE_ERROR, GENOME_SEARCH_LEVEL, PORTFOLIO_SEARCH_LEVEL

PANEL = PanelMarket("xs_momentum", 2.0, seed=21, coins=10, days=900, forward_days=0).panel()
SMALL = PortfolioSearchSettings(population=12, generations=3, candidates=6)


def _train(days: int) -> Window:
    start = PANEL.closes.index[0]
    return Window(start, start + pd.Timedelta(days=days), "train")


@pytest.mark.parametrize("rule", [r for rules in DOCUMENTED_RULES.values() for r in rules], ids=lambda r: r.name)
def test_every_documented_rule_is_a_point_of_the_genome_space(rule) -> None:
    members = documented.universe(PANEL)
    genome = from_rule(rule)
    expected = rule.weights(PANEL.closes, members, PANEL.funding)
    assert genome.weights(PANEL.closes, members, PANEL.funding).equals(expected) or (
        rule.family == "funding_carry"  # ranked on the negated score: only exact ties could order differently
        and np.allclose(genome.weights(PANEL.closes, members, PANEL.funding), expected)
    )


def test_a_genome_s_name_is_the_genome_and_a_foreign_name_is_refused() -> None:
    rng = np.random.default_rng(0)
    sizes = [len(v) for v in GRID.values()]
    for _ in range(200):
        genome = from_indices(rng.integers(0, sizes))
        assert from_name(genome.name) == genome and genome == genome.canonical
    ts = PortfolioGenome(construction="time_series", quantile=0.3)
    assert ts.name == PortfolioGenome(construction="time_series", quantile=0.1).name  # a gene it does not read
    with pytest.raises(ValueError, match="not canonical"):
        from_name("searched.momentum.follow.cross_section.long_short.L14.q30.vol30.r7.age0".replace("r7", "r07"))
    with pytest.raises(ValueError, match="not a searched"):
        from_name("documented.ts_trend_60d_long_flat")
    with pytest.raises(ValueError, match="not one of"):
        PortfolioGenome(lookback=11)


@pytest.mark.parametrize(
    "name",
    [
        "searched.risk_adjusted.follow.cross_section.long_flat.L40.q20.equal.r7.age60",
        "searched.momentum.fade.time_series.long_short.L20.vol30.r3.age120",
        "searched.funding.fade.cross_section.long_short.L30.q30.vol20.r14.age0",
    ],
)
def test_weights_at_a_day_read_nothing_after_it(name: str) -> None:
    genome = from_name(name)
    members = documented.universe(PANEL)
    whole = genome.weights(PANEL.closes, members, PANEL.funding)
    assert whole.abs().sum().sum() > 0
    for t in (400, 613, 850):
        day = PANEL.closes.index[t]
        seen = PANEL.until(day)
        prefix = genome.weights(seen.closes, members.loc[:day], seen.funding)
        assert prefix.iloc[-1].equals(whole.loc[day]), f"{name} at {day}"


def test_the_search_reads_nothing_after_its_train_window() -> None:
    train = _train(400)
    members = documented.universe(PANEL)
    after = PANEL.closes.index >= train.end
    scrambled = PANEL.closes.copy()
    scrambled.loc[after] = scrambled.loc[after] * np.exp(np.random.default_rng(1).normal(0, 0.3, scrambled.loc[after].shape))
    funding = PANEL.funding.copy()
    funding.loc[after] = funding.loc[after] * 3.0
    other = DailyPanel(scrambled, PANEL.dollar_volume, funding)
    first = search_portfolios(PANEL, members, train, SMALL, seed=5)
    second = search_portfolios(other, members, train, SMALL, seed=5)
    assert [g.name for g in first.candidates] == [g.name for g in second.candidates]
    assert {n: t.excess_sharpe for n, t in first.trials.items()} == {n: t.excess_sharpe for n, t in second.trials.items()}
    assert len(first.trials) > SMALL.population  # it searched past its first generation


def test_the_gate_passes_a_strong_cross_sectional_edge_and_nothing_on_a_null() -> None:
    date = PANEL.closes.index[-1]
    planted = search_and_judge(PANEL, documented.universe(PANEL), _train(300), date, SMALL, seed=3, reps=300)
    assert planted.passed and all(from_name(n).construction == "cross_section" for n in planted.passed[:1])
    assert planted.held_out.start == planted.train.end and planted.held_out_days == 600
    assert 1.0 <= planted.effective_trials <= planted.tried and planted.reach is not None
    null = PanelMarket("null", 0.0, seed=22, coins=10, days=900, forward_days=0).panel()
    verdict = search_and_judge(null, documented.universe(null), _train(300), date, SMALL, seed=3, reps=300)
    assert verdict.passed == [] and verdict.spa_pvalue > PORTFOLIO_SEARCH_LEVEL
    assert verdict.daily.index.min() >= verdict.held_out.start  # only held-out days were judged


def test_a_short_book_s_funding_income_is_not_alpha_over_the_market_held_as_perpetuals() -> None:
    """Shorting every coin collects the funding longs pay. Against the price index it reads as alpha; against the
    market held as perpetuals (each long paying its funding) it is the market at beta -1, with nothing left over."""
    members = documented.universe(PANEL)
    eligible = members.reindex_like(PANEL.closes).fillna(False).astype(bool) & PANEL.closes.notna()
    short = -eligible.astype(float).div(eligible.sum(axis=1).replace(0, np.nan), axis=0).fillna(0.0)
    book = portfolio_returns(short, PANEL.closes, CostModel(taker_fee=0.0, slippage=0.0), PANEL.funding).iloc[200:].to_frame("r")
    priced, _, _ = beta_matched_excess(book, equal_weight_market(PANEL.closes, members).iloc[200:])
    held, _, betas = beta_matched_excess(book, equal_weight_market(PANEL.closes, members, PANEL.funding).iloc[200:])
    assert priced["r"].mean() * 365 > 0.05  # the funding, about 11% a year, read as alpha
    assert abs(held["r"].mean() * 365) < 1e-9 and betas["r"] == pytest.approx(-1.0)


def test_the_train_window_grows_with_the_lookback_to_its_length_and_keeps_half_the_history_for_the_gate() -> None:
    from quant_organism.evolution.portfolio_search import TRAIN_DAYS

    start = pd.Timestamp("2020-01-01", tz="UTC")
    settings = PortfolioSearchSettings()
    for lookback, night_train, expected in ((540, 216, 270), (1000, 216, 500), (2190, 216, 548), (400, 240, 240)):
        night = Window(start, start + pd.Timedelta(days=night_train), "train")
        date = start + pd.Timedelta(days=lookback - 1)
        window = settings.train_window(night, date)
        assert window.start == start and (window.end - start).days == expected == min(
            max(night_train, min(TRAIN_DAYS, lookback // 2)), lookback
        )
    assert PortfolioSearchSettings(train_days=None).train_window(night, date) == night


def test_the_searches_share_the_exploratory_error_and_the_tiers_add_up() -> None:
    assert GENOME_SEARCH_LEVEL + PORTFOLIO_SEARCH_LEVEL + DOCUMENTED_LEVEL == pytest.approx(FAMILY_WISE_ERROR)
    assert GENOME_SEARCH_LEVEL == PORTFOLIO_SEARCH_LEVEL


def test_a_searched_name_resolves_to_its_genome_and_its_family() -> None:
    name = "searched.momentum.follow.cross_section.long_short.L28.q30.equal.r7.age0"
    assert documented.is_rule(name) and not documented.is_documented(name)
    assert documented.rule_of(name) == from_name(name)
    assert documented.rule_family(name) == "searched_cross_section_momentum"
    assert documented.rule_family("documented.ts_trend_60d_long_flat") == "documented_ts_trend"
    with pytest.raises(KeyError):
        documented.rule_of("searched.nonsense")


def _daily_frames(panel: DailyPanel) -> dict[str, pd.DataFrame]:
    """A planted panel as the lake's daily bar frames (a flat bar at each close)."""
    frames = {}
    for coin in panel.closes.columns:
        close = panel.closes[coin].dropna()
        frames[coin] = pd.DataFrame({"open": close, "high": close, "low": close, "close": close,
                                     "volume": (panel.dollar_volume[coin] / panel.closes[coin]).loc[close.index],
                                     "funding_rate": panel.funding[coin].loc[close.index]})  # fmt: skip
    return frames


@pytest.mark.parametrize(("kind", "deploys"), [("xs_momentum", True), ("null", False)])
def test_run_chain_puts_a_portfolio_passer_on_probation_under_its_genome_s_name(kind: str, deploys: bool) -> None:
    from quant_organism.deployment.chain import ChainSettings, run_chain
    from quant_organism.evolution.evolution_config import EvolutionConfig

    panel = PanelMarket(kind, 2.0, seed=21 if kind == "xs_momentum" else 22, coins=10, days=900, forward_days=0).panel()
    evolution = EvolutionConfig(total_strategies=20, batch_size=10, generations=1, lookback_days=600, split=(0.4, 0.3, 0.3),
                                min_trades=5, seed_types=["sma_trend", "rsi_filter"], executor="serial", random_seed=4)  # fmt: skip
    spec = ChainSettings(evolution=evolution, documented=False, max_candidates=5, portfolio=SMALL)
    outcome = run_chain(_daily_frames(panel), panel.closes.index[-1].date(), spec)
    night = outcome.result.windows.train
    assert outcome.searched is not None and outcome.searched.train.start == night.start
    assert (outcome.searched.train.end - night.start).days == 300  # half the 600-day lookback, below TRAIN_DAYS
    entered = [c for c in outcome.plan.chosen if c.name.startswith("searched.")]
    assert bool(entered) is deploys and bool(outcome.searched.passed) is deploys
    assert all(c.stage == "probation" and c.name in outcome.searched.passed for c in entered)
