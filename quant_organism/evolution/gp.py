"""Variation of rule trees with DEAP's genetic programming (`deap.gp`), on the values islands breed on.

A tree is bred as DEAP's typed `PrimitiveTree` over `primitive_set()`: operators of strategies/rule_tree.py as
typed primitives (positions and conditions), leaves and conditions as ephemeral constants whose value is their
canonical JSON. Initialisation is `genHalfAndHalf`; crossover DEAP's typed `cxOnePoint` (a subtree swaps only
with one of its type; `one_point_crossover`, so that it draws the same in every process); mutation one of
`mutUniform` (a new subtree from `genGrow`), `mutNodeReplacement` (another operator of the same signature),
`mutEphemeral` (a new leaf or condition drawn), a Gaussian step on one gene of one leaf, as the templates'
mutation steps a gene (`operators.mutate_gene`), and a graft: a leaf replaced by one of the island's best templates
(`donor_leaf`), so that trees compose what the templates have learnt rather than random genes. A child deeper
than `rule_tree.MAX_DEPTH` is its parent (DEAP's `staticLimit` rule).

DEAP draws from the global `random` module; every call here runs it from a state drawn from the island's own
generator (`_seeded`) and restores it after, so a batch's result depends on its seed only, in any process.

The three functions have the signatures of `operators.random_genome_values`, `crossover_values` and
`mutate_values`, on a tree's values: its numeric genes (risk and regime, varied by `operators`) and its `rule`.
"""

from __future__ import annotations

import contextlib
import functools
import json
import random
from collections.abc import Iterator, Mapping, Sequence

import numpy as np
from deap import gp

from quant_organism.evolution import operators
from quant_organism.strategies import rule_tree
from quant_organism.strategies.genes import RULE_GENE, GeneValue, SeedType, gene_space, random_values

GRAFTING = (0.3, 0.2, 0.15, 0.15, 0.2)
"""Shares of a tree's mutations when the island has templates to graft: a leaf-gene step, a graft, a new leaf or
condition, another operator, a new subtree."""
NO_GRAFTING = (0.4, 0.0, 0.2, 0.2, 0.2)
"""The same without donors: the graft's share goes to the leaf-gene step."""
STRUCTURE_RATE = 0.5
"""Probability that a child's tree changes (besides its numeric genes, each at the mutation rate)."""
INIT_DEPTHS = (1, 3)
"""genHalfAndHalf's depth range for generation 0: from two leaves under one operator to a full tree of depth 3."""
_TREE = SeedType.RULE_TREE


class Position:
    """DEAP type of a node giving a target position."""


class Condition:
    """DEAP type of a node giving a boolean per bar."""


def _structure_only(*_args):
    """What DEAP would call if a tree were compiled with `gp.compile`: trees are only bred here and are evaluated
    by rule_tree.tree_positions, so a call is a misuse."""
    raise TypeError("a rule tree is evaluated by strategies/rule_tree.tree_positions, not compiled by deap.gp")


def _random_leaf() -> str:
    seed_type = random.choice(rule_tree.LEAF_SEEDS)
    values = random_values(seed_type, np.random.default_rng(random.getrandbits(64)))
    leaf = {"seed_type": seed_type.value, **{name: values[name] for name in rule_tree.signal_genes(seed_type)}}
    return _text({"leaf": rule_tree.leaf_values(leaf)})


def _random_condition() -> str:
    names = sorted(rule_tree.CONDITIONS) + [rule_tree.VOL_RATIO]
    name = random.choice(names)
    if name != rule_tree.VOL_RATIO:
        return _text({"cond": name})
    (f_lo, f_hi), (s_lo, s_hi), (a_lo, a_hi) = (rule_tree.VOL_RATIO_BOUNDS[k] for k in ("fast", "slow", "above"))
    fast = random.randint(f_lo, f_hi)
    slow = random.randint(max(s_lo, fast + 1), s_hi)
    return _text({"cond": rule_tree.VOL_RATIO, "fast": fast, "slow": slow, "above": round(random.uniform(a_lo, a_hi), 3)})


def _text(node: Mapping) -> str:
    return json.dumps(node, sort_keys=True, separators=(",", ":"))


