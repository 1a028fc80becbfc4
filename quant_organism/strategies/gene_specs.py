"""The gene specs: what one gene is (bounds, type, default, role) and the names of the slots every genome carries.

A seed's genes are declared with these in the gene table (gene_table.py); genes.py builds genomes from them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, Literal

import numpy as np

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
