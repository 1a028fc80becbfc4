"""The gene table, declared once: each seed's genes and their orderings, and what follows from it (the gene spaces,
repair, random genomes). Adding a seed adds its member to `SeedType`, its row here and its own module in seeds/.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from enum import Enum
from typing import Any

import numpy as np

from .gene_specs import COMMON_GENES, REGIME_GENE, RULE_GENE, GeneRole, GeneSpec, GeneValue, Ordering, _g, _unused


class SeedType(str, Enum):
    """The strategy seeds (stable values: they appear in configs and strategy names): twelve templates, and the rule
    tree (strategies/rule_tree.py) that composes the templates' signals."""

    EMA_CROSSOVER = "ema_crossover"
    DONCHIAN_BREAKOUT = "donchian_breakout"
    RSI_FILTER = "rsi_filter"
    STOCHASTIC = "stochastic"
    SMA_TREND = "sma_trend"
    ATR_STOP = "atr_stop"
    ICHIMOKU = "ichimoku"
    VWAP_REVERSION = "vwap_reversion"
    VOLATILITY_SCALING = "volatility_scaling"
    FUNDING_CARRY = "funding_carry"
    LINEAR_SVC = "linear_svc"
    PCA_TREE_QUANTILE = "pca_tree_quantile"
    RULE_TREE = "rule_tree"

    def __str__(self) -> str:  # f"{seed_type}" gives the value, as strategy names expect
        return self.value


TECHNICAL_SEEDS: tuple[SeedType, ...] = (
    SeedType.EMA_CROSSOVER,
    SeedType.DONCHIAN_BREAKOUT,
    SeedType.RSI_FILTER,
    SeedType.STOCHASTIC,
    SeedType.SMA_TREND,
    SeedType.ATR_STOP,
    SeedType.ICHIMOKU,
    SeedType.VWAP_REVERSION,
    SeedType.VOLATILITY_SCALING,
    SeedType.FUNDING_CARRY,
)
ML_SEEDS: tuple[SeedType, ...] = (SeedType.LINEAR_SVC, SeedType.PCA_TREE_QUANTILE)


_RISK: tuple[GeneSpec, ...] = (
    _g(
        "stop_loss",
        0.0,
        0.2,
        0.05,
        "stop-loss distance as a fraction of entry price; 0 = none (applied by the backtest)",
        GeneRole.RISK,
    ),
    _g(
        "take_profit",
        0.0,
        0.5,
        0.0,
        "take-profit distance as a fraction of entry price; 0 = none (applied by the backtest)",
        GeneRole.RISK,
    ),
    _g("position_size", 0.01, 1.0, 1.0, "fraction of equity committed per position (applied by the backtest)", GeneRole.RISK),
    _g(
        REGIME_GENE,
        0,
        4,
        0,
        "when the strategy may hold a position: 0 always, 1 not in high volatility, 2 only in "
        "the calm HMM state, 3 only with the market trend, 4 not into extreme sentiment (strategies/regime_filter.py)",
        GeneRole.REGIME,
        "int",
    ),
)
_FAST_SLOW = Ordering("fast_period", "slow_period", strict=True)
_EXIT_ENTRY = Ordering("exit_threshold", "entry_threshold", strict=False)

# Walk-forward genes shared by the two ML seeds.
_WALK_FORWARD: tuple[GeneSpec, ...] = (
    _g("n_lags", 1, 24, 5, "number of lagged one-bar log returns in the features", GeneRole.WINDOW, "int"),
    _g("train_window", 200, 2000, 720, "trailing bars in each training set", GeneRole.TRAINING, "int"),
    _g("refit_every", 48, 1000, 168, "bars between refits (anchored at bar 0 of the input)", GeneRole.SCHEDULE, "int"),
)
_ML_FEATURES: tuple[GeneSpec, ...] = (
    _g("fast_period", 2, 50, 14, "RSI feature period", GeneRole.WINDOW),
    _g("slow_period", 5, 400, 48, "distance-to-EMA feature period", GeneRole.WINDOW),
    _g("signal_period", 2, 200, 24, "realised-volatility feature window", GeneRole.WINDOW),
)

