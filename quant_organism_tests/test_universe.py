"""A universe of 50+ coins (issue 14): the synthetic market simulates any coin on its common market factor
(the five default coins' paths unchanged), `QUANT_ORGANISM_UNIVERSE=top50` names 50 coins and the coin
partitions follow it, and the Hyperliquid source ranks the exchange's perpetuals by 24h volume (`universe`
command, against the local replay server)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from quant_organism import settings
from quant_organism.market.sources.synthetic import EXTRA_TICKERS, SyntheticSource
from quant_organism.market.universe import UNIVERSE_HISTORY_DIR, members_as_of
from quant_organism_tests.support.hl_replay_server import HyperliquidReplayServer

START, END = pd.Timestamp("2025-01-01", tz="UTC"), pd.Timestamp("2025-03-01", tz="UTC")


def test_synthetic_market_simulates_fifty_correlated_coins_without_changing_the_five():
    coins = settings.DEFAULT_COINS + EXTRA_TICKERS[:45]
    wide, five = SyntheticSource(coins=coins), SyntheticSource()
    for coin in settings.DEFAULT_COINS:
        pd.testing.assert_frame_equal(wide.candles(coin, START, END), five.candles(coin, START, END))
    closes = pd.DataFrame({c: wide.candles(c, START, END)["close"].to_numpy() for c in coins})
    assert closes.shape == (1416, 50) and np.isfinite(closes.to_numpy()).all() and (closes > 0).all().all()
    corr = closes.pct_change().corr().to_numpy()
    off_diagonal = corr[~np.eye(50, dtype=bool)]
    assert 0.2 < np.median(off_diagonal) < 0.9  # one market factor, each coin its own noise
    assert len({round(float(closes[c].iloc[0]), 6) for c in coins}) == 50  # distinct coins, not copies
    again = SyntheticSource(coins=("HYPE",)).candles("HYPE", START, END)
    pd.testing.assert_frame_equal(again, wide.candles("HYPE", START, END))  # a coin's path: (seed, day, name) only
    assert len(wide.funding("SUI", START, END)) == 1416


def test_universe_setting_names_fifty_coins_and_the_partitions_follow(monkeypatch):
    monkeypatch.delenv("QUANT_ORGANISM_COINS", raising=False)
    monkeypatch.setenv("QUANT_ORGANISM_UNIVERSE", "top50")
    coins = settings.coins()
    assert len(coins) == 50 == len(set(coins)) and coins[:5] == settings.DEFAULT_COINS
    # the partitions are built when the definitions are imported: ask a fresh process, as the UI starts one
    probe = (
        "import dagster as dg; from quant_organism.definitions import load_definitions; "
        "d = load_definitions().resolve_assets_def(dg.AssetKey(['market', 'candles'])); "
        "print(','.join(d.partitions_def.get_partitions_def_for_dimension('coin').get_partition_keys()))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "QUANT_ORGANISM_UNIVERSE": "top50"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert set(done.stdout.strip().split(",")) == set(coins)
    monkeypatch.setenv("QUANT_ORGANISM_UNIVERSE", "top200")  # past the named tickers: numbered coins, same market
    wide = settings.coins()
    assert len(set(wide)) == 200 and wide[:50] == coins and wide[-1] == "SYN200"
    bars = SyntheticSource(coins=wide).candles("SYN200", START, END)
    assert len(bars) == 1416 and (bars["close"] > 0).all()
    monkeypatch.setenv("QUANT_ORGANISM_UNIVERSE", "everything")
    with pytest.raises(ValueError, match="topN"):
        settings.coins()


def _meta_and_ctxs(body):
    names = ["BTC", "ETH", "SOL", "OLD", "DOGE", "JUNK"]
    volumes = ["900000000.5", "500000000", "300000000", "999999999999", "100000000", "not a number"]
    universe = [{"name": n, "szDecimals": 2, "maxLeverage": 20, **({"isDelisted": True} if n == "OLD" else {})} for n in names]
    ctxs = [{"dayNtlVlm": v, "openInterest": "10.5", "markPx": "1.0", "funding": "0.0000125"} for v in volumes]
    return [{"universe": universe}, ctxs]


def test_hyperliquid_top_n_by_volume_saved_as_the_universe(tmp_path, monkeypatch, capsys):
    from quant_organism.cli.main import main

    monkeypatch.setenv("QUANT_ORGANISM_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("QUANT_ORGANISM_COINS", raising=False)
    monkeypatch.setenv("QUANT_ORGANISM_SOURCE", "hyperliquid")  # the setting that reads the file it is about to make
    monkeypatch.setenv("QUANT_ORGANISM_UNIVERSE", "top2")
    with HyperliquidReplayServer() as server:
        server.on_info("metaAndAssetCtxs", _meta_and_ctxs)
        assert main(["universe", "--top", "3", "--url", server.url]) == 0
        saved = json.loads((tmp_path / "universe.json").read_text())
        assert saved["coins"] == ["BTC", "ETH", "SOL"]  # the delisted and the unparseable are left out
        assert saved["detail"][0]["day_volume_usd"] == 900000000.5
        today = pd.Timestamp.now(tz="UTC").normalize()
        recorded = members_as_of(tmp_path / UNIVERSE_HISTORY_DIR, today + pd.Timedelta(days=1))
        assert recorded["as_of"] == today.strftime("%Y-%m-%d") and recorded["coins"] == ["BTC", "ETH", "SOL"]
        assert members_as_of(tmp_path / UNIVERSE_HISTORY_DIR, today) is None  # only what was known before a date
        (tmp_path / "universe.json").unlink()
        monkeypatch.setenv("QUANT_ORGANISM_HYPERLIQUID_URL", server.url)  # the source's URL, as ingest uses it
        assert main(["universe", "--top", "3"]) == 0 and json.loads((tmp_path / "universe.json").read_text())["coins"]
        monkeypatch.delenv("QUANT_ORGANISM_HYPERLIQUID_URL")
        server.on_info("metaAndAssetCtxs", lambda body: {"oops": 1})
        assert main(["universe", "--top", "3", "--url", server.url]) == 1
        assert "malformed payload" in capsys.readouterr().err
    monkeypatch.setenv("QUANT_ORGANISM_SOURCE", "hyperliquid")
    monkeypatch.setenv("QUANT_ORGANISM_UNIVERSE", "top2")
    listed = json.loads((tmp_path / "universe.json").read_text())["listed"]
    assert listed == ["BTC", "DOGE", "ETH", "SOL"]  # every listed perpetual through the SDK's metadata, the delisted
    # and the unparseable left out
    assert (
        settings.coins() == ("BTC", "DOGE", "ETH", "SOL") and settings.point_in_time_universe() and settings.universe_top() == 2
    )
    saved = json.loads((tmp_path / "universe.json").read_text())
    (tmp_path / "universe.json").write_text(json.dumps({k: v for k, v in saved.items() if k != "listed"}))
    assert settings.coins() == ("BTC", "ETH") and not settings.point_in_time_universe()  # a list saved before: fixed


def _daily_file(folder, coin: str, first: str, days: int, volume: float, last: int | None = None) -> None:
    index = pd.date_range(first, periods=days, freq="1D", tz="UTC")[:last]
    frame = pd.DataFrame({"timestamp": index.strftime("%Y-%m-%dT%H:%M:%SZ"), "open": 10.0, "high": 11.0, "low": 9.0,
                          "close": 10.0, "volume": volume})  # fmt: skip
    frame.to_csv(folder / f"hyperliquid__{coin}_1d.csv", index=False)


def test_files_top_n_point_in_time_saved_as_the_universe(tmp_path, monkeypatch, capsys):
    """`universe --top N` over a folder of files ranks on `--as-of` from the days before it only: a coin listed
    too recently is not a member yet, a delisted one no longer is. `QUANT_ORGANISM_UNIVERSE=topN` with the files
    source is a point-in-time universe on every night: every coin of the folder is ingested (delisted ones
    included) and each night's members are chosen from the lake (test_night_universe below), not a saved list."""
    from quant_organism.cli.main import main

    folder = tmp_path / "files"
    folder.mkdir()
    _daily_file(folder, "BIG", "2024-01-01", 300, 1e6)
    _daily_file(folder, "MID", "2024-01-01", 300, 1e4)
    _daily_file(folder, "GONE", "2024-01-01", 300, 1e9, last=200)  # delisted after 200 days: the largest while it traded
    _daily_file(folder, "NEW", "2024-09-01", 57, 1e8)  # listed 30 days before the date: under 90 days of history
    data = tmp_path / "data"
    monkeypatch.setenv("QUANT_ORGANISM_DATA_DIR", str(data))
    monkeypatch.delenv("QUANT_ORGANISM_COINS", raising=False)
    monkeypatch.setenv("QUANT_ORGANISM_SOURCE", "files")
    monkeypatch.setenv("QUANT_ORGANISM_FILES_DIR", str(folder))
    monkeypatch.setenv("QUANT_ORGANISM_UNIVERSE", "top3")
    monkeypatch.setenv("QUANT_ORGANISM_INTERVAL", "1d")  # the files hold daily bars
    assert settings.point_in_time_universe() and settings.universe_top() == 3
    assert settings.coins() == ("BIG", "GONE", "MID", "NEW")  # every coin of the folder: the lake keeps them all
    assert main(["universe", "--top", "3", "--as-of", "2024-10-01"]) == 0
    saved = json.loads((data / "universe.json").read_text())
    assert saved["coins"] == ["BIG", "MID"] and saved["source"] == "files" and saved["as_of"] == "2024-10-01"
    assert settings.coins() == ("BIG", "GONE", "MID", "NEW")  # a saved list is a record, not the product's universe
    monkeypatch.setenv("QUANT_ORGANISM_COINS", "BIG")  # a fixed list stays available as an explicit setting
    assert settings.coins() == ("BIG",) and not settings.point_in_time_universe() and settings.universe_top() is None
    monkeypatch.delenv("QUANT_ORGANISM_COINS")
    assert main(["universe", "--top", "1", "--as-of", "2024-06-01", "--files", str(folder)]) == 0  # before GONE delisted
    assert json.loads((data / "universe.json").read_text())["coins"] == ["GONE"]
    recorded = members_as_of(data / UNIVERSE_HISTORY_DIR, "2024-10-02")
    assert recorded["coins"] == ["BIG", "MID"]  # each as-of day its own record
    assert main(["universe", "--top", "3", "--as-of", "2024-02-01"]) == 1  # nobody has 90 days of history yet
    assert "90 days of bars" in capsys.readouterr().err
    monkeypatch.setenv("QUANT_ORGANISM_SOURCE", "synthetic")
    assert not settings.point_in_time_universe()


