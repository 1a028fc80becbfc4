"""Frames carried between paper runs equal a fresh read of the lake, whatever happened to the lake in between:
days appended, an old day rewritten, a day removed, a regime row added, the cache itself corrupted; and only
the days that are new or changed are read again."""

from __future__ import annotations

import os

import pandas as pd
import pytest

from quant_organism.market import frame_cache as frame_cache_module
from quant_organism.market.frame_cache import FrameCache
from quant_organism.market.frames import load_market_frames
from quant_organism.market.ingest import ingest_candles, ingest_funding
from quant_organism.market.lake import MarketLake
from quant_organism.market.sources.synthetic import SyntheticSource

COINS = ["BTC", "ETH"]
ANCHOR = pd.Timestamp("2024-04-01", tz="UTC")


def _ingest(lake: MarketLake, days, coins=COINS, source=None) -> None:
    source = source or SyntheticSource()
    with lake.batch():
        for coin in coins:
            for day in days:
                ingest_candles(source, lake, coin, day)
                ingest_funding(source, lake, coin, day)


def _regime(lake: MarketLake, day: str, vol: str) -> None:
    row = pd.DataFrame({"date": [pd.Timestamp(day).date()], "vol_regime": [vol], "trend_regime": ["up"],
                        "hmm_state": ["calm"], "sentiment": [55.0]})  # fmt: skip
    lake.write_day("regimes", day, row)


def _days(first: str, last: str) -> list[str]:
    return [d.strftime("%Y-%m-%d") for d in pd.date_range(first, last, freq="D")]


def _assert_fresh(read, lake: MarketLake, end: str) -> None:
    fresh = load_market_frames(lake, COINS, ANCHOR, end)
    assert sorted(read.frames.frames) == sorted(fresh.frames)
    for coin, frame in fresh.frames.items():
        pd.testing.assert_frame_equal(read.frames.frames[coin], frame)
    assert read.frames.skipped == fresh.skipped


@pytest.fixture
def lake(tmp_path) -> MarketLake:
    lake = MarketLake(tmp_path / "lake")
    _ingest(lake, _days("2024-04-01", "2024-04-10"))
    for day in _days("2024-04-01", "2024-04-09"):
        _regime(lake, day, "low")
    return lake


def test_a_day_appended_is_the_only_day_read(lake, tmp_path, monkeypatch):
    cache = FrameCache(tmp_path / "frames")
    first = cache.load(lake, COINS, ANCHOR, "2024-04-11")
    assert first.read_from == ANCHOR and first.cached_days == 0
    _assert_fresh(first, lake, "2024-04-11")

    _ingest(lake, ["2024-04-11"])
    _regime(lake, "2024-04-10", "high")  # the new day's bars see the day before's regime
    reads = []
    real = frame_cache_module.load_market_frames
    monkeypatch.setattr(
        frame_cache_module, "load_market_frames", lambda lk, c, s, e, i: reads.append((s, e)) or real(lk, c, s, e, i)
    )
    second = cache.load(lake, COINS, ANCHOR, "2024-04-12")
    _assert_fresh(second, lake, "2024-04-12")
    # the regime of the 10th changed what the 11th's bars see; the 10th's own rows are kept (re-read from the
    # day of the last kept bar, for funding stamped after it opened)
    assert second.read_from == pd.Timestamp("2024-04-10", tz="UTC") and second.cached_days == 9
    assert reads == [(pd.Timestamp("2024-04-09 00:00", tz="UTC"), pd.Timestamp("2024-04-12", tz="UTC"))]
    assert (second.frames.frames["BTC"].loc["2024-04-11", "regime_vol"] == 2).all()

    reads.clear()
    again = cache.load(lake, COINS, ANCHOR, "2024-04-12")  # nothing changed: the lake is not read at all
    assert again.read_from is None and reads == []
    _assert_fresh(again, lake, "2024-04-12")


def test_a_rewritten_or_removed_day_is_read_again(lake, tmp_path):
    cache = FrameCache(tmp_path / "frames")
    cache.load(lake, COINS, ANCHOR, "2024-04-11")
    # an old day re-ingested from a different market: the cache must not keep the old bars
    _ingest(lake, ["2024-04-04"], coins=["ETH"], source=SyntheticSource(seed=99))
    changed = cache.load(lake, COINS, ANCHOR, "2024-04-11")
    assert changed.read_from == pd.Timestamp("2024-04-04", tz="UTC")
    _assert_fresh(changed, lake, "2024-04-11")

    os.remove(lake.partition_path("candles", "BTC", "2024-04-06"))  # a day gone: reported skipped, as a fresh read
    removed = cache.load(lake, COINS, ANCHOR, "2024-04-11")
    assert removed.read_from == pd.Timestamp("2024-04-06", tz="UTC")
    _assert_fresh(removed, lake, "2024-04-11")
    assert "candles/BTC/2024-04-06: not materialised" in removed.frames.skipped


def test_an_earlier_span_is_cut_from_the_cache_and_leaves_it_whole(lake, tmp_path):
    cache = FrameCache(tmp_path / "frames")
    cache.load(lake, COINS, ANCHOR, "2024-04-11")
    earlier = cache.load(lake, COINS, ANCHOR, "2024-04-06 12:00")
    assert earlier.read_from is None
    _assert_fresh(earlier, lake, "2024-04-06 12:00")
    later = cache.load(lake, COINS, ANCHOR, "2024-04-11")
    assert later.read_from is None  # the rerun of an earlier span did not shorten the cache


def test_an_unreadable_cache_is_reported_and_rebuilt(lake, tmp_path):
    cache = FrameCache(tmp_path / "frames")
    cache.load(lake, COINS, ANCHOR, "2024-04-11")
    [path] = (tmp_path / "frames").glob("from=*.parquet")
    path.write_bytes(b"not parquet")
    read = cache.load(lake, COINS, ANCHOR, "2024-04-11")
    assert "could not be read" in read.note and read.read_from == ANCHOR
    _assert_fresh(read, lake, "2024-04-11")
    assert cache.load(lake, COINS, ANCHOR, "2024-04-11").read_from is None  # rebuilt


def test_a_cache_unused_for_a_week_is_pruned(lake, tmp_path):
    cache = FrameCache(tmp_path / "frames")
    cache.load(lake, COINS, ANCHOR, "2024-04-11")
    cache.load(lake, COINS, ANCHOR + pd.Timedelta(days=2), "2024-04-11")
    old, recent = sorted((tmp_path / "frames").glob("from=*.parquet"))
    week_ago = pd.Timestamp.now().timestamp() - 8 * 86400
    os.utime(old, (week_ago, week_ago))
    assert cache.prune_unused(pd.Timedelta(days=7)) == [old]
    assert recent.exists() and not old.exists()
