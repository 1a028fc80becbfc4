"""The runtime engine trades what the vectorised backtest trades, bar by bar, on every path into it.

Parity is checked against `run_backtest` on the same bars, signals, risk genes, costs and funding:
the per-bar position (units) and equity paths, and the trades table (entry/exit bars, direction, exit
reason, prices, fees, funding, PnL), with stops, take-profits, shorts and funding all exercised.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quant_organism.backtest import CostModel, run_backtest
from quant_organism.catalog import DataWindow, DeploymentStatus, StrategyStore
from quant_organism.runtime import LookaheadError, RuntimePolicy, Side, StrategyRuntimeEngine
from quant_organism.strategies import BaseSeed, SeedGenes, SeedRegistry, SeedType, get_registry
from quant_organism_tests.support.runtime_cases import COSTS, START, config, genes, synthetic_frames

PARITY = RuntimePolicy.backtest_parity()


CASES = [
    genes("ema_crossover", fast_period=5, slow_period=20, stop_loss=0.01, take_profit=0.02, position_size=0.6),
    genes("donchian_breakout", fast_period=10, slow_period=24, stop_loss=0.015, take_profit=0.03),
    genes("rsi_filter", fast_period=6, slow_period=50, stop_loss=0.01, take_profit=0.015, position_size=0.8),
    genes("sma_trend", fast_period=6, slow_period=30, stop_loss=0.0, take_profit=0.0),
    genes("funding_carry", fast_period=4, slow_period=24, entry_threshold=1e-5, exit_threshold=0.0, stop_loss=0.02),
]


@pytest.fixture(scope="module")
def frames() -> dict[str, pd.DataFrame]:
    return synthetic_frames()


def backtest(frame: pd.DataFrame, g: SeedGenes, costs: CostModel = COSTS, init_cash: float = 10_000.0):
    signals = get_registry().create_seed(g.seed_type, g).generate_signals(frame)
    funding = np.nan_to_num(frame["funding_rate"].to_numpy())
    return run_backtest(
        frame[["open", "high", "low", "close"]], signals, stop_loss=g.stop_loss, take_profit=g.take_profit,
        position_size=g.position_size, funding=funding, costs=costs, init_cash=init_cash,
    )  # fmt: skip


def assert_parity(result, coin: str, bt) -> None:
    marks = result.marks_frame()
    marks = marks[marks["coin"] == coin].set_index("time")
    assert marks.index.equals(bt.equity.index)
    np.testing.assert_allclose(marks["units"].to_numpy(), bt.position.iloc[:, 0].to_numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(marks["equity"].to_numpy(), bt.equity.iloc[:, 0].to_numpy(), rtol=1e-9)
    mine = result.trades_frame()
    mine = mine[mine["coin"] == coin].reset_index(drop=True)
    theirs = bt.trades.reset_index(drop=True)
    exact = ["entry_time", "exit_time", "direction", "exit_reason"]
    assert mine[exact].to_dict("records") == theirs[exact].to_dict("records")
    for column in ("size", "entry_price", "exit_price", "fees", "funding", "pnl", "ret"):
        np.testing.assert_allclose(mine[column].to_numpy(float), theirs[column].to_numpy(float), rtol=1e-9, atol=1e-9)


def test_the_cases_exercise_stops_take_profits_shorts_and_funding(frames):
    """Guard for the parity tests below: together the cases hit every exit rule, both sides, and funding."""
    trades = pd.concat([backtest(frames["BTC"], g).trades for g in CASES])
    assert {"signal", "stop_loss", "take_profit"} <= set(trades["exit_reason"])
    assert {1, -1} <= set(trades["direction"])
    assert (trades["funding"].abs() > 0).mean() > 0.5


@pytest.mark.parametrize("g", CASES, ids=lambda g: g.seed_type.value)
def test_precomputed_replay_matches_the_backtest_on_every_coin(frames, g):
    engine = StrategyRuntimeEngine([config(g)], policy=PARITY, costs=COSTS, coins=["BTC", "ETH"], signal_mode="precomputed")
    result = engine.run(frames)
    for coin in ("BTC", "ETH"):
        assert_parity(result, coin, backtest(frames[coin], g, init_cash=5_000.0))  # capital split over two coins


@pytest.mark.parametrize("g", CASES[:3], ids=lambda g: g.seed_type.value)
def test_incremental_signals_from_the_bars_so_far_match_the_backtest(frames, g):
    frame = frames["BTC"].iloc[:240]
    engine = StrategyRuntimeEngine([config(g)], policy=PARITY, costs=COSTS, coins=["BTC"], signal_mode="incremental")
    result = engine.run({"BTC": frame})
    bt = backtest(frame, g)
    assert len(bt.trades) >= 3
    assert_parity(result, "BTC", bt)


def test_decisions_fill_at_the_next_open_with_slippage_against_the_trader(frames):
    g = CASES[0]
    engine = StrategyRuntimeEngine([config(g)], policy=PARITY, costs=COSTS, coins=["BTC"], signal_mode="precomputed")
    frame = frames["BTC"]
    result = engine.run({"BTC": frame})
    entries = [d for d in result.decisions if d.side in (Side.BUY, Side.SELL)]
    assert len(entries) >= 5
    for d in entries:
        nxt = frame.index[frame.index.get_loc(d.timestamp) + 1]
        fill = [f for f in result.fills if f.time == nxt and f.kind == "entry"]
        assert len(fill) == 1 and fill[0].side == d.side.value
        expected = frame.at[nxt, "open"] * (1 + d.target * COSTS.slippage)
        assert fill[0].price == pytest.approx(expected, rel=1e-12)
        assert d.entry_price == frame.at[d.timestamp, "close"]  # indicative: the decision close
        assert d.stop_loss == pytest.approx(d.entry_price * (1 - d.target * g.stop_loss))


def test_live_bars_one_at_a_time_give_the_same_decisions_as_a_run(frames):
    g = CASES[1]
    frame = frames["ETH"].iloc[:400]
    batch = StrategyRuntimeEngine([config(g)], policy=PARITY, costs=COSTS, coins=["ETH"]).run(
        {"ETH": frame}, start=frame.index[120]
    )
    live = StrategyRuntimeEngine([config(g)], policy=PARITY, costs=COSTS, coins=["ETH"])
    live.load_history("ETH", frame.iloc[:120])
    decisions, fills = [], []
    for _, bar in frame.iloc[120:].iterrows():
        step = live.on_bar("ETH", bar)
        decisions += step.decisions
        fills += step.fills
    assert len(batch.decisions) >= 2
    assert decisions == batch.decisions
    assert fills == batch.fills
    with pytest.raises(ValueError, match="not after the last bar"):
        live.on_bar("ETH", frame.iloc[150])


def test_a_bar_fed_twice_is_processed_once(frames):
    frame = frames["BTC"]
    engine = StrategyRuntimeEngine([config(CASES[0])], policy=PARITY, coins=["BTC"], signal_mode="precomputed")
    first = [engine.step({"BTC": frame}, t) for t in range(60)]
    again = engine.step({"BTC": frame}, 59)
    assert sum(len(s.marks) for s in first) == 60
    assert again.marks == [] and again.decisions == [] and again.fills == []


def test_state_saved_mid_run_resumes_to_the_same_end(frames):
    g = CASES[2]
    cut = frames["BTC"].index[400]
    full = StrategyRuntimeEngine([config(g)], policy=PARITY, coins=["BTC"], signal_mode="precomputed").run(frames)
    first = StrategyRuntimeEngine([config(g)], policy=PARITY, coins=["BTC"], signal_mode="precomputed")
    head = first.run(frames, end=cut, finish=False)
    saved = first.export_state()
    second = StrategyRuntimeEngine([config(g)], policy=PARITY, coins=["BTC"], signal_mode="precomputed")
    for (name, coin), state in saved.items():
        second.restore_book(name, coin, state)
    tail = second.run(frames, start=cut)
    assert head.decisions + tail.decisions == full.decisions
    assert tail.marks[-1] == full.marks[-1]


class PeekingSeed(BaseSeed):
    """A broken seed: long when the NEXT close is higher (uses a bar it cannot have seen)."""

    seed_type = SeedType.SMA_TREND

    @classmethod
    def _batch_positions(cls, bars, genes_list):
        nxt = np.r_[bars.close[1:], bars.close[-1]]
        return np.repeat(np.sign(nxt - bars.close).astype(np.int8)[:, None], len(genes_list), axis=1)


def test_precomputed_signals_that_peek_at_later_bars_are_refused(frames):
    registry = SeedRegistry({SeedType.SMA_TREND: PeekingSeed})
    engine = StrategyRuntimeEngine([config(genes("sma_trend"))], coins=["BTC"], signal_mode="precomputed", registry=registry)
    with pytest.raises(LookaheadError, match="uses later bars"):
        engine.run(frames)


def test_sources_of_one_coin_share_its_checked_bars_and_each_keeps_its_own_parity_and_errors(frames):
    """A coin's frame is checked once for every strategy trading it; what each trades is what it trades alone."""
    configs = [config(g, name=f"s{k}") for k, g in enumerate(CASES)]
    engine = StrategyRuntimeEngine(configs, policy=PARITY, costs=COSTS, coins=["BTC", "ETH"], signal_mode="precomputed")
    result = engine.run(frames)
    for coin in ("BTC", "ETH"):
        shared = {id(engine.strategies[c.name].signals[coin].bars) for c in configs}
        assert len(shared) == 1 and engine.strategies["s0"].signals[coin].bars.n == len(frames[coin])
    marks = result.marks_frame()
    for c in configs:  # each book as a one-strategy engine's, which the backtest parity holds
        alone = StrategyRuntimeEngine([c], policy=PARITY, costs=COSTS, coins=["BTC", "ETH"], signal_mode="precomputed")
        mine = marks[marks["strategy"] == c.name].reset_index(drop=True)
        pd.testing.assert_frame_equal(mine, alone.run(frames).marks_frame())
    # bars without funding, checked first for a seed that needs none: the funding seed still refuses them
    bare = {"BTC": frames["BTC"].drop(columns=["funding_rate"])}
    engine = StrategyRuntimeEngine(configs[3:], policy=PARITY, coins=["BTC"], signal_mode="precomputed")
    with pytest.raises(ValueError, match="funding_rate"):
        engine.run(bare)


