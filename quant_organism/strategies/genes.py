"""The genome: which strategy seed an individual is, and the bounded genes evolution may mutate.

Every genome carries the same common genes (three periods, three thresholds, and the risk genes
stop-loss, take-profit and position size) plus seed-specific `parameters`. The common slots are storage
(names, configs and genes hashes are built from them); what a slot means is declared by each seed:
`gene_space(seed_type)` is the single source of truth for each gene's bounds, default, meaning, its
`GeneRole` (a window, a time stop, a threshold, ...) and whether the seed uses it at all (`GeneSpec.active`).
Nothing outside a seed reads meaning from a slot's name. Orderings between genes
(fast < slow, exit <= entry, ...) are part of the space too: `repaired()` enforces them, construction
rejects genomes that break them, so every valid `SeedGenes` can be run as is.

Risk genes are not applied by the signal generators: `stop_loss`, `take_profit` (fractions of the
entry price, 0 = none) and `position_size` (fraction of equity) are for the backtest and runtime.
The regime gene `regime_filter` chooses when a strategy may hold a position (strategies/regime_filter.py);
0 switches it off, and a genome with it off keeps the name it had before the gene existed.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import operator
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator


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
RULE_GENE = "rule"
"""A rule tree's structure: canonical JSON text (strategies/rule_tree.py), carried beside its numeric genes."""


@dataclass(frozen=True)
class RuleGrammar:
    """How a rule text is checked and made canonical: strategies/rule_tree.py registers it when imported (the
    package imports it), since the grammar's leaves are genomes of this module."""

    canonical_rule: Any  # (text or mapping) -> canonical text; raises ValueError on a rule outside the grammar
    default_rule: str

    def canonical(self, rule: Any) -> str:
        return self.canonical_rule(self.default_rule if rule is None else rule)


_GRAMMAR: list[RuleGrammar] = []


def register_rule_grammar(grammar: RuleGrammar) -> None:
    _GRAMMAR[:] = [grammar]


def _rule_grammar() -> RuleGrammar:
    if not _GRAMMAR:
        raise RuntimeError("no rule grammar registered: import quant_organism.strategies (it registers rule_tree's)")
    return _GRAMMAR[0]


PERIOD_GENES: tuple[str, ...] = ("fast_period", "slow_period", "signal_period")
THRESHOLD_GENES: tuple[str, ...] = ("entry_threshold", "exit_threshold", "filter_threshold")
RISK_GENES: tuple[str, ...] = ("stop_loss", "take_profit", "position_size")
REGIME_GENE = "regime_filter"
COMMON_GENES: tuple[str, ...] = PERIOD_GENES + THRESHOLD_GENES + RISK_GENES + (REGIME_GENE,)

GeneValue = int | float
GeneKind = Literal["int", "float"]


class GeneRole(str, Enum):
    """What a gene means to everything outside its seed, declared by each seed for each gene it has.

    The common slots (`fast_period`, `signal_period`, ...) are storage shared by every seed (strategy names,
    configs and genes hashes are built from them); what a slot means is its seed's declaration, never its name.
    Validation reads the history a genome needs from these roles (`validation/held_out.history_bars`).
    """

    WINDOW = "window"  # bars an indicator reads back (a moving average's period, a channel, a feature window)
    EXTENDS = "extends"  # bars added to a window (`GeneSpec.of`; every window when None): a %D, a slope, a shift
    TRAINING = "training"  # trailing rows a model fits on: every feature window's history comes before them
    HOLDING = "holding"  # most bars a position is held (a time stop): no history needed
    SCHEDULE = "schedule"  # how often something is redone (bars between refits): no history needed
    THRESHOLD = "threshold"  # a level a signal is compared with
    MODEL = "model"  # a model's hyper-parameter (regularisation, depth, components, quantile)
    RISK = "risk"  # applied by the backtest and the runtime: stops, take-profit, size
    REGIME = "regime"  # when a position may be held (strategies/regime_filter.py)
    UNUSED = "unused"  # a common slot this seed ignores


