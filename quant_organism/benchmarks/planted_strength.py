"""What a planted market's edge is worth: Sharpe ratios of a plain rule and of an oracle, after costs.

Why: a planted `strength` is a knob, not a measurement. Size and power of the organism are only
comparable across kinds once each market's edge is stated as what a fixed, plain rule of a family
that can capture it earns through the project's own backtest engine after the default costs
(`planted_sharpe`), next to what a trader who sees the hidden state earns (`oracle_sharpe`, an upper
bound for rules that must infer it). `calibrate` finds the strengths that give target planted Sharpes.

Conventions: signals are computed on the whole frame (warm-up included) and backtested with
`run_backtest` per coin: fill at the next bar's open, `CostModel()` fees and slippage, funding
charged from the frame's `funding_rate`, no stop-loss or take-profit, full position size.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from quant_organism.backtest.costs import CostModel
from quant_organism.backtest.simulate import run_backtest
from quant_organism.market.sources.planted import PlantedMarket, PlantedSource, hidden_state
from quant_organism.strategies.genes import SeedGenes
from quant_organism.strategies.registry import get_registry
from quant_organism.strategies.rule_tree import signal_genes

OHLCV = ["open", "high", "low", "close", "volume"]
FUNDING = "funding_rate"
_PLAIN = {"stop_loss": 0.0, "take_profit": 0.0, "position_size": 1.0}

_TREND_RULE = SeedGenes(
    seed_id="planted_ema_24_96", seed_type="ema_crossover", fast_period=24, slow_period=96, signal_period=12,
    entry_threshold=0.002, exit_threshold=0.0, filter_threshold=0.0, **_PLAIN,
)  # fmt: skip
_REVERSION_RULE = SeedGenes(
    seed_id="planted_rsi_6", seed_type="rsi_filter", fast_period=6, slow_period=200, signal_period=24,
    entry_threshold=25.0, exit_threshold=0.0, filter_threshold=0.5, **_PLAIN,
)  # fmt: skip
_CARRY_RULE = SeedGenes(
    seed_id="planted_carry_8", seed_type="funding_carry", fast_period=8, slow_period=72, signal_period=24,
    entry_threshold=3e-5, exit_threshold=1.5e-5, filter_threshold=1.0, **_PLAIN,
)  # fmt: skip
_SWITCH_RULE = SeedGenes(
    seed_id="planted_switch", seed_type="rule_tree", **_PLAIN, rule=json.dumps({"op": "if", "args": [
        {"cond": "vol_ratio", "fast": 24, "slow": 720, "above": 0.9},
        {"leaf": {k: v for k, v in _TREND_RULE.gene_values().items() if k in signal_genes(_TREND_RULE.seed_type)}
         | {"seed_type": _TREND_RULE.seed_type.value}},
        {"leaf": {k: v for k, v in _REVERSION_RULE.gene_values().items() if k in signal_genes(_REVERSION_RULE.seed_type)}
         | {"seed_type": _REVERSION_RULE.seed_type.value}},
    ]}),
)  # fmt: skip
"""The switch kind's rule: the trend rule while the last day's volatility is 0.9 times the last month's or more, else the
reversion rule (a rule tree: strategies/rule_tree.py)."""
# The fixed rule that measures each kind (null: the trend rule; on a null market any rule earns nothing).
PLANTED_RULES: dict[str, SeedGenes] = {
    "null": _TREND_RULE,
    "trend": _TREND_RULE,
    "mean_reversion": _REVERSION_RULE,
    "funding_carry": _CARRY_RULE,
    "regime": _TREND_RULE,
    "switch": _SWITCH_RULE,
}
# Oracle for mean reversion: enter when the overreaction exceeds this many round-trip costs (the whole
# overreaction is the most a trade can earn), hold until it changes sign.
ORACLE_REVERSION_ENTRY = 2.0
# Calibration: a first upper bracket per kind (doubled until it reaches the target) and the largest strength.
_FIRST_HIGH = {"trend": 0.05, "mean_reversion": 0.25, "funding_carry": 0.02, "regime": 0.05, "switch": 0.03}
_MAX_STRENGTH = {"trend": 2.0, "mean_reversion": 1.0, "funding_carry": 2.0, "regime": 2.0, "switch": 0.2}
DEFAULT_COINS: tuple[str, ...] = ("BTC", "ETH", "SOL", "DOGE", "XRP")


def market_frames(
    market: PlantedMarket,
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
    interval: str = "1h",
) -> dict[str, pd.DataFrame]:
    """Strategy frames straight from the source (no lake): UTC bar-open index, OHLCV and funding_rate.

    Funding is stamped on the hour and aligned by the bar contract (market/frames.join_funding), exactly as
    lake funding is: at 1h each rate lands on the bar opening at its stamp; at 4h or 1d, the bar's hours.
    """
    if interval != "1h":
        from quant_organism.market.frames import to_strategy_frame

        source = PlantedSource(market)
        start = market.start_ts if start is None else start
        end = market.end_ts if end is None else end
        return {coin: to_strategy_frame(source.candles(coin, start, end, interval), source.funding(coin, start, end))
                for coin in market.coins}  # fmt: skip
    source = PlantedSource(market)
    start = market.start_ts if start is None else start
    end = market.end_ts if end is None else end
    frames = {}
    for coin in market.coins:
        bars = source.candles(coin, start, end).set_index("timestamp")[OHLCV]
        bars.index.name = None
        rates = source.funding(coin, start, end).set_index("timestamp")[FUNDING]
        bars[FUNDING] = rates.reindex(bars.index).to_numpy()
        frames[coin] = bars
    return frames


def planted_sharpe(
    market: PlantedMarket,
    frames: dict[str, pd.DataFrame] | None = None,
    *,
    rule: SeedGenes | None = None,
    costs: CostModel = CostModel(),
) -> dict:
    """Annualised Sharpe of the kind's fixed rule (PLANTED_RULES, or `rule`) per coin and their mean.

    Returns {"kind", "strength", "rule", "per_coin": {coin: sharpe}, "trades": {coin: n}, "mean"}.
    """
    genes = PLANTED_RULES[market.kind] if rule is None else rule
    frames = market_frames(market) if frames is None else frames
    registry = get_registry()
    targets = {coin: registry.batch_signals(genes.seed_type, frame, [genes]).iloc[:, 0] for coin, frame in frames.items()}
    return _summary(
        market, frames, targets, costs, genes.seed_type.value, genes.stop_loss, genes.take_profit, genes.position_size
    )


def oracle_sharpe(
    market: PlantedMarket, frames: dict[str, pd.DataFrame] | None = None, *, costs: CostModel = CostModel()
) -> dict:
    """Annualised Sharpe of positions read off the hidden state (same engine and costs), per coin and mean."""
    frames = market_frames(market) if frames is None else frames
    targets = {}
    for coin, frame in frames.items():
        state = hidden_state(market, coin).reindex(frame.index)
        targets[coin] = pd.Series(oracle_positions(market.kind, state, costs), index=frame.index)
    return _summary(market, frames, targets, costs, "oracle")


def oracle_positions(kind: str, state: pd.DataFrame, costs: CostModel = CostModel()) -> np.ndarray:
    """int8 targets decided at each bar's close from the hidden state.

    trend / regime: the drift's sign; funding_carry: against the side that pays; mean_reversion:
    against an overreaction larger than ORACLE_REVERSION_ENTRY round trips, held until it changes
    sign; switch: the drift's sign in high volatility, the reversion's position when calm; null: flat.
    """
    if kind in ("trend", "regime"):
        return np.sign(state["drift_state"].to_numpy()).astype(np.int8)
    if kind == "funding_carry":
        return (-np.sign(state["carry_state"].to_numpy())).astype(np.int8)
    if kind in ("mean_reversion", "switch"):
        round_trip = 2.0 * (costs.taker_fee + costs.slippage)
        reverting = _hysteresis(-state["overreaction"].to_numpy(), ORACLE_REVERSION_ENTRY * round_trip)
        if kind == "mean_reversion":
            return reverting
        trending = np.sign(state["drift_state"].to_numpy()).astype(np.int8)
        return np.where(state["high_vol"].to_numpy() == 1, trending, reverting).astype(np.int8)
    return np.zeros(len(state), dtype=np.int8)


@dataclass(frozen=True)
class Calibration:
    """The strength found for one target planted Sharpe, the Sharpe it measured, and how many new
    strengths the search evaluated for this target."""

    target: float
    strength: float
    sharpe: float
    evaluations: int


def calibrate(
    kind: str,
    target_sharpes: tuple[float, ...] = (1.0, 2.0, 3.0, 4.0),
    *,
    seeds: tuple[int, ...] = (0,),
    coins: tuple[str, ...] = DEFAULT_COINS,
    start: str | pd.Timestamp = "2024-01-01",
    days: int = 365,
    tol: float = 0.05,
    max_evaluations: int = 40,
    costs: CostModel = CostModel(),
) -> dict[float, Calibration]:
    """Strength giving each target planted Sharpe (mean over seeds and coins), by bisection.

    The base noise is the same at every strength (common random numbers), so the planted Sharpe is
    close to monotone in strength and bisection settles within `tol` (or on a tiny bracket; then the
    closest strength seen is returned, its `sharpe` says how close). One year of one coin measures a
    Sharpe to about +-1, so one seed of five coins leaves the calibration that noisy: more `seeds`
    average it out. Targets beyond what the kind's largest strength reaches return that strength.
    """
    if kind not in _FIRST_HIGH:
        raise ValueError(f"cannot calibrate {kind!r}: expected one of {sorted(_FIRST_HIGH)}")
    begin = pd.Timestamp(start)
    markets = [PlantedMarket(kind, 0.0, seed, tuple(coins), begin, begin + pd.Timedelta(days=days)) for seed in seeds]
    seen: dict[float, float] = {}

    def sharpe(strength: float) -> float:
        if strength not in seen:
            seen[strength] = float(np.mean([planted_sharpe(m.with_strength(strength), costs=costs)["mean"] for m in markets]))
        return seen[strength]

    def settled(strength: float) -> bool:
        return strength in seen and abs(seen[strength] - target) <= tol

    out = {}
    for target in sorted(float(t) for t in target_sharpes):
        lo, hi, used, cap = 0.0, _FIRST_HIGH[kind], len(seen), _MAX_STRENGTH[kind]
        while sharpe(hi) < target and hi < cap and len(seen) < max_evaluations:
            lo, hi = hi, min(2.0 * hi, cap)
        while len(seen) < max_evaluations and sharpe(hi) >= target and not (settled(lo) or settled(hi)) and hi - lo > 1e-6:
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if sharpe(mid) < target else (lo, mid)
        best = min((s for s in seen if lo <= s <= hi), key=lambda s: abs(seen[s] - target))
        out[target] = Calibration(target, best, seen[best], len(seen) - used)
    return out


def _hysteresis(score: np.ndarray, entry: float) -> np.ndarray:
    """+1 when score > entry, -1 when score < -entry, held until the score changes sign."""
    out = np.zeros(len(score), dtype=np.int8)
    position = 0
    for t, value in enumerate(score):
        if value > entry:
            position = 1
        elif value < -entry:
            position = -1
        elif position * value <= 0:
            position = 0
        out[t] = position
    return out


def _summary(
    market: PlantedMarket,
    frames: dict[str, pd.DataFrame],
    targets: dict[str, pd.Series],
    costs: CostModel,
    rule: str,
    stop_loss: float = 0.0,
    take_profit: float = 0.0,
    position_size: float = 1.0,
) -> dict:
    """Backtest each coin's targets on its frame; Sharpe and trade count per coin, mean Sharpe."""
    per_coin, trades = {}, {}
    for coin, frame in frames.items():
        result = run_backtest(
            frame[["open", "high", "low", "close"]], targets[coin].rename(coin),
            stop_loss=stop_loss, take_profit=take_profit, position_size=position_size,
            funding=frame[FUNDING].to_numpy(dtype=np.float64), costs=costs,
        )  # fmt: skip
        per_coin[coin] = float(result.metrics["sharpe"].iloc[0])
        trades[coin] = int(result.metrics["trade_count"].iloc[0])
    return {
        "kind": market.kind,
        "strength": market.strength,
        "rule": rule,
        "per_coin": per_coin,
        "trades": trades,
        "mean": float(np.mean(list(per_coin.values()))),
    }
