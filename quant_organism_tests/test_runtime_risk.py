"""Issue 12: the runtime's portfolio risk controls, each decision recorded in the paper ledger with its reason.

Constructed markets with known answers: a steady rise then a crash trips the drawdown breaker (every
position flattened at the next open, no entry until the next deployment); a sharp one-day drop trips the
daily-loss breaker; several strategies long one coin stay within the per-asset cap; a decaying strategy
enters at half size and, decaying long enough, is retired with a post-mortem file.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from quant_organism.catalog import StrategyStore
from quant_organism.runtime import PaperLedger, PaperTrader, RiskLimits, RuntimePolicy, StrategyRuntimeEngine
from quant_organism.runtime.retirement import load_post_mortems, retire_decayed
from quant_organism_tests.support.runtime_cases import always_long, market


def paper(configs, frame, ledger, limits=RiskLimits(), version="v1", start=None, end=None):
    engine = StrategyRuntimeEngine(configs, policy=RuntimePolicy.backtest_parity(), coins=["BTC"], risk=limits)
    return PaperTrader(engine, ledger, version=version).run({"BTC": frame}, start=start, end=end)


def test_the_drawdown_breaker_flattens_everything_and_suspends_entries_until_the_next_deployment(tmp_path):
    rise = 100 * np.exp(np.linspace(0, 0.1, 40))
    crash = np.full(8, rise[-1] * 0.75)  # a 25% gap down in one bar: the fully invested portfolio loses > 15%
    recover = crash[-1] * np.exp(np.linspace(0, 0.2, 25)[1:])
    frame = market(np.r_[rise, crash, recover])
    ledger = PaperLedger(tmp_path / "ledger.duckdb")
    limits = RiskLimits(max_drawdown=0.15, daily_loss=None, max_asset_exposure=None)
    summary = paper([always_long("a", 0.5), always_long("b", 0.5)], frame, ledger, limits)

    [trip] = [e for e in summary.result.risk_events if e.kind == "breaker_drawdown"]
    assert trip.strategy == "*" and "portfolio drawdown" in trip.detail
    orders = ledger.table("orders")
    flat = orders[orders["reason"].str.startswith("circuit breaker")]
    assert set(flat["strategy"]) == {"a", "b"} and (flat["target"] == 0).all()
    positions = ledger.table("positions")
    after = positions[pd.to_datetime(positions["bar_time"], utc=True) > trip.time + pd.Timedelta(hours=1)]
    assert (after["units"] == 0).all()  # flat from the next open on, despite the recovery's long signals
    assert not summary.result.decisions or all(d.target == 0 for d in summary.result.decisions if d.timestamp > trip.time)
    events = ledger.risk_events()
    assert list(events["kind"]) == ["breaker_drawdown"]
    # The next day under the same deployment stays suspended; a new deployment resets the breaker.
    more = market(np.r_[recover[-1] * np.exp(np.linspace(0, 0.1, 24))])
    more.index = frame.index[-1] + pd.Timedelta(hours=1) + pd.to_timedelta(np.arange(24), unit="h")
    both = pd.concat([frame, more])
    same = paper([always_long("a", 0.5), always_long("b", 0.5)], both, ledger, limits, start=more.index[0])
    assert any(s.rule == "breaker" for s in same.result.skipped) and not same.result.decisions
    fresh = paper([always_long("a", 0.5), always_long("b", 0.5)], both, ledger, limits, version="v2", start=more.index[0])
    assert [e.kind for e in fresh.result.risk_events][:1] == ["reset"]
    assert any(d.target == 1 for d in fresh.result.decisions)


def test_the_daily_loss_breaker_trips_on_a_bad_day_within_the_drawdown_limit(tmp_path):
    rise = 100 * np.exp(np.linspace(0, 0.3, 72))
    drop = np.full(24, rise[-1] * 0.92)  # an 8% gap down at midnight: within the 50% drawdown, beyond the 5% daily loss
    frame = market(np.r_[rise, drop])
    ledger = PaperLedger(tmp_path / "ledger.duckdb")
    summary = paper(
        [always_long("a", 1.0)], frame, ledger, RiskLimits(max_drawdown=0.5, daily_loss=0.05, max_asset_exposure=None)
    )
    kinds = [e.kind for e in summary.result.risk_events]
    assert kinds == ["breaker_daily_loss"] and "since the day began" in summary.result.risk_events[0].detail


def test_several_strategies_on_one_coin_stay_within_the_asset_cap(tmp_path):
    frame = market(100 * np.exp(np.linspace(0, 0.1, 48)))
    ledger = PaperLedger(tmp_path / "ledger.duckdb")
    configs = [always_long(n, 0.25) for n in ("a", "b", "c")]  # 75% of capital would go long BTC
    summary = paper(configs, frame, ledger, RiskLimits(max_drawdown=None, daily_loss=None, max_asset_exposure=0.15))
    entries = ledger.table("orders")
    entries = entries[entries["target"] != 0]
    assert entries["notional"].sum() / 10_000.0 == pytest.approx(0.15, rel=1e-6)  # the cap is used, never exceeded
    positions = ledger.table("positions")
    positions["exposure"] = positions["units"].abs() * positions["close"] / 10_000.0
    first_full = positions.groupby("bar_time")["exposure"].sum()
    drift = float(frame["close"].max() / frame["close"].iloc[5])
    assert first_full.max() <= 0.15 * drift * 1.01  # after entry, exposure moves only with the price (no new adds)
    kinds = {(e.strategy, e.kind) for e in summary.result.risk_events}
    assert ("b", "asset_cap") in kinds or ("c", "asset_cap") in kinds
    events = ledger.risk_events()
    assert (events["kind"] == "asset_cap").any() and events["detail"].str.contains("15% of capital|at the 15% cap").all()


def test_a_decaying_strategy_trades_at_half_size_then_is_retired_with_a_post_mortem(tmp_path):
    frame = market(100 * np.exp(np.linspace(0, 0.05, 48)))
    store = StrategyStore(tmp_path / "strategies")
    healthy, fading = always_long("healthy", 0.3), always_long("fading", 0.3, status="decaying")
    for config in (healthy, fading):
        store.save_strategy(config)
    ledger = PaperLedger(tmp_path / "ledger.duckdb")
    paper(store.load_strategies(), frame, ledger, RiskLimits(max_drawdown=None, daily_loss=None, max_asset_exposure=None))
    positions = ledger.table("positions").groupby("strategy")
    exposure = {s: float((g["units"].abs() * g["close"]).max()) for s, g in positions}
    assert exposure["fading"] == pytest.approx(exposure["healthy"] / 2, rel=0.02)
    assert (ledger.risk_events()["kind"] == "decay_size").any()

    since = fading.deployment_history[-1].timestamp.date()
    assert retire_decayed(store, ledger, str(since), after_days=7) == []  # not decaying long enough yet
    later = (pd.Timestamp(since) + pd.Timedelta(days=7)).strftime("%Y-%m-%d")
    [post] = retire_decayed(store, ledger, later, after_days=7)
    assert post.strategy == "fading" and post.path.exists()
    record = json.loads(post.path.read_text())
    assert record["why"].startswith("paper Sharpe -3.0") and record["paper"]["days"] >= 1
    assert any(e["kind"] == "decay_size" for e in record["risk_events"])
    assert [c.name for c in store.load_strategies()] == ["healthy"]
    [archived] = store.load_archived()
    assert archived.name == "fading" and "post-mortem" in archived.deployment_history[-1].note
    assert [r["strategy"] for r in load_post_mortems(store.directory)] == ["fading"]