@functools.cache
def primitive_set() -> gp.PrimitiveSetTyped:
    """The typed primitive set of rule trees (built once per process)."""
    pset = gp.PrimitiveSetTyped("rule", [], Position)
    kinds = {"position": Position, "condition": Condition}
    for op, args in rule_tree.POSITION_OPS.items():
        pset.addPrimitive(_structure_only, [kinds[a] for a in args], Position, name=f"position_{op}")
    for op, args in rule_tree.CONDITION_OPS.items():
        pset.addPrimitive(_structure_only, [kinds[a] for a in args], Condition, name=f"condition_{op}")
    pset.addEphemeralConstant("rule_leaf", _random_leaf, Position)
    pset.addEphemeralConstant("rule_condition", _random_condition, Condition)
    return pset


def tree_of(rule: str) -> gp.PrimitiveTree:
    """DEAP's tree of a canonical rule text (prefix order, as DEAP keeps it)."""
    pset = primitive_set()
    ephemerals = {cls.ret: cls for cls in (pset.mapping["rule_leaf"], pset.mapping["rule_condition"])}
    nodes: list = []

    def visit(node: Mapping, kind: type) -> None:
        if "op" in node:
            prefix = "position_" if kind is Position else "condition_"
            nodes.append(pset.mapping[prefix + node["op"]])
            for arg, arg_kind in zip(node["args"], pset.mapping[prefix + node["op"]].args):
                visit(arg, arg_kind)
            return
        terminal = ephemerals[kind].__new__(ephemerals[kind])
        terminal.value = _text(node)
        nodes.append(terminal)

    visit(json.loads(rule), Position)
    return gp.PrimitiveTree(nodes)


def rule_of(tree: gp.PrimitiveTree) -> str:
    """The canonical rule text of a DEAP tree."""
    position = 0

    def build() -> dict:
        nonlocal position
        node = tree[position]
        position += 1
        if isinstance(node, gp.Primitive):
            return {"op": node.name.split("_", 1)[1], "args": [build() for _ in range(node.arity)]}
        return json.loads(node.value)

    return rule_tree.canonical_rule(build())


@contextlib.contextmanager
def _seeded(rng: np.random.Generator) -> Iterator[None]:
    """The global `random` state DEAP draws from, seeded from `rng` and restored afterwards."""
    saved = random.getstate()
    random.seed(int(rng.integers(2**63)))
    try:
        yield
    finally:
        random.setstate(saved)


def random_genome_values(seed_type: SeedType, rng: np.random.Generator) -> dict[str, GeneValue | str]:
    """A random tree (`genHalfAndHalf`) with random risk genes, as an island's generation 0 takes them."""
    _check(seed_type)
    values: dict = dict(operators.random_genome_values(_TREE, rng))
    with _seeded(rng):
        expr = gp.genHalfAndHalf(primitive_set(), *INIT_DEPTHS)
    values[RULE_GENE] = rule_of(gp.PrimitiveTree(expr))
    return values


def crossover_values(
    seed_type: SeedType, va: Mapping, vb: Mapping, rng: np.random.Generator
) -> tuple[dict[str, GeneValue | str], dict[str, GeneValue | str]]:
    """Two children: the numeric genes crossed as the templates' are, the trees by DEAP's typed one-point
    crossover (a child over `MAX_DEPTH` keeps its parent's tree)."""
    _check(seed_type)
    ca, cb = operators.crossover_values(_TREE, _numbers(va), _numbers(vb), rng)
    ta, tb = tree_of(va[RULE_GENE]), tree_of(vb[RULE_GENE])
    with _seeded(rng):
        xa, xb = one_point_crossover(gp.PrimitiveTree(ta), gp.PrimitiveTree(tb))
    ca[RULE_GENE] = _within_depth(xa, va[RULE_GENE])
    cb[RULE_GENE] = _within_depth(xb, vb[RULE_GENE])
    return ca, cb


def one_point_crossover(a: gp.PrimitiveTree, b: gp.PrimitiveTree) -> tuple[gp.PrimitiveTree, gp.PrimitiveTree]:
    """DEAP's typed `cxOnePoint`, draw for draw, with the types both trees hold taken in name order. DEAP draws the
    type from a set of classes, whose order follows their addresses in memory: the same seed then gave other
    children in another process."""
    if len(a) < 2 or len(b) < 2:
        return a, b
    where_a: dict[type, list[int]] = {}
    where_b: dict[type, list[int]] = {}
    for index, node in enumerate(a[1:], 1):
        where_a.setdefault(node.ret, []).append(index)
    for index, node in enumerate(b[1:], 1):
        where_b.setdefault(node.ret, []).append(index)
    common = sorted(set(where_a) & set(where_b), key=lambda kind: kind.__name__)
    if common:
        kind = random.choice(common)
        slice_a, slice_b = a.searchSubtree(random.choice(where_a[kind])), b.searchSubtree(random.choice(where_b[kind]))
        a[slice_a], b[slice_b] = b[slice_b], a[slice_a]
    return a, b