@dataclass(frozen=True)
class GeneSpec:
    """Bounds (inclusive), type and default of one gene; `active=False` marks a gene the seed ignores."""

    name: str
    low: float
    high: float
    kind: GeneKind
    default: GeneValue
    doc: str = ""
    active: bool = True
    role: GeneRole = GeneRole.THRESHOLD
    of: str | None = None  # the window an EXTENDS gene extends (None: every window of the seed)

    def __post_init__(self) -> None:
        if self.kind not in ("int", "float"):
            raise ValueError(f"gene {self.name!r}: kind must be 'int' or 'float', got {self.kind!r}")
        if not self.low < self.high:
            raise ValueError(f"gene {self.name!r}: low {self.low} must be below high {self.high}")
        if self.kind == "int" and not (float(self.low).is_integer() and float(self.high).is_integer()):
            raise ValueError(f"gene {self.name!r}: integer gene needs integer bounds")
        if not self.contains(self.cast(self.default)):
            raise ValueError(f"gene {self.name!r}: default {self.default} outside [{self.low}, {self.high}]")
        if (self.role is GeneRole.UNUSED) == self.active:
            raise ValueError(f"gene {self.name!r}: a gene is inactive exactly when its role is 'unused'")
        if self.of is not None and self.role is not GeneRole.EXTENDS:
            raise ValueError(f"gene {self.name!r}: only an 'extends' gene names the window it extends")

    def cast(self, value: Any) -> GeneValue:
        """The value as this gene's Python type (ints rounded half to even, -0.0 made 0.0)."""
        number = float(value)
        if self.kind == "int":
            return int(round(number)) if math.isfinite(number) else 0
        return number + 0.0

    def contains(self, value: GeneValue) -> bool:
        return math.isfinite(float(value)) and self.low <= value <= self.high

    def clip(self, value: Any) -> GeneValue:
        """Nearest in-bounds value; a non-finite value falls back to the default."""
        number = float(value)
        if not math.isfinite(number):
            return self.cast(self.default)
        if self.kind == "int":  # integer bounds (checked above): clipping a rounded int keeps it an int
            return min(max(int(round(number)), int(self.low)), int(self.high))
        return float(min(max(number, self.low), self.high)) + 0.0

    def sample(self, rng: np.random.Generator) -> GeneValue:
        if self.kind == "int":
            return int(rng.integers(int(self.low), int(self.high) + 1))
        return self.cast(rng.uniform(self.low, self.high))


@dataclass(frozen=True)
class Ordering:
    """`lower` must stay below `upper` (strictly when `strict`); repair moves `lower` down."""

    lower: str
    upper: str
    strict: bool

    def holds(self, values: Mapping[str, GeneValue]) -> bool:
        a, b = values[self.lower], values[self.upper]
        return a < b if self.strict else a <= b


def _g(
    name: str,
    low: float,
    high: float,
    default: GeneValue,
    doc: str,
    role: GeneRole,
    kind: GeneKind | None = None,
    of: str | None = None,
) -> GeneSpec:
    kind = kind or ("int" if name in PERIOD_GENES else "float")
    return GeneSpec(name, low, high, kind, default, doc, role=role, of=of)


def _unused(name: str, low: float, high: float, default: GeneValue) -> GeneSpec:
    kind: GeneKind = "int" if name in PERIOD_GENES else "float"
    return GeneSpec(name, low, high, kind, default, "not used by this seed", active=False, role=GeneRole.UNUSED)


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