def test_signal_proofs_leave_a_later_bar_out_each_and_a_frame_with_none_needs_no_proof():
    """A prefix ending at the frame's last bar is the whole frame: recomputing it proves nothing about later bars,
    so the proofs end at n - 2 at the latest (which catches a peek one bar ahead), within [start, n - 2]."""
    from quant_organism.runtime.signals import verification_points

    targets = np.zeros(1000, np.int8)
    targets[[300, 301, 650, 998, 999]] = 1
    points = verification_points(targets, start=200, count=8)
    assert len(points) == 8 and points == sorted(set(points))
    assert points[-1] == 998 and all(200 <= p <= 998 for p in points)
    assert 300 in points  # a bar where the target changed
    assert verification_points(targets, start=998, count=8) == [998]
    assert verification_points(targets, start=999, count=8) == []  # only the last bar is new: nothing later to use
    assert verification_points(targets[:1], start=0, count=8) == []


class ShortFromBarTwo(BaseSeed):
    """Short from bar 2 on, whatever happens: a squeeze will exhaust the account."""

    seed_type = SeedType.SMA_TREND

    @classmethod
    def _batch_positions(cls, bars, genes_list):
        out = np.zeros((bars.n, len(genes_list)), np.int8)
        out[2:] = -1
        return out


def test_an_exhausted_account_is_liquidated_as_in_the_backtest():
    opens = np.array([100.0, 100, 100, 101, 140, 190, 240, 260, 200, 150, 120])
    closes = np.r_[opens[1:], opens[-1]]
    index = pd.date_range(START, periods=len(opens), freq="h")
    frame = pd.DataFrame(
        {"open": opens, "high": np.maximum(opens, closes) * 1.01, "low": np.minimum(opens, closes) * 0.99,
         "close": closes, "volume": 1.0, "funding_rate": 1e-4},
        index=index,
    )  # fmt: skip
    g = genes("sma_trend", stop_loss=0.0)
    registry = SeedRegistry({SeedType.SMA_TREND: ShortFromBarTwo})
    engine = StrategyRuntimeEngine([config(g)], policy=PARITY, costs=COSTS, coins=["BTC"], registry=registry)
    result = engine.run({"BTC": frame})
    signals = pd.Series(ShortFromBarTwo(g).generate_signals(frame).to_numpy(), index=index)
    bt = run_backtest(frame[["open", "high", "low", "close"]], signals, stop_loss=0.0, position_size=g.position_size,
                      funding=frame["funding_rate"].to_numpy(), costs=COSTS)  # fmt: skip
    assert bt.trades["exit_reason"].tolist() == ["bankrupt"]
    assert_parity(result, "BTC", bt)
    assert engine.books[(config(g).name, "BTC")].state.bankrupt
    assert result.marks[-1].equity == 0.0 and not result.decisions[1:]  # nothing more after liquidation