_TABLE: dict[SeedType, tuple[tuple[GeneSpec, ...], tuple[Ordering, ...]]] = {
    SeedType.EMA_CROSSOVER: (
        (
            _g("fast_period", 2, 100, 12, "fast EMA period", GeneRole.WINDOW),
            _g("slow_period", 5, 400, 48, "slow EMA period", GeneRole.WINDOW),
            _g(
                "signal_period",
                1,
                100,
                12,
                "bars over which the slow EMA's slope is measured",
                GeneRole.EXTENDS,
                of="slow_period",
            ),
            _g(
                "entry_threshold",
                0.0,
                0.03,
                0.002,
                "EMA spread (fast/slow - 1) needed to enter, as a fraction",
                GeneRole.THRESHOLD,
            ),
            _g("exit_threshold", -0.03, 0.03, 0.0, "spread below which a long exits (mirrored for shorts)", GeneRole.THRESHOLD),
            _g(
                "filter_threshold", 0.0, 0.05, 0.0, "minimum slow-EMA slope in the trade's direction to enter", GeneRole.THRESHOLD
            ),
        ),
        (_FAST_SLOW, _EXIT_ENTRY),
    ),
    SeedType.DONCHIAN_BREAKOUT: (
        (
            _g("fast_period", 2, 200, 24, "exit channel: previous N bars' low (long) / high (short)", GeneRole.WINDOW),
            _g("slow_period", 5, 500, 48, "entry channel: previous N bars' high / low, current bar excluded", GeneRole.WINDOW),
            _g("signal_period", 2, 200, 24, "previous bars averaged for the volume baseline", GeneRole.WINDOW),
            _g("entry_threshold", 0.0, 0.05, 0.0, "breakout buffer beyond the channel, as a fraction", GeneRole.THRESHOLD),
            _g(
                "exit_threshold",
                0.0,
                0.05,
                0.0,
                "buffer beyond the exit channel before exiting, as a fraction",
                GeneRole.THRESHOLD,
            ),
            _g(
                "filter_threshold",
                0.0,
                3.0,
                0.0,
                "breakout bar volume must be >= this multiple of the baseline",
                GeneRole.THRESHOLD,
            ),
        ),
        (_FAST_SLOW,),
    ),
    SeedType.RSI_FILTER: (
        (
            _g("fast_period", 2, 50, 14, "RSI period (Wilder)", GeneRole.WINDOW),
            _g("slow_period", 5, 400, 200, "trend-filter SMA period", GeneRole.WINDOW),
            _g("signal_period", 1, 500, 48, "time stop: most bars a position is held", GeneRole.HOLDING),
            _g("entry_threshold", 5.0, 45.0, 20.0, "long when RSI < 50 - x, short when RSI > 50 + x", GeneRole.THRESHOLD),
            _g("exit_threshold", -40.0, 45.0, 0.0, "long exits when RSI > 50 - x (short mirrored)", GeneRole.THRESHOLD),
            _g(
                "filter_threshold", 0.0, 0.5, 0.05, "longs need close >= SMA*(1-x), shorts close <= SMA*(1+x)", GeneRole.THRESHOLD
            ),
        ),
        (_FAST_SLOW, _EXIT_ENTRY),
    ),
    SeedType.STOCHASTIC: (
        (
            _g("fast_period", 3, 100, 14, "%K lookback (highest high / lowest low, current bar included)", GeneRole.WINDOW),
            _g("slow_period", 5, 400, 200, "trend-filter SMA period", GeneRole.WINDOW),
            _g("signal_period", 1, 20, 3, "%D: SMA period of %K", GeneRole.EXTENDS, of="fast_period"),
            _g(
                "entry_threshold",
                5.0,
                45.0,
                30.0,
                "long on %K crossing above %D while %D < 50 - x (short mirrored)",
                GeneRole.THRESHOLD,
            ),
            _g("exit_threshold", -45.0, 45.0, -30.0, "long exits when %K > 50 - x (short mirrored)", GeneRole.THRESHOLD),
            _g(
                "filter_threshold", 0.0, 0.5, 0.05, "longs need close >= SMA*(1-x), shorts close <= SMA*(1+x)", GeneRole.THRESHOLD
            ),
        ),
        (_FAST_SLOW, _EXIT_ENTRY),
    ),
    SeedType.SMA_TREND: (
        (
            _g("fast_period", 2, 100, 20, "fast SMA period (must agree with the trend)", GeneRole.WINDOW),
            _g("slow_period", 5, 400, 100, "slow SMA period (the trend)", GeneRole.WINDOW),
            _g(
                "signal_period",
                1,
                100,
                24,
                "bars over which the slow SMA's slope is measured",
                GeneRole.EXTENDS,
                of="slow_period",
            ),
            _g(
                "entry_threshold", 0.0, 0.05, 0.005, "close must clear the slow SMA by this fraction to enter", GeneRole.THRESHOLD
            ),
            _g("exit_threshold", -0.05, 0.05, 0.0, "long exits when close/SMA - 1 < x (short mirrored)", GeneRole.THRESHOLD),
            _g(
                "filter_threshold", 0.0, 0.05, 0.0, "minimum slow-SMA slope in the trade's direction to enter", GeneRole.THRESHOLD
            ),
        ),
        (_FAST_SLOW, _EXIT_ENTRY),
    ),
    SeedType.ATR_STOP: (
        (
            _g("fast_period", 2, 100, 20, "fast EMA period (trend direction)", GeneRole.WINDOW),
            _g("slow_period", 5, 400, 100, "slow EMA period (trend direction and entry anchor)", GeneRole.WINDOW),
            _g("signal_period", 2, 100, 14, "ATR period (Wilder)", GeneRole.WINDOW),
            _g("entry_threshold", 0.0, 4.0, 0.5, "close must clear the slow EMA by this many ATRs to enter", GeneRole.THRESHOLD),
            _g(
                "exit_threshold",
                0.5,
                8.0,
                3.0,
                "trailing stop: ATRs below the highest close since entry (long)",
                GeneRole.THRESHOLD,
            ),
            _g("filter_threshold", 0.0, 0.05, 0.0, "minimum ATR/close to enter (skips dead markets)", GeneRole.THRESHOLD),
        ),
        (_FAST_SLOW,),
    ),
    SeedType.ICHIMOKU: (
        (
            _g("fast_period", 2, 60, 9, "tenkan-sen period", GeneRole.WINDOW),
            _g("slow_period", 5, 200, 26, "kijun-sen period", GeneRole.WINDOW),
            _g("signal_period", 1, 120, 26, "displacement: the cloud in force at bar t was computed at t - N", GeneRole.EXTENDS),
            _g("entry_threshold", 0.0, 0.05, 0.0, "close must clear the cloud by this fraction to enter", GeneRole.THRESHOLD),
            _g("exit_threshold", 0.0, 0.05, 0.0, "long exits when close < kijun*(1-x) (short mirrored)", GeneRole.THRESHOLD),
            _g(
                "filter_threshold",
                -0.05,
                0.2,
                0.0,
                "chikou momentum close[t]/close[t-N]-1 must exceed x (long)",
                GeneRole.THRESHOLD,
            ),
            _g("senkou_period", 10, 400, 52, "senkou span B period", GeneRole.WINDOW, "int"),
        ),
        (_FAST_SLOW, Ordering("slow_period", "senkou_period", strict=True)),
    ),
    SeedType.VWAP_REVERSION: (
        (
            _g("fast_period", 2, 200, 24, "window of the one-bar log-return volatility that scales deviations", GeneRole.WINDOW),
            _g("slow_period", 5, 500, 48, "rolling VWAP window", GeneRole.WINDOW),
            _g("signal_period", 1, 500, 24, "time stop: most bars a position is held", GeneRole.HOLDING),
            _g(
                "entry_threshold",
                0.5,
                10.0,
                2.0,
                "long when close is this many vols below VWAP (short above)",
                GeneRole.THRESHOLD,
            ),
            _g("exit_threshold", -3.0, 10.0, 0.0, "long exits when less than x vols below VWAP", GeneRole.THRESHOLD),
            _g(
                "filter_threshold",
                0.0,
                5.0,
                0.0,
                "entry bar volume must be >= x times the previous VWAP window's mean",
                GeneRole.THRESHOLD,
            ),
        ),
        (_FAST_SLOW, _EXIT_ENTRY),
    ),
    SeedType.VOLATILITY_SCALING: (
        (
            _g("fast_period", 2, 100, 24, "short realised-volatility window", GeneRole.WINDOW),
            _g("slow_period", 5, 1000, 168, "baseline realised-volatility window", GeneRole.WINDOW),
            _g("signal_period", 2, 500, 72, "momentum lookback", GeneRole.WINDOW),
            _g("entry_threshold", 0.0, 3.0, 0.5, "momentum t-stat needed to enter", GeneRole.THRESHOLD),
            _g("exit_threshold", -3.0, 3.0, 0.0, "long exits when the t-stat < x (short mirrored)", GeneRole.THRESHOLD),
            _g(
                "filter_threshold",
                0.5,
                4.0,
                1.5,
                "flat whenever short vol > x times baseline vol (vol target)",
                GeneRole.THRESHOLD,
            ),
        ),
        (_FAST_SLOW, _EXIT_ENTRY),
    ),
    SeedType.FUNDING_CARRY: (
        (
            _g("fast_period", 1, 100, 8, "bars of funding averaged (1 = latest rate)", GeneRole.WINDOW),
            _g("slow_period", 5, 500, 72, "price-momentum lookback of the trend guard", GeneRole.WINDOW),
            _unused("signal_period", 1, 100, 24),
            _g(
                "entry_threshold", 0.0, 5e-4, 5e-5, "short when mean funding > x per interval, long when < -x", GeneRole.THRESHOLD
            ),
            _g("exit_threshold", -5e-4, 5e-4, 1e-5, "a short exits when mean funding < x (long mirrored)", GeneRole.THRESHOLD),
            _g("filter_threshold", 0.0, 1.0, 0.1, "trend guard: no short after a rise > x over the lookback", GeneRole.THRESHOLD),
        ),
        (_FAST_SLOW, _EXIT_ENTRY),
    ),
    SeedType.LINEAR_SVC: (
        (
            *_ML_FEATURES,
            _g("entry_threshold", 0.0, 1.0, 0.1, "decision-function margin needed to enter", GeneRole.THRESHOLD),
            _g(
                "exit_threshold", -1.0, 1.0, 0.0, "long exits when the decision function < x (short mirrored)", GeneRole.THRESHOLD
            ),
            _unused("filter_threshold", 0.0, 1.0, 0.0),
            *_WALK_FORWARD,
            _g("log10_c", -4.0, 1.0, -1.0, "log10 of LinearSVC's regularisation parameter C", GeneRole.MODEL),
        ),
        (_FAST_SLOW, _EXIT_ENTRY),
    ),
    SeedType.PCA_TREE_QUANTILE: (
        (
            *_ML_FEATURES,
            _g(
                "entry_threshold",
                0.0,
                1.0,
                0.0,
                "long when the leaf's lower quantile of the vol-scaled next return > x",
                GeneRole.THRESHOLD,
            ),
            _g("exit_threshold", -1.0, 1.0, 0.0, "long exits when the leaf median < x (short mirrored)", GeneRole.THRESHOLD),
            _unused("filter_threshold", 0.0, 1.0, 0.0),
            *_WALK_FORWARD,
            _g("n_components", 1, 8, 3, "PCA components kept (capped at the feature count)", GeneRole.MODEL, "int"),
            _g("max_depth", 1, 8, 3, "decision tree depth", GeneRole.MODEL, "int"),
            _g("min_leaf", 10, 200, 40, "fewest training rows per tree leaf", GeneRole.MODEL, "int"),
            _g("quantile", 0.05, 0.45, 0.3, "band: the leaf's q and 1-q quantiles of the next return", GeneRole.MODEL),
        ),
        (_FAST_SLOW, _EXIT_ENTRY),
    ),
    SeedType.RULE_TREE: (  # its signal is its `rule`; only the risk and regime genes are numbers
        (
            _unused("fast_period", 2, 100, 12),
            _unused("slow_period", 5, 400, 48),
            _unused("signal_period", 1, 100, 12),
            _unused("entry_threshold", 0.0, 1.0, 0.0),
            _unused("exit_threshold", 0.0, 1.0, 0.0),
            _unused("filter_threshold", 0.0, 1.0, 0.0),
        ),
        (),
    ),
}