def test_night_universe_reads_only_the_days_up_to_the_night() -> None:
    """A night's members (the day after it) and the coins it reads (members on some day of its lookback): a coin
    listed too recently is absent, a delisted one is seen while the lookback holds its member days, and what comes
    after the night changes nothing (prefix invariance)."""
    from quant_organism.market.universe import night_universe

    days = pd.date_range("2024-01-01", periods=400, freq="D", tz="UTC")
    volume = pd.DataFrame({"BIG": 1e6, "MID": 1e4, "GONE": 1e9, "NEW": 1e8}, index=days)
    volume.loc[days[200] :, "GONE"] = float("nan")  # delisted after 200 days
    volume.loc[: days[330], "NEW"] = float("nan")  # listed on day 331
    night = days[360]
    universe = night_universe(volume, night, lookback_days=200, top_n=2)
    assert universe.members == ("BIG", "MID")  # GONE left; NEW has 29 days of bars, under 90
    assert set(universe.seen) == {"BIG", "MID", "GONE"}  # GONE was a member inside the lookback
    assert night_universe(volume.loc[:night], night, 200, 2) == universe
    later = volume.copy()
    later.loc[night + pd.Timedelta(days=1) :] = 5e9  # the future cannot decide the night
    assert night_universe(later, night, 200, 2) == universe
    assert night_universe(volume, night, lookback_days=100, top_n=2).seen == ("BIG", "MID")  # GONE's days are older