def hash_payload(seed_type: SeedType, values: Mapping[str, GeneValue]) -> str:
    """The canonical text a genome's hash is taken of: `json.dumps({"seed_type": ..., "genes": {...}},
    sort_keys=True, separators=(",", ":"), allow_nan=False)` of the cast gene values, regime gene left out
    when off (the name a genome had before the gene existed).

    Written out by hand because evolution hashes every offspring, and the json encoder cost a quarter of
    breeding; gene names are plain identifiers and numbers print as json prints them (`repr`), so the text is
    the same (pinned by a test). Anything else (a non-finite value, which json refuses; genes other than the
    seed's) takes the json path."""
    space = _SPACES[seed_type]
    if values.keys() == space.keys():
        typed = _typed_payload(seed_type, values)
        if typed is not None:
            return typed
        parts = []
        for name, is_int in _hash_layout(seed_type):
            number = float(values[name])
            value = int(round(number)) if is_int and math.isfinite(number) else number + 0.0
            if name == REGIME_GENE and value == 0:
                continue
            part = _json_member(name, value)
            if part is None:
                break
            parts.append(part)
        else:
            return f'{{"genes":{{{",".join(parts)}}},"seed_type":{json.dumps(seed_type.value)}}}'
    cast = {name: space[name].cast(value) for name, value in values.items() if name != RULE_GENE}
    if cast[REGIME_GENE] == 0:
        del cast[REGIME_GENE]
    payload: dict[str, Any] = {"seed_type": seed_type.value, "genes": cast}
    if RULE_GENE in values:  # a rule tree: its structure is part of what it is
        payload[RULE_GENE] = json.loads(values[RULE_GENE])
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), allow_nan=False)


@functools.cache
def _hash_layout(seed_type: SeedType) -> tuple[tuple[str, bool], ...]:
    return tuple((name, _SPACES[seed_type][name].kind == "int") for name in sorted(_SPACES[seed_type]))


@dataclass(frozen=True)
class _PayloadTemplate:
    """`hash_payload`'s text for one seed type as a %-template: gene names in sorted order, with and without the
    regime gene, and which values must be ints and which floats for it to apply."""

    read: Any  # values -> the genes' values in sorted name order (an itemgetter)
    kinds: tuple[type, ...]
    floats: tuple[int, ...]
    regime: int
    text: str
    text_without_regime: str


@functools.cache
def _payload_template(seed_type: SeedType) -> _PayloadTemplate:
    layout = _hash_layout(seed_type)
    names = [name for name, _ in layout]
    tail = f'}},"seed_type":{json.dumps(seed_type.value)}}}'
    members = [f'"{name}":%r' for name in names]
    regime = names.index(REGIME_GENE)
    return _PayloadTemplate(
        read=operator.itemgetter(*names),
        kinds=tuple(int if is_int else float for _, is_int in layout),
        floats=tuple(k for k, (_, is_int) in enumerate(layout) if not is_int),
        regime=regime,
        text='{"genes":{' + ",".join(members) + tail,
        text_without_regime='{"genes":{' + ",".join(members[:regime] + members[regime + 1 :]) + tail,
    )


def _typed_payload(seed_type: SeedType, values: Mapping[str, GeneValue]) -> str | None:
    """`hash_payload` of complete values that are already what casting gives (ints as ints, finite floats as
    floats, as `repair_values` returns them) in one formatting step, else None. Evolution hashes every offspring,
    and the member-by-member text was a twentieth of a run."""
    t = _payload_template(seed_type)
    read = t.read(values)
    if tuple(map(type, read)) != t.kinds:
        return None
    ordered = list(read)
    for k in t.floats:
        ordered[k] += 0.0  # as casting does: -0.0 prints as 0.0
    if not all(map(math.isfinite, ordered)):
        return None
    if ordered[t.regime] == 0:
        del ordered[t.regime]
        return t.text_without_regime % tuple(ordered)
    return t.text % tuple(ordered)


def genes_json(values: Mapping[str, GeneValue]) -> str:
    """`json.dumps(values, separators=(",", ":"))` of flat gene values, in their order: the text evolution's
    records keep of each genome. Written out by hand as `hash_payload` is, for the same reason (the encoder
    formats each float through a Python callback: two thirds of a record's cost): values of
    the kinds the encoder writes as `repr` does (ints, finite floats) under plain names are formatted in one step,
    through a template kept per tuple of names; anything else takes the json path."""
    numbers = tuple(values.values())
    template = _json_template(tuple(values))
    if template is not None and all(type(v) is int or (type(v) is float and math.isfinite(v)) for v in numbers):
        return template % numbers
    return json.dumps(values, separators=(",", ":"))


