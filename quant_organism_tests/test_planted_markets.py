"""Planted markets: deterministic, canonical, realistic, and their edges measurable (or absent on null)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quant_organism.benchmarks.planted_strength import PLANTED_RULES, calibrate, market_frames, oracle_sharpe, planted_sharpe
from quant_organism.market.schema import (
    CANDLE_COLUMNS,
    FUNDING_COLUMNS,
    MarketDataError,
    UnknownCoinError,
    conform_candles,
    conform_funding,
)
from quant_organism.market.sources.interface import MarketDataSource
from quant_organism.market.sources.planted import CAPTURING_FAMILIES, KINDS, PlantedMarket, PlantedSource, hidden_state, simulate
from quant_organism.strategies.genes import SeedType

START, END = "2024-01-01", "2024-12-31"  # 365 days
FIVE = ("BTC", "ETH", "SOL", "DOGE", "XRP")
TWENTY = tuple(f"C{i:02d}" for i in range(20))


def market(kind: str = "null", strength: float = 0.0, seed: int = 0, coins=FIVE, end: str = END) -> PlantedMarket:
    return PlantedMarket(kind, strength, seed, coins, START, end)


def log_returns(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    return pd.DataFrame({coin: np.log(frame["close"]).diff() for coin, frame in frames.items()}).dropna()


def mean_autocorr(frames: dict[str, pd.DataFrame]) -> float:
    returns = log_returns(frames)
    return float(np.mean([returns[c].autocorr(1) for c in returns]))


@pytest.fixture(scope="module")
def null_frames() -> dict[str, pd.DataFrame]:
    return market_frames(market("null", coins=TWENTY, seed=3))


# -- determinism and schema -----------------------------------------------------------------------
def test_same_seed_gives_identical_frames_and_another_seed_differs():
    spec = market("trend", 0.05, seed=11)
    a = PlantedSource(spec).candles("ETH", START, END)
    simulate.cache_clear()  # recomputed, not served from the cache
    b = PlantedSource(PlantedMarket("trend", 0.05, 11, FIVE, START, END)).candles("ETH", START, END)
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    other = PlantedSource(market("trend", 0.05, seed=12)).candles("ETH", START, END)
    assert not np.allclose(a["close"], other["close"])


def test_paths_do_not_depend_on_the_other_coins_or_the_end_and_strength_zero_is_null():
    whole = PlantedSource(market("trend", 0.05)).candles("SOL", START, "2024-03-01")
    alone = PlantedSource(market("trend", 0.05, coins=("SOL",), end="2024-03-01")).candles("SOL", START, "2024-03-01")
    pd.testing.assert_frame_equal(whole, alone, check_exact=True)
    null = PlantedSource(market("null")).candles("SOL", START, END)
    for kind in ("trend", "mean_reversion", "funding_carry"):
        flat = PlantedSource(market(kind, 0.0)).candles("SOL", START, END)
        pd.testing.assert_frame_equal(flat, null, check_exact=True)  # common random numbers


def test_bars_are_hourly_canonical_and_ohlc_consistent():
    source = PlantedSource(market("mean_reversion", 0.5, coins=("BTC", "C07")))
    assert isinstance(source, MarketDataSource)
    for coin in source.coins:
        candles, funding = source.candles(coin, START, END), source.funding(coin, START, END)
        assert tuple(candles.columns) == CANDLE_COLUMNS and tuple(funding.columns) == FUNDING_COLUMNS
        assert conform_candles(candles) is candles and conform_funding(funding) is funding  # already canonical
        assert len(candles) == len(funding) == 365 * 24
        assert (candles["timestamp"].diff().dropna() == pd.Timedelta(hours=1)).all()
        assert candles["timestamp"].iloc[0] == pd.Timestamp(START, tz="UTC")
        prices = candles[["open", "high", "low", "close"]]
        assert (prices > 0).all().all() and (candles["volume"] > 0).all()
        assert (candles["low"] <= prices[["open", "close"]].min(axis=1)).all()
        assert (candles["high"] >= prices[["open", "close"]].max(axis=1)).all()
        assert (candles["open"].iloc[1:].to_numpy() == candles["close"].iloc[:-1].to_numpy()).all()
        moves = np.abs(np.log(candles["close"] / candles["open"]))
        assert np.corrcoef(moves, np.log(candles["volume"]))[0, 1] > 0.2  # volume rises with |return|


def test_quality_rules_pass_every_bar():
    quality = pytest.importorskip("quant_organism.market.quality")
    source = PlantedSource(market("funding_carry", 0.05))
    days = [d.strftime("%Y-%m-%d") for d in pd.date_range(START, "2024-01-31")]
    for coin in ("BTC", "DOGE"):
        candles, funding = source.candles(coin, START, "2024-02-01"), source.funding(coin, START, "2024-02-01")
        for result in quality.check_candle_days(candles, coin, days) + quality.check_funding_days(funding, coin, days):
            assert result.report.passed and result.report.quarantined_rows == 0, result.report


def test_coarser_bars_aggregate_the_hourly_path():
    source = PlantedSource(market())
    hourly, daily = source.candles("XRP", START, "2024-01-03"), source.candles("XRP", START, "2024-01-03", "1d")
    assert len(daily) == 2
    assert daily["high"].iloc[0] == hourly["high"].iloc[:24].max()
    assert daily["close"].iloc[1] == hourly["close"].iloc[-1]


def test_bad_requests_raise():
    source = PlantedSource(market())
    with pytest.raises(UnknownCoinError):
        source.candles("ADA", START, END)
    with pytest.raises(MarketDataError):
        source.candles("BTC", "2023-12-01", END)
    with pytest.raises(ValueError):
        PlantedMarket("momentum", 0.1)
    with pytest.raises(ValueError):
        PlantedMarket("trend", -0.1)
    with pytest.raises(ValueError):
        PlantedMarket("mean_reversion", 1.5)


def test_frames_match_the_lake_alignment():
    spec = market("funding_carry", 0.02, coins=("ETH",), end="2024-01-08")
    frame = market_frames(spec)["ETH"]
    assert list(frame.columns) == ["open", "high", "low", "close", "volume", "funding_rate"]
    assert str(frame.index.tz) == "UTC" and frame["funding_rate"].notna().all()
    frames = pytest.importorskip("quant_organism.market.frames")
    source = PlantedSource(spec)
    lake_style = frames.to_strategy_frame(source.candles("ETH", START, "2024-01-08"), source.funding("ETH", START, "2024-01-08"))
    pd.testing.assert_frame_equal(frame, lake_style, check_freq=False)


# -- realism ----------------------------------------------------------------------------------------
def test_base_market_has_realistic_volatility_fat_tails_clustering_and_correlation(null_frames):
    returns = log_returns(null_frames)
    assert returns.std().between(0.005, 0.014).all()
    assert (returns.kurt() > 1.0).all()
    assert np.mean([returns[c].abs().autocorr(1) for c in returns]) > 0.03
    corr = returns.corr().to_numpy()[np.triu_indices(len(returns.columns), 1)]
    assert 0.35 < corr.mean() < 0.65


# -- null -------------------------------------------------------------------------------------------
def test_null_market_has_no_edge(null_frames):
    spec = market("null", coins=TWENTY, seed=3)
    assert abs(mean_autocorr(null_frames)) < 0.01
    for kind in ("trend", "mean_reversion"):
        assert planted_sharpe(spec, null_frames, rule=PLANTED_RULES[kind])["mean"] < 0.3, kind
    five = market("null")
    assert planted_sharpe(five)["mean"] < 0.5  # the fixed EMA rule on 5 coins x 1 year
    assert oracle_sharpe(five)["mean"] == 0.0
    for coin in five.coins:
        state = hidden_state(five, coin)
        assert (state.drop(columns="expected_funding") == 0).all().all()
    funding = pd.concat([f["funding_rate"] for f in null_frames.values()])
    assert abs(funding.mean() - 0.0000125) < 1e-6
    nxt = log_returns(null_frames).shift(-1)
    for coin in list(null_frames)[:5]:  # funding predicts nothing
        assert abs(null_frames[coin]["funding_rate"].reindex(nxt.index).corr(nxt[coin])) < 0.05


# -- planted edges ----------------------------------------------------------------------------------
def test_trend_edge_is_captured_by_the_trend_rule_and_bounded_by_the_oracle():
    spec = market("trend", 0.1)
    frames = market_frames(spec)
    planted, oracle = planted_sharpe(spec, frames), oracle_sharpe(spec, frames)
    assert planted["mean"] > 1.0
    assert oracle["mean"] >= planted["mean"]
    assert PLANTED_RULES["trend"].seed_type.value in CAPTURING_FAMILIES["trend"]
    state = hidden_state(spec, "BTC")
    assert set(np.unique(state["drift_state"])) == {-1, 0, 1}
    runs = (state["drift_state"].diff() != 0).cumsum().value_counts()
    assert 100 < runs.mean() < 600  # states last ~1-3 weeks


def test_mean_reversion_makes_returns_reverse_and_the_rsi_rule_earns():
    spec = market("mean_reversion", 0.5)
    frames = market_frames(spec)
    assert mean_autocorr(frames) < -0.02
    planted = planted_sharpe(spec, frames)
    assert planted["mean"] > 0.5
    assert oracle_sharpe(spec, frames)["mean"] > 0.5
    expected = pd.concat([hidden_state(spec, c)["expected_return"] for c in spec.coins])
    realised = pd.concat([np.log(f["close"]).diff().shift(-1) for f in frames.values()])
    assert expected.corr(realised) > 0.05  # the hidden state forecasts the next bar


def test_funding_carry_pays_the_carry_rule():
    spec = market("funding_carry", 0.03)
    frames = market_frames(spec)
    planted = planted_sharpe(spec, frames)
    assert planted["mean"] > 0.5 and min(planted["trades"].values()) > 0
    assert abs(mean_autocorr(frames)) < 0.02  # the price itself stays unpredictable
    state = hidden_state(spec, "ETH")
    funding = frames["ETH"]["funding_rate"]
    assert funding[state["carry_state"] == 1].mean() > funding[state["carry_state"] == -1].mean()


def test_regime_trend_lives_only_in_high_volatility():
    spec = market("regime", 0.2, coins=TWENTY[:5])
    frames = market_frames(spec)
    for coin in spec.coins:
        state = hidden_state(spec, coin)
        r = np.log(frames[coin]["close"]).diff()
        assert r[state["high_vol"] == 1].std() > 1.5 * r[state["high_vol"] == 0].std()
        assert (state["drift_state"][state["high_vol"] == 0] == 0).all()
    assert oracle_sharpe(spec, frames)["mean"] > planted_sharpe(spec, frames)["mean"] > 1.0


def test_capturing_families_are_seed_types_or_documented_families():
    from quant_organism.strategies.portfolio import FAMILIES

    known = {s.value for s in SeedType} | {f"documented_{family}" for family in FAMILIES}
    assert set(CAPTURING_FAMILIES) == set(KINDS)
    assert all(families <= known for families in CAPTURING_FAMILIES.values())
    assert not CAPTURING_FAMILIES["null"]
    for kind, genes in PLANTED_RULES.items():
        assert kind == "null" or genes.seed_type.value in CAPTURING_FAMILIES[kind]


# -- calibration ------------------------------------------------------------------------------------
def test_calibrate_hits_its_targets():
    found = calibrate("funding_carry", (1.0, 2.0), tol=0.1)
    assert abs(found[1.0].sharpe - 1.0) <= 0.1 and abs(found[2.0].sharpe - 2.0) <= 0.1
    assert 0 < found[1.0].strength < found[2.0].strength
    check = planted_sharpe(market("funding_carry", found[2.0].strength, end="2024-12-31"))["mean"]
    assert check == pytest.approx(found[2.0].sharpe)
    trend = calibrate("trend", (2.0,), tol=0.1)[2.0]
    assert abs(trend.sharpe - 2.0) <= 0.1
    with pytest.raises(ValueError):
        calibrate("null")


def test_the_switch_market_pays_the_tree_that_switches_more_than_either_template():
    """Trending in high volatility, reverting when calm: the planted rule tree ('if the day's volatility is high then
    trend else revert') earns more than the trend rule and the reversion rule alone, the oracle more than all; only
    high-volatility hours carry a drift, only calm hours an overreaction."""
    switch = market("switch", 0.12, seed=3)
    frames = market_frames(switch)
    tree = planted_sharpe(switch, frames)["mean"]
    trend = planted_sharpe(switch, frames, rule=PLANTED_RULES["trend"])["mean"]
    reversion = planted_sharpe(switch, frames, rule=PLANTED_RULES["mean_reversion"])["mean"]
    assert PLANTED_RULES["switch"].seed_type is SeedType.RULE_TREE
    assert tree > max(trend, reversion) + 0.3 and oracle_sharpe(switch, frames)["mean"] > tree
    state = hidden_state(switch, "BTC")
    high = state["high_vol"] == 1
    assert 0.1 < high.mean() < 0.6
    assert (state.loc[~high, "drift_state"] == 0).all() and (state.loc[high, "drift_state"] != 0).any()
    x, before = state["overreaction"].abs(), state["overreaction"].shift().abs()
    assert (x[high] <= 0.8 * before[high] + 1e-15).iloc[1:].all()  # while volatile the old overreaction only decays
    assert (x[~high] > 0.8 * before[~high] + 1e-15).mean() > 0.3  # when calm new shocks overreact