def _build_spaces() -> dict[SeedType, dict[str, GeneSpec]]:
    spaces: dict[SeedType, dict[str, GeneSpec]] = {}
    for seed_type in SeedType:
        specs, orderings = _TABLE[seed_type]
        space = {spec.name: spec for spec in (*specs, *_RISK)}
        missing = [name for name in COMMON_GENES if name not in space]
        if missing or len(space) != len(specs) + len(_RISK):
            raise RuntimeError(f"gene table for {seed_type.value}: missing {missing} or duplicate names")
        for spec in space.values():
            if spec.of is not None and (spec.of not in space or space[spec.of].role is not GeneRole.WINDOW):
                raise RuntimeError(f"gene table for {seed_type.value}: {spec.name} extends {spec.of!r}, not a window of the seed")
        for order in orderings:
            lo, hi = space[order.lower], space[order.upper]
            if not lo.low < hi.low or lo.low > hi.high:  # repair must always find a feasible pair
                raise RuntimeError(f"gene table for {seed_type.value}: infeasible ordering {order}")
        ordered = [name for name in COMMON_GENES] + [name for name in space if name not in COMMON_GENES]
        spaces[seed_type] = {name: space[name] for name in ordered}
    return spaces


_SPACES = _build_spaces()


def _seed_type(value: SeedType | str) -> SeedType:
    try:
        return SeedType(value)
    except ValueError:
        raise ValueError(f"unknown seed type {value!r}; expected one of {[s.value for s in SeedType]}") from None