def genes_hash_and_json(seed_type: SeedType, values: Mapping[str, GeneValue]) -> tuple[str, str]:
    """(`genes_hash`, `genes_json`) of gene values, each number formatted once: evolution takes both of every genome
    it evaluates, and formatting the floats (`repr`) was most of either. Values as `repair_values` returns them
    (every gene of the seed in its order, ints as ints, finite floats, no -0.0) take that path; any others get the
    two functions' own texts."""
    layout = _text_layout(seed_type)
    numbers = tuple(values.values())
    if tuple(values) == layout.names and tuple(map(type, numbers)) == layout.kinds and all(map(math.isfinite, numbers)):
        texts = tuple(map(repr, numbers))
        if "-0.0" not in texts:  # the hash's cast makes it 0.0, the records keep it: texts differ
            ordered = [texts[k] for k in layout.sorted_positions]
            if numbers[layout.regime] == 0:
                payload = layout.payload_without_regime % tuple(
                    ordered[: layout.regime_sorted] + ordered[layout.regime_sorted + 1 :]
                )
            else:
                payload = layout.payload % tuple(ordered)
            return hashlib.sha256(payload.encode()).hexdigest(), layout.json % texts
    return genes_hash(seed_type, values), genes_json(values)


@dataclass(frozen=True)
class _TextLayout:
    """`genes_hash_and_json`'s %s-templates for one seed type: the genes in the space's order and their kinds, the
    records' json over them, and the hash payload (with and without the regime gene) over them in sorted order."""

    names: tuple[str, ...]
    kinds: tuple[type, ...]
    sorted_positions: tuple[int, ...]  # the space position of each gene in sorted name order
    regime: int  # the regime gene's position in the space
    regime_sorted: int  # and in sorted order
    json: str
    payload: str
    payload_without_regime: str


@functools.cache
def _text_layout(seed_type: SeedType) -> _TextLayout:
    space = _SPACES[seed_type]
    names = tuple(space)
    template = _payload_template(seed_type)
    sorted_names = [name for name, _ in _hash_layout(seed_type)]
    return _TextLayout(
        names=names,
        kinds=tuple(int if space[name].kind == "int" else float for name in names),
        sorted_positions=tuple(names.index(name) for name in sorted_names),
        regime=names.index(REGIME_GENE),
        regime_sorted=template.regime,
        json="{" + ",".join(f'"{name}":%s' for name in names) + "}",
        payload=template.text.replace("%r", "%s"),
        payload_without_regime=template.text_without_regime.replace("%r", "%s"),
    )


@functools.lru_cache(maxsize=256)
def _json_template(names: tuple[str, ...]) -> str | None:
    """`genes_json`'s %-template for these names (in this order), or None where the encoder would escape a name."""
    if not all(name.isascii() and name.isidentifier() for name in names):
        return None
    return "{" + ",".join(f'"{name}":%r' for name in names) + "}"


def _json_member(name: str, value: GeneValue) -> str | None:
    """`"name":value` exactly as the json encoder writes it with compact separators, or None where its text could
    differ: a name that is not a plain ASCII identifier (it would be escaped), a value that is not a finite int or
    float (bools, numpy scalars and non-finite numbers print otherwise or are refused). Ints and floats print as
    the encoder prints them, through `repr`."""
    kind = type(value)
    if (kind is int or (kind is float and math.isfinite(value))) and name.isascii() and name.isidentifier():
        return f'"{name}":{value!r}'
    return None


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


def genes_hash(seed_type: SeedType, values: Mapping[str, GeneValue]) -> str:
    """`SeedGenes.genes_hash` of a genome's flat gene values, without building the genome."""
    return hashlib.sha256(hash_payload(seed_type, values).encode()).hexdigest()


def evolved_name(seed_type: SeedType, generation: int, digest: str) -> str:
    """`{seed_type}_{generation}_{hash[:8]}`: the name evolution gives the genome whose `genes_hash` is `digest`."""
    return f"{seed_type.value}_{generation}_{digest[:8]}"


