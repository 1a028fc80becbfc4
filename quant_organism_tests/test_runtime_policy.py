"""Runtime policies: risk modes, confidence floor, allow-list, cooldown, and sizing within the allocation."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from quant_organism.backtest import CostModel
from quant_organism.catalog import StrategyConfig
from quant_organism.market.frames import to_strategy_frame
from quant_organism.market.sources.synthetic import SyntheticSource
from quant_organism.runtime import RiskMode, RuntimePolicy, Side, StrategyRuntimeEngine, volatility_confidence
from quant_organism.strategies import SeedGenes

START = pd.Timestamp("2020-01-01", tz="UTC")
COSTS = CostModel()
ENTRY = (Side.BUY, Side.SELL)


@pytest.fixture(scope="module")
def frames() -> dict[str, pd.DataFrame]:
    source = SyntheticSource(seed=5)
    end = START + pd.Timedelta(days=25)
    return {c: to_strategy_frame(source.candles(c, START, end), source.funding(c, START, end)) for c in ("BTC", "ETH")}


def strategy(name: str = "fast_ema", allocation: float | None = None, **values) -> StrategyConfig:
    values = {"fast_period": 4, "slow_period": 12, "stop_loss": 0.0, "position_size": 0.8, **values}
    g = SeedGenes.from_gene_values("ema_crossover", name, values)
    config = StrategyConfig.from_genes(g, fitness_score=1.0, backtest_sharpe=1.0, name=name)
    return config.model_copy(update={"allocation": allocation})


def run(frames, policy: RuntimePolicy, configs=None, coins=("BTC",), **kwargs):
    engine = StrategyRuntimeEngine(
        configs or [strategy()], policy=policy, costs=COSTS, coins=list(coins), signal_mode="precomputed"
    )
    return engine, engine.run({c: frames[c] for c in coins}, **kwargs)


def entries(result):
    return [d for d in result.decisions if d.side in ENTRY]


def bar_gaps(decisions, frame) -> list[tuple[int, object]]:
    """(bars since the book's previous decision, decision) for every decision after the first."""
    pos = {t: i for i, t in enumerate(frame.index)}
    out = []
    for before, after in zip(decisions, decisions[1:]):
        out.append((pos[after.timestamp] - pos[before.timestamp], after))
    return out


def test_risk_off_stops_new_entries_but_lets_positions_exit(frames):
    engine, head = run(frames, RuntimePolicy())
    holding = [m.time for m in head.marks if m.direction != 0]
    cut = holding[len(holding) // 2]
    engine, first = run(frames, RuntimePolicy(), end=cut + pd.Timedelta(hours=1), finish=False)
    assert engine.books[("fast_ema", "BTC")].state.direction != 0
    engine.policy = RuntimePolicy(risk_mode=RiskMode.OFF)
    rest = engine.run({"BTC": frames["BTC"]}, start=cut + pd.Timedelta(hours=1))
    assert entries(rest) == []
    assert [d.side for d in rest.decisions][:1] == [Side.CLOSE]  # the open position still exits on its signal
    assert rest.marks[-1].direction == 0
    assert {s.rule for s in rest.skipped} == {"risk_off"}


def test_defensive_mode_halves_entry_sizes(frames):
    loose = dict(min_confidence=0.0, defensive_min_confidence=0.0)
    _, normal = run(frames, RuntimePolicy(**loose))
    _, defensive = run(frames, RuntimePolicy(risk_mode=RiskMode.DEFENSIVE, **loose))
    assert len(entries(normal)) >= 5
    pairs = list(zip(entries(normal), entries(defensive), strict=True))
    for a, b in pairs:
        assert (a.timestamp, a.side) == (b.timestamp, b.side)
        assert b.size == pytest.approx(0.5 * a.size)


def test_defensive_mode_raises_the_confidence_floor(frames):
    _, normal = run(frames, RuntimePolicy())
    confidences = np.array([d.confidence for d in entries(normal)])
    assert (confidences < 0.9).any() and (confidences >= 0.9).any()  # the floor below has work to do
    _, defensive = run(frames, RuntimePolicy(risk_mode=RiskMode.DEFENSIVE, min_confidence=0.2, defensive_min_confidence=0.9))
    assert entries(defensive) and all(d.confidence >= 0.9 for d in entries(defensive))
    held = [s for s in defensive.skipped if s.rule == "min_confidence"]
    assert held and all(s.confidence < 0.9 for s in held)


def test_min_confidence_skips_weak_entries_and_never_blocks_exits(frames):
    _, normal = run(frames, RuntimePolicy())
    floor = float(np.quantile([d.confidence for d in entries(normal)], 0.2))
    assert floor < 1.0  # some entries were taken in a volatile market
    _, gated = run(frames, RuntimePolicy(min_confidence=floor))
    assert entries(gated) and all(d.confidence >= floor for d in entries(gated))
    assert any(s.rule == "min_confidence" for s in gated.skipped)
    filled = [d for d in gated.decisions if d.timestamp < frames["BTC"].index[-1]]  # the last close fills nothing
    opened = sum(1 for d in filled if d.target != 0)
    closed = sum(1 for d in filled if d.previous != 0)  # no stops here: only decisions exit
    still_open = int(gated.marks[-1].direction != 0)
    assert closed + still_open == opened  # every position taken was exited (or is still held at the end)


def test_a_strategy_outside_the_allow_list_is_flattened_and_opens_nothing(frames):
    configs = [strategy("fast_ema"), strategy("slow_ema", fast_period=8, slow_period=30)]
    engine, head = run(frames, RuntimePolicy(), configs=configs, end=frames["BTC"].index[300], finish=False)
    assert engine.books[("fast_ema", "BTC")].state.direction != 0 or any(d.strategy_id == "fast_ema" for d in head.decisions)
    engine.policy = RuntimePolicy(allowed_strategies=frozenset({"slow_ema"}))
    rest = engine.run({"BTC": frames["BTC"]}, start=frames["BTC"].index[300])
    barred = [d for d in rest.decisions if d.strategy_id == "fast_ema"]
    assert all(d.side is Side.FLAT and d.target == 0 for d in barred)
    assert any(s.rule == "not_allowed" and s.strategy_id == "fast_ema" for s in rest.skipped)
    assert [m for m in rest.marks if m.strategy == "fast_ema"][-1].direction == 0
    assert entries(rest) and all(d.strategy_id == "slow_ema" for d in entries(rest))


@pytest.mark.parametrize("policy", [RuntimePolicy(cooldown_bars=6), RuntimePolicy(cooldown=timedelta(hours=6))])
def test_cooldown_spaces_entries_from_the_previous_decision(frames, policy):
    _, free = run(frames, RuntimePolicy())
    assert any(gap < 6 and d.side in ENTRY for gap, d in bar_gaps(free.decisions, frames["BTC"]))
    _, cooled = run(frames, policy)
    gaps = bar_gaps(cooled.decisions, frames["BTC"])
    assert gaps and all(gap >= 6 for gap, d in gaps if d.side in ENTRY)
    assert any(s.rule == "cooldown" for s in cooled.skipped)


def test_sizes_scale_with_confidence_within_the_allocation(frames):
    config = strategy(allocation=0.4, position_size=0.5)
    engine, result = run(frames, RuntimePolicy(), configs=[config], coins=("BTC", "ETH"))
    opened = entries(result)
    assert opened
    for d in opened:
        assert d.size <= 0.4 * 0.5 + 1e-15
        assert d.size == pytest.approx(0.4 / 2 * 0.5 * d.confidence)  # allocation split over two coins
    assert any(d.confidence < 1.0 for d in opened)
    for coin in ("BTC", "ETH"):
        assert engine.books[("fast_ema", coin)].state.initial_cash == pytest.approx(10_000.0 * 0.4 / 2)
    marks = {(m.coin, m.time): m for m in result.marks}
    frame_index = {c: frames[c].index for c in ("BTC", "ETH")}
    for d in (d for d in opened if d.previous == 0):
        nxt = frame_index[d.coin][frame_index[d.coin].get_loc(d.timestamp) + 1]
        fill = next(f for f in result.fills if f.coin == d.coin and f.time == nxt and f.kind == "entry")
        spent = fill.units * fill.price * (1 + COSTS.taker_fee)
        fraction = d.size / (0.4 / 2)
        assert spent == pytest.approx(fraction * marks[(d.coin, d.timestamp)].equity, rel=1e-9)


def test_confidence_is_one_in_an_ordinary_market_and_falls_in_a_volatility_burst():
    rng = np.random.default_rng(0)
    returns = rng.normal(0, 0.01, 400)
    calm = np.exp(np.cumsum(returns))
    assert volatility_confidence(calm, 399, 24, 168) == pytest.approx(1.0, abs=0.35)
    returns[-24:] *= 4
    burst = np.exp(np.cumsum(returns))
    c = volatility_confidence(burst, 399, 24, 168)
    assert 0.2 < c < 0.6
    assert volatility_confidence(burst, 10, 24, 168) == 1.0  # too little history: no evidence of a regime
    assert volatility_confidence(np.full(300, 5.0), 299, 24, 168) == 1.0  # a halted market
    later = burst.copy()
    later[300:] *= 3.0
    assert volatility_confidence(later, 299, 24, 168) == volatility_confidence(burst, 299, 24, 168)  # causal


def test_policies_refuse_bad_settings():
    with pytest.raises(ValidationError, match="confidence_baseline"):
        RuntimePolicy(confidence_window=50, confidence_baseline=20)
    with pytest.raises(ValidationError):
        RuntimePolicy(min_confidence=1.5)
    with pytest.raises(ValidationError, match="cooldown"):
        RuntimePolicy(cooldown=timedelta(hours=-1))
    with pytest.raises(ValidationError):
        RuntimePolicy(risk_mode="reckless")
    assert RuntimePolicy(risk_mode="defensive").effective_min_confidence() == 0.6


def test_confidence_is_numpys_std_ratio_to_the_last_bit():
    """The confidence computes its deviations by numpy's own steps without `np.std`'s dispatch: the very floats,
    over windows of every length a policy takes and volatilities from flat to wild."""
    from quant_organism.runtime.policy import _std

    rng = np.random.default_rng(3)
    for _ in range(3000):
        n = int(rng.integers(2, 400))
        returns = np.diff(np.log(np.exp(np.cumsum(rng.normal(0, 10 ** rng.uniform(-6, -1), n + 1)))))
        assert _std(returns) == float(np.std(returns))
    closes = np.exp(np.cumsum(rng.normal(0, 0.01, 500)))
    for end in range(30, 500, 7):
        returns = np.diff(np.log(closes[max(0, end - 168) : end + 1]))
        expected = float(min(1.0, np.std(returns) / np.std(returns[-24:])))
        assert volatility_confidence(closes, end, 24, 168) == expected