def gene_space(seed_type: SeedType | str) -> dict[str, GeneSpec]:
    """Every gene of a seed in canonical order: common genes first, then its `parameters`."""
    return dict(_SPACES[_seed_type(seed_type)])


def parameter_names(seed_type: SeedType | str) -> tuple[str, ...]:
    """The seed-specific genes, i.e. the keys of `SeedGenes.parameters`."""
    return _parameter_names(_seed_type(seed_type))


@functools.cache
def _parameter_names(seed_type: SeedType) -> tuple[str, ...]:
    return tuple(name for name in _SPACES[seed_type] if name not in COMMON_GENES)


def gene_orderings(seed_type: SeedType | str) -> tuple[Ordering, ...]:
    return _TABLE[_seed_type(seed_type)][1]


def _gene_problems(seed_type: SeedType, values: Mapping[str, GeneValue]) -> list[str]:
    """What makes complete gene values invalid: values out of bounds, else broken orderings."""
    if _valid(seed_type, values):
        return []  # the usual case (evolution checks every genome it evaluates): no message to build
    space = _SPACES[seed_type]
    problems = [
        f"{name}={values[name]!r} outside [{spec.low:g}, {spec.high:g}]"
        for name, spec in space.items()
        if not spec.contains(values[name])
    ]
    if problems:
        return problems
    return [
        f"{o.lower}={values[o.lower]!r} must be {'<' if o.strict else '<='} {o.upper}={values[o.upper]!r}"
        for o in _TABLE[seed_type][1]
        if not o.holds(values)
    ]


