"""Strategy frames read back from the lake: bars and funding joined causally on the bar grid."""

from __future__ import annotations

import numpy as np
import pandas as pd

from quant_organism.market.frames import load_market_frames, to_strategy_frame
from quant_organism.market.ingest import ingest_candles, ingest_funding
from quant_organism.market.lake import MarketLake
from quant_organism.market.sources.synthetic import SyntheticSource


def test_frames_match_the_source_and_report_missing_partitions(tmp_path):
    lake, source = MarketLake(tmp_path / "lake"), SyntheticSource()
    with lake.batch():
        for coin in ("BTC", "ETH"):
            for day in ("2024-04-01", "2024-04-02", "2024-04-03"):
                if coin == "ETH" and day == "2024-04-02":
                    continue  # a hole the reader must report
                ingest_candles(source, lake, coin, day)
                ingest_funding(source, lake, coin, day)
    loaded = load_market_frames(lake, ["BTC", "ETH"], "2024-04-01", "2024-04-04")
    btc = loaded.frames["BTC"]
    want = source.candles("BTC", "2024-04-01", "2024-04-04").set_index("timestamp")
    np.testing.assert_array_equal(btc["close"].to_numpy(), want["close"].to_numpy())
    np.testing.assert_array_equal(
        btc["funding_rate"].to_numpy(), source.funding("BTC", "2024-04-01", "2024-04-04")["funding_rate"].to_numpy()
    )
    assert str(btc.index.tz) == "UTC" and btc.index.is_monotonic_increasing
    assert len(loaded.frames["ETH"]) == 48
    assert "candles/ETH/2024-04-02: not materialised" in loaded.skipped
    assert loaded.coverage() == (72 + 48) / 144
    # a point-in-time universe expects a coin from the day it listed: ETH listed on the 3rd covers its one day fully
    from datetime import date

    assert loaded.coverage({"BTC": date(2024, 4, 1), "ETH": date(2024, 4, 3)}) == (72 + 24) / (72 + 24)
    assert loaded.coverage({"BTC": date(2024, 4, 1), "ETH": date(2024, 4, 9)}) == 1.0  # listed after: not expected
    assert loaded.coverage({"BTC": date(2024, 3, 1), "ETH": date(2024, 4, 2)}) == (72 + 24) / (72 + 48)


def test_jittered_funding_lands_on_the_bar_that_opens_before_it():
    index = pd.date_range("2024-01-01", periods=4, freq="h", tz="UTC")
    candles = pd.DataFrame({"timestamp": index, "coin": "BTC", "open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0, "volume": 1.0})
    funding = pd.DataFrame(
        {
            "timestamp": pd.to_datetime(["2024-01-01 01:00:00.048", "2024-01-01 03:00:00.5"], utc=True),
            "coin": "BTC",
            "funding_rate": [0.0001, -0.0002],
        }
    )
    frame = to_strategy_frame(candles, funding)
    assert np.isnan(frame["funding_rate"].iloc[0]) and np.isnan(frame["funding_rate"].iloc[2])
    assert frame["funding_rate"].iloc[1] == 0.0001 and frame["funding_rate"].iloc[3] == -0.0002


def test_coins_read_in_groups_give_the_frames_and_skips_of_one_read(tmp_path, monkeypatch):
    """A large universe is read a few coins at a time (its reader's buffers were the one-process 50-coin peak):
    the frames, their order and the skipped partitions, in their order, are those of one read."""
    from quant_organism.market import frames as market_frames

    lake, source = MarketLake(tmp_path / "lake"), SyntheticSource()
    coins = ["BTC", "ETH", "SOL", "DOGE", "XRP"]
    with lake.batch():
        for k, coin in enumerate(coins):
            for day in ("2024-04-01", "2024-04-02", "2024-04-03"):
                if (k, day) in {(1, "2024-04-02"), (3, "2024-04-01"), (4, "2024-04-03")}:
                    continue  # holes in several groups
                ingest_candles(source, lake, coin, day)
                if k != 2:  # SOL without funding
                    ingest_funding(source, lake, coin, day)
    one = load_market_frames(lake, coins, "2024-04-01", "2024-04-04")
    monkeypatch.setattr(market_frames, "READ_COINS", 2)
    reads = []
    read = lake.read
    monkeypatch.setattr(lake, "read", lambda dataset, group, *a, **k: reads.append(len(group)) or read(dataset, group, *a, **k))
    grouped = load_market_frames(lake, coins, "2024-04-01", "2024-04-04")
    assert reads == [2, 2, 2, 2, 1, 1]  # candles and funding of each group of two coins
    assert list(grouped.frames) == list(one.frames) == coins and grouped.skipped == one.skipped
    assert len(one.skipped) == 3 + 3 + 3  # the holes' candles and funding, SOL's funding
    for coin in coins:
        pd.testing.assert_frame_equal(grouped.frames[coin], one.frames[coin], check_exact=True)
