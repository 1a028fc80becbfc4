"""The book's value at risk (runtime/value_at_risk.py): a hand-computed case, FHS reading today's volatility, and a
breach that scales the book down, in the engine's entries and in the live session's targets."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quant_organism.runtime import PaperLedger, RuntimePolicy, StrategyRuntimeEngine
from quant_organism.runtime.live_session import LiveSession
from quant_organism.runtime.risk import RiskLimits
from quant_organism.runtime.value_at_risk import FHS, HS, book_scenarios, book_var, filtered, scale_for, tail
from quant_organism_tests.support.runtime_cases import always_long, market


def test_the_tail_by_order_statistics_matches_a_hand_computed_case():
    returns = np.r_[np.full(198, 0.001), -0.05, -0.03]  # 200 days; 1% of them is the 2 worst
    var, es = tail(returns, 0.99)
    assert var == pytest.approx(0.03) and es == pytest.approx(0.04)
    var, es = tail(np.r_[np.full(99, 0.0), -0.07], 0.99)  # 100 days: the worst alone
    assert (var, es) == (pytest.approx(0.07), pytest.approx(0.07))


def test_the_book_scenarios_apply_todays_positions_to_each_past_day():
    returns = pd.DataFrame({"BTC": [0.02, -0.04, np.nan], "ETH": [0.01, 0.08, 0.0]})
    got = book_scenarios({"BTC": 0.5, "ETH": -0.25}, returns)
    assert got == pytest.approx([0.5 * 0.02 - 0.25 * 0.01, 0.5 * -0.04 - 0.25 * 0.08])  # the day BTC lacks is left out
    with pytest.raises(ValueError, match="DOGE"):
        book_scenarios({"DOGE": 1.0}, returns)


def test_filtered_simulation_reads_todays_volatility_where_plain_history_averages_it():
    rng = np.random.default_rng(7)
    calm, storm = rng.standard_t(5, 450) * 0.01, rng.standard_t(5, 50) * 0.04  # the last 50 days are 4x as volatile
    scenarios = np.r_[calm, storm]
    var_fhs, es_fhs, method = filtered(scenarios)
    var_hs, _ = tail(scenarios)
    assert method == FHS and var_fhs > var_hs and es_fhs >= var_fhs
    assert filtered(scenarios[:100])[2] == HS  # too short a history to fit: plain history, and it says so


def test_var_is_linear_in_the_positions_so_the_scale_brings_it_to_the_limit():
    rng = np.random.default_rng(3)
    returns = pd.DataFrame({"BTC": rng.normal(0, 0.03, 400), "ETH": rng.normal(0, 0.04, 400)})
    one = book_var({"BTC": 0.6, "ETH": 0.3}, returns)
    two = book_var({"BTC": 1.2, "ETH": 0.6}, returns)
    assert two.var == pytest.approx(2 * one.var, rel=1e-3) and two.exposure == pytest.approx(1.8)
    scale = scale_for(one, one.var / 2)
    assert scale == pytest.approx(0.5)
    assert book_var({"BTC": 0.6 * scale, "ETH": 0.3 * scale}, returns).var == pytest.approx(one.var / 2, rel=1e-3)
    assert scale_for(one, None) == 1.0 and scale_for(one, one.var * 2) == 1.0


def _rising(n: int = 600) -> pd.DataFrame:
    """A noisy market whose last 40 hours rise steadily (the breakout strategy is long there)."""
    steps = np.r_[0.0, np.random.default_rng(1).normal(0.0004, 0.01, n - 41), np.full(40, 0.002)]
    return market(100.0 * np.exp(np.cumsum(steps)))


def test_an_entry_under_a_var_breach_is_scaled_down_and_says_so():
    frames = {"BTC": _rising()}
    fills = {}
    for scale in (1.0, 0.4):
        engine = StrategyRuntimeEngine([always_long("s", 1.0)], coins=["BTC"], policy=RuntimePolicy.backtest_parity())
        engine.exposure_scale = scale
        result = engine.run(frames, start=frames["BTC"].index[300])
        fills[scale] = next(f for f in result.fills if f.kind == "entry")
        if scale < 1.0:
            assert any(e.kind == "var_scale" and "x0.400" in e.detail for e in result.risk_events)
    assert fills[0.4].units * fills[0.4].price == pytest.approx(0.4 * fills[1.0].units * fills[1.0].price, rel=1e-3)


def test_a_breach_in_the_live_session_scales_the_held_book_and_is_alerted(tmp_path):
    frame = _rising()
    history, live = frame.iloc[:590], frame.iloc[590:]
    engine = StrategyRuntimeEngine([always_long("s", 1.0)], coins=["BTC"], policy=RuntimePolicy.backtest_parity(),
                                   risk=RiskLimits.off())  # fmt: skip
    session = LiveSession(engine, PaperLedger(tmp_path / "l.duckdb"), interval=pd.Timedelta(hours=1),
                          history={"BTC": history}, var_limit=0.002, out_dir=tmp_path / "live")  # fmt: skip
    for t, bar in live.iterrows():
        session.on_bar({"coin": "BTC", "time": t, **bar.to_dict()})
    held = session.watch.positions()["BTC"]
    assert held > 0 and session.var is not None and session.var.var > 0.002
    assert session.scale == pytest.approx(0.002 / session.var.var)
    assert session.targets()["BTC"] == pytest.approx(held * session.scale)  # what the exchange mirror holds
    assert engine.exposure_scale == session.scale
    assert any(a["kind"] == "var_breach" for a in session.alerts)
    assert "var_breach" in (tmp_path / "live" / "alerts.jsonl").read_text()