def _valid(seed_type: SeedType, values: Mapping[str, GeneValue]) -> bool:
    """Every gene within its bounds (NaN is not: the bounds are finite) and every ordering held, as plain loops
    over the specs' fields read once (`_check_layout`): half the cost of the checks that name each problem."""
    bounds, orders = _check_layout(seed_type)
    for name, low, high in bounds:
        if not low <= values[name] <= high:
            return False
    for lower, upper, strict in orders:
        a, b = values[lower], values[upper]
        if not (a < b if strict else a <= b):
            return False
    return True


@functools.cache
def _check_layout(seed_type: SeedType) -> tuple[tuple[tuple[str, float, float], ...], tuple[tuple[str, str, bool], ...]]:
    """`_gene_problems`' bounds (name, low, high) and orderings (lower, upper, strict), read once per seed type."""
    bounds = tuple((name, spec.low, spec.high) for name, spec in _SPACES[seed_type].items())
    return bounds, tuple((o.lower, o.upper, o.strict) for o in _TABLE[seed_type][1])


def repair_values(seed_type: SeedType | str, values: Mapping[str, Any]) -> dict[str, GeneValue]:
    """Clip every gene into bounds, cast ints, fill missing genes with defaults, then restore orderings.

    Unknown gene names raise. A broken integer ordering lower < upper is fixed by lifting `upper` just
    above `lower` when its bound allows, else by pushing `lower` under `upper`; a broken float
    ordering lower <= upper by lowering `lower` to `upper`.
    """
    seed_type = _seed_type(seed_type)
    space = _SPACES[seed_type]
    if not values.keys() <= space.keys():
        if seed_type is SeedType.RULE_TREE and RULE_GENE in values:
            rule = values[RULE_GENE]
            return {**repair_values(seed_type, {k: v for k, v in values.items() if k != RULE_GENE}), RULE_GENE: rule}
        unknown = sorted(set(values) - set(space))
        raise ValueError(f"{seed_type.value}: unknown gene(s) {unknown}; expected {list(space)}")
    return restore_orderings(seed_type, _clipped(seed_type, values))


