"""Variation and parent selection on genomes, driven only by a private numpy Generator.

DEAP's own operators draw from the global `random` module, which would make a batch's result depend
on whatever else ran in its process; these few operators are written against an explicit
`np.random.Generator` instead (NSGA-II's survivor selection, which is deterministic, makes DEAP's decisions on
arrays: `nsga2`).

- initialisation: seed types allocated by the mix's weights (largest remainder), genes uniform;
- mutation: each active gene mutates with probability `rate`; floats by a Gaussian step of
  `sigma * (high - low)`, ints by a rounded Gaussian step of at least 1, both reflected into bounds;
- crossover (one seed type only): blend (BLX-0.5) for float genes, uniform swap for int genes;
- after any change `repaired()` restores bounds and gene orderings.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from types import MappingProxyType

import numpy as np

from quant_organism.strategies.genes import (
    GeneSpec,
    GeneValue,
    SeedGenes,
    SeedType,
    gene_space,
    random_values,
    repair_values,
    restore_orderings,
)

BLEND_ALPHA = 0.5
_BLEND_SPAN = 1.0 + 2.0 * BLEND_ALPHA  # BLX: gamma = span * u - alpha, u uniform on [0, 1)


def allocate(n: int, weights: Sequence[tuple[SeedType, float]], rotate: int = 0) -> list[SeedType]:
    """n seed types in proportion to the weights (largest remainder; ties broken by a rotated order,
    so that different batches give the odd individuals to different seed types)."""
    if not weights:
        raise ValueError("seed-type mix is empty")
    total = sum(w for _, w in weights)
    quotas = [n * w / total for _, w in weights]
    counts = [int(q) for q in quotas]
    k = len(weights)
    order = sorted(range(k), key=lambda i: (-(quotas[i] - counts[i]), (i - rotate) % k))
    for i in order[: n - sum(counts)]:
        counts[i] += 1
    return [weights[i][0] for i in range(k) for _ in range(counts[i])]


NOT_EVOLVED: tuple[str, ...] = ("position_size",)
"""Genes evolution leaves at their default: position size is a risk decision (allocation, volatility
targeting), not a trait to shrink so that the drawdown and turnover penalties fall (they scale with it)."""


def active_genes(seed_type: SeedType) -> dict[str, GeneSpec]:
    """The genes evolution varies: those a seed uses, less `NOT_EVOLVED`; the others stay at their defaults
    so equal behaviour hashes equal."""
    return dict(_active(seed_type))


@functools.cache
def _active(seed_type: SeedType) -> tuple[tuple[str, GeneSpec], ...]:
    return tuple((name, spec) for name, spec in gene_space(seed_type).items() if spec.active and name not in NOT_EVOLVED)


@functools.cache
def _active_layout(seed_type: SeedType) -> tuple[tuple[str, bool, float, float], ...]:
    """(name, is int, low, high) of each active gene: what mutation and crossover read of its spec, read once (the
    attribute reads per gene and offspring were a sixth of breeding's operators)."""
    return tuple((name, spec.kind == "int", spec.low, spec.high) for name, spec in _active(seed_type))


def random_genome(seed_type: SeedType, rng: np.random.Generator, generation: int = 0) -> SeedGenes:
    return SeedGenes.from_repaired(seed_type, "new", random_genome_values(seed_type, rng), generation)


def random_genome_values(seed_type: SeedType, rng: np.random.Generator) -> dict[str, GeneValue]:
    """`random_genome`'s repaired gene values: uniform draws (`genes.random_values`), the genes evolution leaves
    alone at their defaults. Islands start from values and build a genome only for the evaluator."""
    values = random_values(seed_type, rng)
    inactive = _inactive(seed_type)
    return repair_values(seed_type, {**values, **inactive}) if inactive else values


@functools.cache
def _inactive(seed_type: SeedType) -> Mapping[str, GeneValue]:
    """The genes evolution leaves at their defaults (inactive, or `NOT_EVOLVED`), read-only: one mapping per seed type."""
    return MappingProxyType({n: s.default for n, s in gene_space(seed_type).items() if not s.active or n in NOT_EVOLVED})


def _reflect(value: float, low: float, high: float) -> float:
    """Mirror a value that overshot a bound back inside (then clip, for steps wider than the range)."""
    if value > high:
        value = 2 * high - value
    if value < low:
        value = 2 * low - value
    return min(max(value, low), high)


def mutate_gene(is_int: bool, low: float, high: float, value: float, sigma: float, rng: np.random.Generator) -> float:
    step = rng.normal(0.0, sigma * (high - low))
    if is_int:
        jump = int(round(step))
        if jump == 0:
            jump = 1 if step >= 0 else -1
        return int(round(_reflect(value + jump, low, high)))
    return _reflect(value + step, low, high) + 0.0  # -0.0 as 0.0, as repairing casts it


def mutate(
    genes: SeedGenes, rng: np.random.Generator, rate: float, sigma: float, generation: int, force: bool = False
) -> SeedGenes:
    """Each active gene mutated with probability `rate`; `force` guarantees at least one mutated gene."""
    values = mutate_values(genes.seed_type, repair_values(genes.seed_type, genes.gene_values()), rng, rate, sigma, force)
    return SeedGenes.from_repaired(genes.seed_type, genes.seed_id, values, generation)


def mutate_values(
    seed_type: SeedType, values: Mapping[str, GeneValue], rng: np.random.Generator, rate: float, sigma: float, force: bool = False
) -> dict[str, GeneValue]:
    """`mutate` on flat gene values as `repair_values` returns them, returning the child's the same way: evolution
    breeds on values and builds a genome only for an offspring not seen before. A mutated gene stays within its
    bounds and type (`mutate_gene`), so only the orderings are restored: the child is what repairing it gives."""
    layout = _active_layout(seed_type)
    hits = [k for k, u in enumerate(rng.random(len(layout)).tolist()) if u < rate]  # a list: numpy's per call cost more
    if force and not hits:
        hits = [int(rng.integers(len(layout)))]
    out = dict(values)
    for k in hits:
        name, is_int, low, high = layout[k]
        out[name] = mutate_gene(is_int, low, high, out[name], sigma, rng)
    return restore_orderings(seed_type, out)


def crossover(a: SeedGenes, b: SeedGenes, rng: np.random.Generator, generation: int) -> tuple[SeedGenes, SeedGenes]:
    """Two children of same-seed-type parents: BLX-0.5 blend on floats, uniform swap on ints."""
    if a.seed_type != b.seed_type:
        raise ValueError(f"crossover within one seed type only: {a.seed_type.value} x {b.seed_type.value}")
    repaired = lambda g: repair_values(g.seed_type, g.gene_values())  # noqa: E731
    ca, cb = crossover_values(a.seed_type, repaired(a), repaired(b), rng)
    make = SeedGenes.from_repaired
    return make(a.seed_type, a.seed_id, ca, generation), make(b.seed_type, b.seed_id, cb, generation)


def crossover_values(
    seed_type: SeedType, va: Mapping[str, GeneValue], vb: Mapping[str, GeneValue], rng: np.random.Generator
) -> tuple[dict[str, GeneValue], dict[str, GeneValue]]:
    """`crossover` on two same-seed-type parents' flat gene values as `repair_values` returns them, returning the
    children's the same way: blended floats are reflected into their bounds and swapped ints are the parents', so
    only the orderings are restored."""
    layout = _active_layout(seed_type)
    ca, cb = dict(va), dict(vb)
    draws = rng.random(len(layout))
    for (name, is_int, low, high), u in zip(layout, draws.tolist()):
        if is_int:
            if u < 0.5:
                ca[name], cb[name] = vb[name], va[name]
        else:
            gamma = _BLEND_SPAN * u - BLEND_ALPHA
            x, y = float(va[name]), float(vb[name])
            ca[name] = _reflect((1.0 - gamma) * x + gamma * y, low, high) + 0.0  # -0.0 as 0.0, as repairing casts it
            cb[name] = _reflect(gamma * x + (1.0 - gamma) * y, low, high) + 0.0
    return restore_orderings(seed_type, ca), restore_orderings(seed_type, cb)


def crowded_tournament(ranks: np.ndarray, crowding: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k binary tournaments on NSGA-II's crowded comparison: lower front wins, then larger crowding
    distance, then a coin flip. Returns the winners' positions."""
    n = len(ranks)
    pairs = rng.integers(0, n, size=(k, 2))
    flips = rng.random(k) < 0.5
    first, second = pairs[:, 0], pairs[:, 1]
    r1, r2, c1, c2 = ranks[first], ranks[second], crowding[first], crowding[second]
    first_wins = np.where(r1 != r2, r1 < r2, np.where(c1 != c2, c1 > c2, flips))
    return np.where(first_wins, first, second).astype(np.int64, copy=False)
