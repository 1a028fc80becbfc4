"""The documented tier's walk: each date judged on data before it, followed forward only; the CLI on real files."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest

from quant_organism.market.sources.planted_panel import PanelMarket
from quant_organism.market.universe import point_in_time_members
from quant_organism.reporting.documented_walk import COLUMNS, chained, monthly_dates, walk


def test_the_walk_follows_each_choice_forward_only_and_a_later_future_changes_nothing() -> None:
    market = PanelMarket("trend", 2.3, seed=21, coins=12, days=3 * 365, forward_days=0)
    panel = market.panel()
    members = point_in_time_members(panel.dollar_volume, top_n=10, min_history_days=60)
    dates = monthly_dates(panel, first="2021-06-01", last="2021-09-30")
    assert [d.date().isoformat() for d in dates] == ["2021-06-01", "2021-07-01", "2021-08-01", "2021-09-01"]
    rows, curves = walk(panel, members, dates)
    assert curves.index.min() > dates[0] and list(curves.columns) == list(COLUMNS)
    assert curves.index.is_unique and (curves["cash"] == 0.0).all()
    assert any(row["pick"] for row in rows)  # a planted trend of Sharpe about 2 passes on some date
    for row in rows:
        assert row["detectable_sharpe_50"] < row["detectable_sharpe_80"]
        if row["pick"] is None:
            assert row["forward_return"]["tier"] == 0.0  # nothing passed: cash
    cut = dates[2] + pd.Timedelta(days=1)
    short_rows, _ = walk(panel.until(cut), members.loc[:cut], dates[:2])
    assert [r["passed"] for r in short_rows] == [r["passed"] for r in rows[:2]]
    summary = chained(curves)
    assert set(summary) == set(COLUMNS) and summary["cash"]["return"] == 0.0


def test_the_command_walks_the_real_universe(market_data_dir) -> None:
    folder = market_data_dir / "hyperliquid-universe"
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent")
    command = [sys.executable, "-m", "quant_organism", "documented", "--files", str(folder), "--interval", "1d",
               "--from", "2025-05-01", "--to", "2025-06-15", "--json"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert [row["date"] for row in result["rows"]] == ["2025-05-01", "2025-06-01"]
    assert all(row["members"] == 30 for row in result["rows"])
    assert all(row["detectable_sharpe_50"] > 1.0 for row in result["rows"])  # two years cannot see Sharpe 1
    assert "could see Sharpe >=" in done.stdout


def test_the_command_says_what_is_missing(tmp_path) -> None:
    done = subprocess.run([sys.executable, "-m", "quant_organism", "documented", "--files", str(tmp_path)],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 2 and "no candle files" in done.stderr


def test_the_retrospective_s_plain_rule_trades_forward_on_what_it_knew() -> None:
    """The documented trend rule beside the organism: each day's return on that day's last bar, equal to the rule
    on the daily closes, and the same whatever follows the span (no lookahead)."""
    from quant_organism.backtest.costs import CostModel
    from quant_organism.backtest.portfolio_returns import portfolio_returns
    from quant_organism.benchmarks.planted_strength import market_frames
    from quant_organism.market.panel import daily_panel
    from quant_organism.market.sources.planted import PlantedMarket
    from quant_organism.reporting.retrospective import plain_rule_record
    from quant_organism.strategies.portfolio import DEFAULT_RULE

    first = pd.Timestamp("2024-01-01", tz="UTC")
    market = PlantedMarket(kind="trend", strength=0.3, seed=7, coins=("BTC", "ETH", "SOL"), start=first,
                           end=first + pd.Timedelta(days=420))  # fmt: skip
    frames = market_frames(market)
    start = first + pd.Timedelta(days=300)
    end = start + pd.Timedelta(days=60)
    record = plain_rule_record(frames, start, end, CostModel())
    cut = {coin: f.loc[f.index < end] for coin, f in frames.items()}
    assert record.returns.equals(plain_rule_record(cut, start, end, CostModel()).returns)
    panel = daily_panel(
        {c: f[["close", "volume"]] for c, f in frames.items()}, {c: f[["funding_rate"]] for c, f in frames.items()}
    )
    daily = portfolio_returns(DEFAULT_RULE.weights(panel.closes, None, panel.funding), panel.closes, CostModel(), panel.funding)
    expected = daily[(daily.index >= start) & (daily.index < end)]
    per_day = (1.0 + record.returns).groupby(record.returns.index.floor("D")).prod() - 1.0
    assert per_day.to_numpy() == pytest.approx(expected.to_numpy(), abs=1e-12)
    assert (record.returns != 0.0).sum() <= len(expected) and expected.abs().sum() > 0


def test_spot_candles_without_funding_skip_the_carry_family_and_say_why(tmp_path) -> None:
    """Spot files (1d candles, no funding files): the tier judges trend and momentum, and the carry family is
    skipped with its reason, its share left unspent (not moved to another family)."""
    panel = PanelMarket("trend", 1.5, seed=5, coins=6, days=420, forward_days=60).panel()
    for coin in panel.closes.columns:
        closes = panel.closes[coin].dropna()
        if closes.empty:  # a coin the planted market delists before it lists
            continue
        frame = pd.DataFrame({"timestamp_ms": closes.index.asi8 // 1_000_000, "open": closes, "high": closes,
                              "low": closes, "close": closes, "volume": 1_000.0})  # fmt: skip
        frame.to_csv(tmp_path / f"spot__{coin}_1d.csv", index=False)
    command = [sys.executable, "-m", "quant_organism", "documented", "--files", str(tmp_path), "--interval", "1d",
               "--top", "6", "--min-history", "30", "--json"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "funding_carry skipped: the data have no funding rates" in done.stdout
    assert "its 0.20% is left unspent" in done.stdout
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["rows"], "the walk has dates"
    for row in result["rows"]:
        assert row["pvalues"]["funding_carry"] is None and "no funding rates" in row["not_judged"]["funding_carry"]
        assert row["pvalues"]["ts_trend"] is not None  # the others are judged at their own levels