def restore_orderings(seed_type: SeedType, values: dict[str, GeneValue]) -> dict[str, GeneValue]:
    """`repair_values`' last step, in place: `values` complete, typed and in bounds (as clipping leaves them), their
    broken orderings restored. Evolution's operators move genes only within their bounds and types, so their
    children need no more than this."""
    space = _SPACES[seed_type]
    for order in _TABLE[seed_type][1]:
        if order.holds(values):
            continue
        lo, hi = space[order.lower], space[order.upper]
        if order.strict and lo.kind == "int":
            values[order.upper] = hi.clip(max(values[order.upper], values[order.lower] + 1))
            values[order.lower] = lo.clip(min(values[order.lower], values[order.upper] - 1))
        else:
            values[order.lower] = lo.clip(values[order.upper])
    return values


def _clipped(seed_type: SeedType, values: Mapping[str, Any]) -> dict[str, GeneValue]:
    """`GeneSpec.clip` of every gene (a missing one at its default), with the specs' fields looked up once per seed
    type: evolution repairs every offspring twice, and the attribute reads were most of it."""
    out: dict[str, GeneValue] = {}
    for name, is_int, low, high, int_low, int_high, fallback, default in _clip_layout(seed_type):
        value = values.get(name, default)
        kind = type(value)
        if is_int and kind is int:  # already cast (the usual case in evolution): only the bounds to apply
            out[name] = int_low if value < int_low else int_high if value > int_high else value
            continue
        if not is_int and kind is float and low <= value <= high:  # NaN fails the comparison
            out[name] = value + 0.0
            continue
        number = float(value)
        if not math.isfinite(number):
            out[name] = fallback
        elif is_int:
            out[name] = min(max(int(round(number)), int_low), int_high)
        else:
            out[name] = float(min(max(number, low), high)) + 0.0
    return out


@functools.cache
def _clip_layout(seed_type: SeedType) -> tuple[tuple, ...]:
    return tuple(
        (name, spec.kind == "int", spec.low, spec.high, int(spec.low), int(spec.high), spec.cast(spec.default), spec.default)
        for name, spec in _SPACES[seed_type].items()
    )


def random_values(seed_type: SeedType | str, rng: np.random.Generator) -> dict[str, GeneValue]:
    """`SeedGenes.random`'s gene values, repaired (its draws, in its order), without building the genome."""
    seed_type = _seed_type(seed_type)
    space = _SPACES[seed_type]
    values = {name: spec.sample(rng) for name, spec in space.items()}
    for order in reversed(_TABLE[seed_type][1]):  # upper genes of a chain are settled first
        if order.holds(values):
            continue
        lo, ceiling = space[order.lower], values[order.upper]
        if lo.kind == "int":
            top = min(int(lo.high), int(ceiling) - 1 if order.strict else int(ceiling))
            values[order.lower] = int(rng.integers(int(lo.low), top + 1))
        else:
            values[order.lower] = lo.cast(rng.uniform(lo.low, min(lo.high, ceiling)))
    return repair_values(seed_type, values)
