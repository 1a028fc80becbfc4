"""The retrospective on a point-in-time universe: each date's chain sees the coins that were members during its
lookback (a delisted coin's past included, a later listing's absent), trades the members of the date, and the
search and the gate take coins whose histories start and end at different times."""

from __future__ import annotations

import numpy as np
import pandas as pd

from quant_organism.benchmarks.planted_strength import market_frames
from quant_organism.deployment.chain import ChainSettings, run_chain
from quant_organism.evolution.evolution_config import EvolutionConfig
from quant_organism.market.sources.files import FileSource
from quant_organism.market.sources.planted import PlantedMarket
from quant_organism.market.universe import members_during, members_on
from quant_organism.reporting.universe_walk import load_universe

DAYS = pd.date_range("2023-01-01", periods=400, freq="D", tz="UTC")
START = pd.Timestamp("2024-01-01", tz="UTC")


def _write_folder(folder) -> None:
    """Five coins of daily bars (constant dollar volume each): GONE is the most liquid and delists on day 250, LATE lists on day 200."""
    rng = np.random.default_rng(7)
    volumes = {"BTC": 5e4, "ETH": 4e4, "SOL": 3e4, "GONE": 9e4, "LATE": 8e4}
    for coin, volume in volumes.items():
        closes = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.03, len(DAYS))))
        frame = pd.DataFrame({"timestamp": DAYS.strftime("%Y-%m-%dT%H:%M:%SZ"), "open": closes, "high": closes * 1.01,
                              "low": closes * 0.99, "close": closes, "volume": volume * 100.0 / closes})  # fmt: skip
        if coin == "GONE":
            frame = frame.iloc[:250]
        if coin == "LATE":
            frame = frame.iloc[200:]
        frame.to_csv(folder / f"hyperliquid__{coin}_1d.csv", index=False)
    (folder / "MANIFEST.csv").write_text("coin,rows\nBTC,400\n")


def test_membership_of_a_span_keeps_a_delisted_coins_past_and_a_day_reads_only_the_days_before(tmp_path) -> None:
    _write_folder(tmp_path)
    lines = []
    history = load_universe(FileSource(tmp_path), FileSource(tmp_path).coins(), "1d", 2, lines.append)
    assert set(history.frames) == {"BTC", "ETH", "SOL", "GONE", "LATE"}
    assert any(line.startswith("left out MANIFEST") for line in lines) and (tmp_path / "MANIFEST.csv").exists()
    assert history.first_day == DAYS[0] and history.last_day == DAYS[-1]
    assert {"regime_vol", "regime_trend", "funding_rate"} <= set(history.frames["BTC"].columns)
    members = history.members
    assert members_on(members, DAYS[150]) == ["BTC", "GONE"]  # the two most liquid, in the folder's column order
    date = DAYS[320]
    frames, traded = history.for_date(date, DAYS[350], 200)
    assert "GONE" in frames and "GONE" not in traded  # a member during the lookback, gone by the date
    assert frames["GONE"].index[-1] == DAYS[249]
    assert "LATE" in traded  # listed day 200, eligible after 90 days of bars, the most liquid since
    assert not members.loc[: DAYS[289], "LATE"].any()
    early, _ = history.for_date(DAYS[250], DAYS[260], 200)
    assert "LATE" not in early  # not yet a member anywhere in that lookback
    assert all(f.index[-1] < DAYS[350] for f in frames.values())  # nothing after the forward span


def test_members_during_and_on_are_plain_reads_of_the_table() -> None:
    members = pd.DataFrame({"A": [True, True, False], "B": [False, False, True]}, index=DAYS[:3])
    assert members_during(members, DAYS[0], DAYS[2]) == ["A"]
    assert members_during(members, DAYS[0], DAYS[3]) == ["A", "B"]
    assert members_on(members, DAYS[2]) == ["B"] and members_on(members, DAYS[10]) == []


def test_the_chain_takes_coins_that_list_and_delist_inside_its_windows() -> None:
    market = PlantedMarket(kind="trend", strength=0.15, seed=3, coins=("BTC", "ETH", "SOL", "DOGE"), start=START,
                           end=START + pd.Timedelta(days=300))  # fmt: skip
    frames = market_frames(market, interval="4h")
    frames["DOGE"] = frames["DOGE"].loc[frames["DOGE"].index >= START + pd.Timedelta(days=150)]  # lists in held-out
    frames["SOL"] = frames["SOL"].loc[frames["SOL"].index < START + pd.Timedelta(days=250)]  # delists in it
    small = dict(total_strategies=40, batch_size=20, generations=3, lookback_days=300, split=(0.4, 0.3, 0.3), min_trades=5,
                 seed_types=["ema_crossover", "sma_trend", "rsi_filter", "stochastic"], executor="serial")  # fmt: skip
    outcome = run_chain(
        frames, (START + pd.Timedelta(days=299)).date(), ChainSettings(evolution=EvolutionConfig(**small, random_seed=3))
    )
    assert outcome.validation.evidence is not None and set(outcome.validation.evidence.coins) == set(frames)
    # the late coin has no bar before the held-out span: the others say how much history the windows could read
    assert outcome.validation.evidence.history_bars > 0
    assert not any("bars of history before" in r for v in outcome.validation.verdicts for r in v.reasons)
    assert outcome.deployed, [v.reasons for v in outcome.validation.verdicts[:3]]


def test_a_universe_walk_needs_the_files_source(monkeypatch, capsys) -> None:
    from quant_organism.cli.main import main

    monkeypatch.setenv("QUANT_ORGANISM_SOURCE", "synthetic")
    assert main(["retrospective", "--universe-top", "30"]) == 2
    assert "QUANT_ORGANISM_SOURCE=files" in capsys.readouterr().err