def test_a_store_gives_its_active_deployed_and_decaying_strategies(tmp_path):
    loader = StrategyStore(tmp_path / "strategies")
    window = DataWindow(start=START, end=START + pd.Timedelta(days=10), coins=("BTC", "ETH"))
    configs = [config(genes("ema_crossover", f"s{i}", fast_period=5 + i, slow_period=40), data_window=window) for i in range(4)]
    loader.save_evolved_strategies(configs)
    for c in configs[:3]:
        loader.transition_strategy(c.name, DeploymentStatus.VALIDATED, "passed")
    loader.transition_strategy(configs[0].name, DeploymentStatus.DEPLOYED, "deploy", allocation=0.5)
    loader.transition_strategy(configs[1].name, DeploymentStatus.DEPLOYED, "deploy", allocation=0.3)
    loader.transition_strategy(configs[1].name, DeploymentStatus.DECAYING, "fading")
    loader.transition_strategy(configs[2].name, DeploymentStatus.DEPLOYED, "deploy", allocation=0.0)
    engine = StrategyRuntimeEngine(loader, coins=["BTC"])
    assert set(engine.strategies) == {configs[0].name, configs[1].name}  # zero allocation or evolved: not run
    assert set(engine.books) == {(configs[0].name, "BTC"), (configs[1].name, "BTC")}  # window coins ∩ coins
    assert engine.books[(configs[0].name, "BTC")].state.initial_cash == pytest.approx(10_000.0 * 0.5)


def test_a_strategy_without_coins_is_an_error():
    with pytest.raises(ValueError, match="names no coins"):
        StrategyRuntimeEngine([config(CASES[0])])
