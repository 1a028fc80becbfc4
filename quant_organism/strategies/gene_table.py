"""The gene table, declared once: each seed's genes and their orderings, and what follows from it (the gene spaces,
repair, random genomes). The table is data (gene_table.csv, gene_orderings.csv): adding a seed adds its member to
`SeedType`, its rows there and its own module in seeds/ (a compiled rule seed also its rule in compiled/seed_rules.py
and its loop in backtest/compiled/fused.py: numba needs each rule named where it is called).
"""

from __future__ import annotations

import csv
import functools
import math
from collections.abc import Mapping
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np

from .gene_specs import COMMON_GENES, RULE_GENE, GeneRole, GeneSpec, GeneValue, Ordering, _g, _unused


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


TABLE_FILE = Path(__file__).with_name("gene_table.csv")
"""One row a gene: the seeds that have it (`*`: every seed, after its own genes), its kind, bounds, default, role,
the window it extends, and what it does (empty: a gene the seed carries but does not use)."""
ORDERINGS_FILE = Path(__file__).with_name("gene_orderings.csv")
"""One row an ordering: the seeds it binds, the gene kept below the other, and whether strictly."""


def _read_rows(path: Path) -> list[tuple[list[str], dict[str, str]]]:
    with path.open(newline="") as handle:
        return [(row.pop("seeds").split(), row) for row in csv.DictReader(handle)]


def _spec(row: dict[str, str]) -> GeneSpec:
    number = int if row["kind"] == "int" else float
    low, high, default = number(row["low"]), number(row["high"]), number(row["default"])
    role = GeneRole(row["role"])
    if role is GeneRole.UNUSED:
        return _unused(row["gene"], low, high, default)
    return _g(row["gene"], low, high, default, row["meaning"], role, row["kind"], row["extends"] or None)


def _load_table() -> tuple[tuple[GeneSpec, ...], dict[SeedType, tuple[tuple[GeneSpec, ...], tuple[Ordering, ...]]]]:
    """(the genes every seed has, each seed's own genes and orderings) as the two files declare them."""
    genes = [(seeds, _spec(row)) for seeds, row in _read_rows(TABLE_FILE)]
    orderings = [
        (seeds, Ordering(r["lower"], r["upper"], strict=r["strict"] == "yes")) for seeds, r in _read_rows(ORDERINGS_FILE)
    ]
    unknown = {s for seeds, _ in genes + orderings for s in seeds} - {s.value for s in SeedType} - {"*"}
    if unknown:
        raise RuntimeError(f"gene table names unknown seeds {sorted(unknown)}")
    table = {
        seed: (
            tuple(spec for seeds, spec in genes if seed.value in seeds),
            tuple(order for seeds, order in orderings if seed.value in seeds),
        )
        for seed in SeedType
    }
    return tuple(spec for seeds, spec in genes if seeds == ["*"]), table


_RISK, _TABLE = _load_table()


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