class SeedGenes(BaseModel):
    """One genome. Missing genes take the seed's defaults; values outside the seed's bounds are rejected.

    `parameters` holds the seed-specific genes (see `parameter_names`), always in canonical order.
    Instances are frozen; derive new ones with `model_copy(update=...)` followed by `repaired()`.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    seed_id: str = Field(min_length=1)
    seed_type: SeedType
    generation: int = Field(default=0, ge=0)
    parameters: dict[str, float | int] = Field(default_factory=dict)
    fast_period: int
    slow_period: int
    signal_period: int
    entry_threshold: float
    exit_threshold: float
    filter_threshold: float
    stop_loss: float
    take_profit: float
    position_size: float
    regime_filter: int
    rule: str | None = Field(default=None, description="a rule tree's structure (canonical JSON); None for a template")

    @model_validator(mode="before")
    @classmethod
    def _fill_and_type(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        if "seed_type" not in data:
            raise ValueError("seed_type is required")
        seed_type = _seed_type(data["seed_type"])
        space = _SPACES[seed_type]
        data = dict(data)
        for name in COMMON_GENES:
            data.setdefault(name, space[name].default)
        params = data.get("parameters") or {}
        if not isinstance(params, Mapping):
            raise ValueError(f"parameters must be a mapping of gene name to number, got {type(params).__name__}")
        names = parameter_names(seed_type)
        unknown = sorted(set(params) - set(names))
        if unknown:
            raise ValueError(f"{seed_type.value}: unknown parameter(s) {unknown}; expected {list(names)}")
        typed: dict[str, Any] = {}
        for name in names:
            value = params.get(name, space[name].default)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"{seed_type.value}: parameter {name!r} must be a number, got {value!r}")
            if space[name].kind == "int":
                if not float(value).is_integer():
                    raise ValueError(f"{seed_type.value}: parameter {name!r} must be an integer, got {value!r}")
                typed[name] = int(value)
            else:
                typed[name] = float(value) + 0.0
        data["parameters"] = typed
        if seed_type is SeedType.RULE_TREE:
            data[RULE_GENE] = _rule_grammar().canonical(data.get(RULE_GENE))
        elif data.get(RULE_GENE) is not None:
            raise ValueError(f"{seed_type.value}: only a rule_tree carries a rule")
        return data

    @model_validator(mode="after")
    def _check_bounds(self) -> SeedGenes:
        problems = _gene_problems(self.seed_type, self.gene_values())
        if problems:
            raise ValueError(f"invalid {self.seed_type.value} genes for {self.seed_id!r}: " + "; ".join(problems))
        for name in ("entry_threshold", "exit_threshold", "filter_threshold", "stop_loss", "take_profit", "position_size"):
            if getattr(self, name) == 0.0:  # canonical zero so -0.0 and 0.0 hash alike
                object.__setattr__(self, name, 0.0)
        return self

    def __hash__(self) -> int:  # consistent with ==; the default would try to hash the parameters dict
        return hash((self.seed_id, self.generation, self.genes_hash()))

    # --- views -----------------------------------------------------------------------------
    def gene_values(self) -> dict[str, GeneValue]:
        """All genes as one flat mapping in canonical order (common genes, then parameters)."""
        common = {name: getattr(self, name) for name in COMMON_GENES}
        if self.rule is not None:
            return {**common, **self.parameters, RULE_GENE: self.rule}
        return {**common, **self.parameters}

    def gene(self, name: str) -> GeneValue:
        """One gene by name, common or seed-specific."""
        if name in COMMON_GENES:
            return getattr(self, name)
        if name in self.parameters:
            return self.parameters[name]
        if name == RULE_GENE and self.rule is not None:
            return self.rule
        raise KeyError(f"{self.seed_type.value} has no gene {name!r}")

    def genes_hash(self) -> str:
        """sha256 (hex) of the seed type and gene values; seed_id and generation do not count."""
        return genes_hash(self.seed_type, self.gene_values())

    def strategy_name(self) -> str:
        """`{seed_type}_{generation}_{hash[:8]}`, the name evolution gives a strategy."""
        return evolved_name(self.seed_type, self.generation, self.genes_hash())

    # --- constructors ----------------------------------------------------------------------
    @classmethod
    def create_default(cls, seed_type: SeedType | str, seed_id: str, generation: int = 0) -> SeedGenes:
        seed_type = _seed_type(seed_type)
        values = {name: spec.default for name, spec in _SPACES[seed_type].items()}
        return cls.from_gene_values(seed_type, seed_id, values, generation=generation, repair=False)

    @classmethod
    def random(cls, seed_type: SeedType | str, seed_id: str, rng: np.random.Generator, generation: int = 0) -> SeedGenes:
        """Uniform within each gene's bounds (ints inclusive); a gene that breaks an ordering is redrawn
        uniformly below its partner (rather than clipped onto it), so random genomes do not pile up
        on the ordering boundaries."""
        seed_type = _seed_type(seed_type)
        return cls.from_repaired(seed_type, seed_id, random_values(seed_type, rng), generation)

    @classmethod
    def from_gene_values(
        cls,
        seed_type: SeedType | str,
        seed_id: str,
        values: Mapping[str, Any],
        generation: int = 0,
        repair: bool = True,
    ) -> SeedGenes:
        """Build from a flat gene mapping (as `gene_values()` returns), repairing it first by default."""
        seed_type = _seed_type(seed_type)
        if repair:
            return cls.from_repaired(seed_type, seed_id, repair_values(seed_type, values), generation)
        return cls(**cls._fields(seed_type, seed_id, dict(values), generation))

    @classmethod
    def from_repaired(cls, seed_type: SeedType, seed_id: str, values: Mapping[str, Any], generation: int = 0) -> SeedGenes:
        """Build from gene values `repair_values` returned (complete, typed, in bounds, ordered). What validation
        would check is checked here directly, and only values that fail it go through pydantic (which then
        says why): evolution builds every offspring this way, and pydantic's pass cost a third of breeding."""
        fields = cls._fields(seed_type, seed_id, values, generation)
        if isinstance(seed_id, str) and seed_id and type(generation) is int and generation >= 0:
            if (
                seed_type is not SeedType.RULE_TREE
                and values.keys() == _SPACES[seed_type].keys()
                and not _gene_problems(seed_type, values)
            ):
                return cls._constructed(fields)
        return cls(**fields)

    @classmethod
    def _constructed(cls, fields: dict[str, Any]) -> SeedGenes:
        """`model_construct(**fields)`: where `fields` holds every field in the model's order (a seed with every
        common gene), what it sets, set directly. Its loop over the fields for aliases and defaults was half of
        `from_repaired`, which evolution calls for every genome it evaluates."""
        if fields.keys() != cls.model_fields.keys():
            return cls.model_construct(**fields)
        model = cls.__new__(cls)
        object.__setattr__(model, "__dict__", fields)
        object.__setattr__(model, "__pydantic_fields_set__", set(fields))
        object.__setattr__(model, "__pydantic_extra__", None)  # extra="forbid"
        object.__setattr__(model, "__pydantic_private__", None)
        return model

    @staticmethod
    def _fields(seed_type: SeedType, seed_id: str, flat: Mapping[str, Any], generation: int) -> dict[str, Any]:
        if not flat.keys() <= _SPACES[seed_type].keys():  # the usual case (evolution builds every genome here) first
            known = _SPACES[seed_type].keys() | ({RULE_GENE} if seed_type is SeedType.RULE_TREE else set())
            if not flat.keys() <= known:
                unknown = sorted(set(flat) - set(known))
                raise ValueError(f"{seed_type.value}: unknown gene(s) {unknown}; expected {sorted(known)}")
        return {
            "seed_id": seed_id,
            "seed_type": seed_type,
            "generation": generation,
            "parameters": {name: flat[name] for name in _parameter_names(seed_type) if name in flat},
            **{name: flat[name] for name in COMMON_GENES if name in flat},
            RULE_GENE: flat.get(RULE_GENE),
        }

    def repaired(self) -> SeedGenes:
        """A valid copy: genes clipped to bounds, ints cast, orderings restored.

        Works on unvalidated instances too (e.g. from `model_copy(update=...)`), which is how
        evolution applies raw mutations.
        """
        raw = {name: getattr(self, name) for name in COMMON_GENES}
        raw.update(self.parameters or {})
        if self.rule is not None:
            raw[RULE_GENE] = self.rule
        return self.from_gene_values(self.seed_type, self.seed_id, raw, generation=self.generation, repair=True)
