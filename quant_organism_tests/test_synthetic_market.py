"""The synthetic market: deterministic to the byte, and shaped like real crypto (the stylised facts)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quant_organism.market.ingest import ingest_candles, ingest_funding
from quant_organism.market.lake import MarketLake
from quant_organism.market.schema import MarketDataError, UnknownCoinError
from quant_organism.market.sources.synthetic import SyntheticSource

YEAR = ("2024-01-01", "2025-01-01")


@pytest.fixture(scope="module")
def year() -> dict[str, pd.DataFrame]:
    source = SyntheticSource(seed=7)
    return {coin: source.candles(coin, *YEAR) for coin in source.coins}


def test_same_seed_and_dates_give_identical_frames_whatever_was_asked_before():
    a = SyntheticSource(seed=11).candles("ETH", "2024-06-01", "2024-06-03")
    b_source = SyntheticSource(seed=11)
    b_source.candles("ETH", "2025-05-01", "2025-05-02")  # a later range first: simulation extends
    b = b_source.candles("ETH", "2024-06-01", "2024-06-03")
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert not a.equals(SyntheticSource(seed=12).candles("ETH", "2024-06-01", "2024-06-03"))


def test_partition_files_are_byte_identical_across_runs(tmp_path):
    digests = []
    for run in ("one", "two"):
        lake = MarketLake(tmp_path / run)
        source = SyntheticSource(seed=7)
        candles = ingest_candles(source, lake, "SOL", "2024-02-29").path.read_bytes()
        funding = ingest_funding(source, lake, "SOL", "2024-02-29").path.read_bytes()
        digests.append((candles, funding))
    assert digests[0] == digests[1]


def test_bars_are_hourly_consistent_and_positive(year):
    for coin, frame in year.items():
        assert len(frame) == 366 * 24, coin
        assert (frame["timestamp"].diff().dropna() == pd.Timedelta(hours=1)).all()
        assert (frame[["open", "high", "low", "close"]] > 0).all().all()
        assert (frame["low"] <= frame[["open", "close"]].min(axis=1)).all()
        assert (frame["high"] >= frame[["open", "close"]].max(axis=1)).all()
        assert (frame["volume"] > 0).all()


def test_returns_have_fat_tails_volatility_clustering_and_cross_coin_correlation(year):
    returns = pd.DataFrame({coin: np.log(f["close"]).diff() for coin, f in year.items()}).dropna()
    for coin in returns:
        r = returns[coin]
        assert r.kurt() > 1.0, f"{coin}: excess kurtosis {r.kurt():.2f} is not fat-tailed"
        assert r.abs().autocorr(1) > 0.05, f"{coin}: no volatility clustering"
        assert abs(r.autocorr(1)) < 0.1, f"{coin}: returns should be close to unpredictable bar to bar"
    corr = returns.corr().to_numpy()
    assert corr[np.triu_indices_from(corr, 1)].min() > 0.3


def test_regimes_trend_and_mean_revert(year):
    """Daily returns show both persistent trends and reversals across the year (no single drift)."""
    daily = np.log(year["BTC"].set_index("timestamp")["close"]).resample("D").last().diff().dropna()
    rolling = daily.rolling(30).sum().dropna()
    assert rolling.max() > 0.05 and rolling.min() < -0.05


def test_funding_follows_recent_price_drift():
    source = SyntheticSource(seed=7)
    candles = source.candles("BTC", *YEAR).set_index("timestamp")
    funding = source.funding("BTC", *YEAR).set_index("timestamp")["funding_rate"]
    drift = np.log(candles["close"]).diff().rolling(24).mean()
    assert funding.index.equals(candles.index)
    assert funding.corr(drift) > 0.5
    assert funding.abs().max() <= 0.0004 and funding.mean() > 0


def test_coarser_intervals_aggregate_whole_hour_buckets():
    source = SyntheticSource(seed=7)
    hourly = source.candles("BTC", "2024-03-01", "2024-03-02")
    four = source.candles("BTC", "2024-03-01", "2024-03-02", "4h")
    assert len(four) == 6
    first = hourly.iloc[:4]
    assert four.iloc[0]["open"] == first["open"].iloc[0] and four.iloc[0]["close"] == first["close"].iloc[-1]
    assert four.iloc[0]["high"] == first["high"].max() and four.iloc[0]["volume"] == pytest.approx(first["volume"].sum())


def test_clear_errors_for_unknown_coin_interval_and_dates():
    source = SyntheticSource()
    with pytest.raises(UnknownCoinError, match="PEPE"):
        source.candles("PEPE", "2024-01-01", "2024-01-02")
    with pytest.raises(MarketDataError, match="interval"):
        source.candles("BTC", "2024-01-01", "2024-01-02", "7m")
    with pytest.raises(MarketDataError, match="starts at 2020-01-01"):
        source.candles("BTC", "2019-01-01", "2019-01-02")


def test_a_large_synthetic_universe_keeps_few_paths_and_a_dropped_coin_comes_back_identical():
    import pandas as pd

    from quant_organism.market.sources import synthetic
    from quant_organism.market.sources.synthetic import SyntheticSource, synthetic_universe

    coins = synthetic_universe(20)
    source = SyntheticSource(coins=coins)
    start, end = pd.Timestamp("2024-01-01", tz="UTC"), pd.Timestamp("2024-02-01", tz="UTC")
    first = source.candles(coins[5], start, end)
    for coin in coins:
        source.candles(coin, start, end)
    assert len(source._extra) == synthetic.EXTRA_COINS_KEPT and coins[5] not in source._extra
    again = source.candles(coins[5], start, end)  # simulated anew
    pd.testing.assert_frame_equal(again, first)
    assert source.candles(coins[5], start, end).equals(SyntheticSource(coins=coins).candles(coins[5], start, end))