def mutate_values(
    seed_type: SeedType,
    values: Mapping,
    rng: np.random.Generator,
    rate: float,
    sigma: float,
    force: bool = False,
    donors: Sequence[Mapping] = (),
) -> dict[str, GeneValue | str]:
    """A child: numeric genes mutated as the templates' are; with probability `STRUCTURE_RATE` (always when
    `force` and nothing else changed) one mutation of the tree. `donors`: template genomes of the island (their
    seed type and signal genes, `donor_leaf`) that a graft may put in place of a leaf."""
    _check(seed_type)
    numbers = _numbers(values)
    out: dict = dict(operators.mutate_values(_TREE, numbers, rng, rate, sigma, force=False))
    rule = values[RULE_GENE]
    if rng.random() < STRUCTURE_RATE or (force and out == numbers):
        for _ in range(10):  # a mutation can give the same tree (a node replaced by itself): draw again
            changed = _mutated_rule(rule, rng, sigma, donors)
            if changed != rule:
                rule = changed
                break
    out[RULE_GENE] = rule
    return out


def _mutated_rule(rule: str, rng: np.random.Generator, sigma: float, donors: Sequence[Mapping] = ()) -> str:
    tree = tree_of(rule)
    pset = primitive_set()
    kind = rng.choice(5, p=GRAFTING if donors else NO_GRAFTING)
    with _seeded(rng):
        if kind == 0:
            return _leaf_step(tree, rule, rng, sigma)
        if kind == 1:
            return _graft(tree, rule, donors[int(rng.integers(len(donors)))], rng)
        if kind == 2:
            (child,) = gp.mutEphemeral(tree, "one")
        elif kind == 3:
            (child,) = gp.mutNodeReplacement(tree, pset)
        else:
            (child,) = gp.mutUniform(tree, functools.partial(gp.genGrow, min_=0, max_=2), pset)
    return _within_depth(child, rule)


def donor_leaf(seed_type: SeedType, values: Mapping) -> dict | None:
    """A template genome as a leaf a graft can use (None for a seed that cannot be a leaf)."""
    if seed_type not in rule_tree.LEAF_SEEDS:
        return None
    return {"seed_type": seed_type.value, **{name: values[name] for name in rule_tree.signal_genes(seed_type)}}


def _graft(tree: gp.PrimitiveTree, rule: str, donor: Mapping, rng: np.random.Generator) -> str:
    """One leaf replaced by a template genome of the island: trees take up what the templates learnt."""
    positions = _leaf_positions(tree)
    k = positions[int(rng.integers(len(positions)))]
    terminal = type(tree[k]).__new__(type(tree[k]))
    terminal.value = _text({"leaf": rule_tree.leaf_values(donor)})
    tree[k] = terminal
    return _within_depth(tree, rule)


def _leaf_positions(tree: gp.PrimitiveTree) -> list[int]:
    return [k for k, node in enumerate(tree) if getattr(node, "ret", None) is Position and not isinstance(node, gp.Primitive)]


def _leaf_step(tree: gp.PrimitiveTree, rule: str, rng: np.random.Generator, sigma: float) -> str:
    """One gene of one leaf stepped as a template's gene is mutated."""
    positions = _leaf_positions(tree)
    k = positions[int(rng.integers(len(positions)))]
    leaf = json.loads(tree[k].value)["leaf"]
    seed_type = SeedType(leaf["seed_type"])
    names = rule_tree.signal_genes(seed_type)
    name = names[int(rng.integers(len(names)))]
    spec = gene_space(seed_type)[name]
    leaf[name] = operators.mutate_gene(spec.kind == "int", spec.low, spec.high, leaf[name], sigma, rng)
    terminal = type(tree[k]).__new__(type(tree[k]))
    terminal.value = _text({"leaf": rule_tree.leaf_values(leaf)})
    tree[k] = terminal
    return _within_depth(tree, rule)


def _within_depth(tree: gp.PrimitiveTree, parent: str) -> str:
    return parent if tree.height > rule_tree.MAX_DEPTH else rule_of(tree)


def _numbers(values: Mapping) -> dict[str, GeneValue]:
    return {k: v for k, v in values.items() if k != RULE_GENE}


def _check(seed_type: SeedType) -> None:
    if seed_type is not _TREE:
        raise ValueError(f"gp varies rule trees; {seed_type.value} is a template (evolution/operators.py)")
