"""Rule trees: strategies that compose the templates' signals, as the plan's genetic programming asks.

A tree is typed. Its root gives a target position; its leaves are template genomes (their compiled signals)
and conditions on the bar's regime, realised volatility or sentiment. Nodes:

| node | types | position at bar t |
|---|---|---|
| `{"leaf": {"seed_type": s, genes...}}` | position | the template's own signal (risk genes neutral: the tree's apply) |
| `{"op": "and", "args": [a, b]}` | position, position | a where a and b agree, else flat |
| `{"op": "or", "args": [a, b]}` | position, position | the sign of a + b (either, unless they disagree) |
| `{"op": "vote", "args": [a, b, c]}` | 3 positions | the side at least two of three take, else flat |
| `{"op": "gate", "args": [c, a]}` | condition, position | a where c holds, else flat |
| `{"op": "if", "args": [c, a, b]}` | condition, 2 positions | a where c holds, else b ("if the regime is R then A else B") |
| `{"cond": name}` | condition | a regime of `CONDITIONS` (unknown: does not hold) |
| `{"cond": "vol_ratio", "fast": n, "slow": m, "above": x}` | condition | realised vol over n bars > x times that over m |
| `{"op": "not" / "both" / "either", "args": [...]}` | conditions | negation, conjunction, disjunction |

Every leaf and condition uses bars up to t only, and every node is element-wise in t, so a tree is as causal as
its leaves: a prefix of the bars gives a prefix of the positions (test_strategies_rule_tree.py). A batch of trees
computes each distinct leaf once, in its seed's compiled batch path, and combines the columns with array
operations: evaluation stays in the compiled path. The text is canonical JSON (sorted keys, no spaces), so one
tree has one text and one genes hash; `MAX_DEPTH` bounds it.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from quant_organism.core.bars import REGIME_HMM, REGIME_SENTIMENT, REGIME_TREND, REGIME_VOL

from .genes import RISK_GENES, TECHNICAL_SEEDS, RuleGrammar, SeedGenes, SeedType, gene_space, register_rule_grammar, repair_values
from .ohlcv import Bars

LEAF_SEEDS: tuple[SeedType, ...] = tuple(s for s in TECHNICAL_SEEDS if s is not SeedType.FUNDING_CARRY)
"""Templates a leaf may be: the compiled rule seeds on prices (funding carry needs funding on every coin; the ML
seeds' refits cost a hundred times a rule's)."""
POSITION_OPS: dict[str, tuple[str, ...]] = {
    "and": ("position", "position"),
    "or": ("position", "position"),
    "vote": ("position", "position", "position"),
    "gate": ("condition", "position"),
    "if": ("condition", "position", "position"),
}
CONDITION_OPS: dict[str, tuple[str, ...]] = {
    "not": ("condition",),
    "both": ("condition", "condition"),
    "either": ("condition", "condition"),
}
CONDITIONS: dict[str, tuple[str, str, float]] = {
    "high_volatility": (REGIME_VOL, "==", 2.0),
    "low_volatility": (REGIME_VOL, "==", 0.0),
    "turbulent": (REGIME_HMM, "==", 1.0),
    "uptrend": (REGIME_TREND, "==", 2.0),
    "downtrend": (REGIME_TREND, "==", 0.0),
    "greed": (REGIME_SENTIMENT, ">=", 75.0),
    "fear": (REGIME_SENTIMENT, "<=", 25.0),
}
"""Regime conditions: the column of the bars (market/regime.py's causal regimes) and the test on it."""
VOL_RATIO = "vol_ratio"
VOL_RATIO_BOUNDS = {"fast": (2, 100), "slow": (10, 1000), "above": (0.5, 3.0)}
MAX_DEPTH = 4
"""Edges from the root to the deepest leaf: up to 2**4 leaves, enough for "two of three agree, in a regime"."""
NEUTRAL_RISK: dict[str, Any] = {"stop_loss": 0.0, "take_profit": 0.0, "position_size": 1.0, "regime_filter": 0}
"""A leaf's risk genes: its signal only; the tree's own risk and regime genes apply to the composed position."""
DEFAULT_RULE = json.dumps({"leaf": {"seed_type": SeedType.VOLATILITY_SCALING.value}}, sort_keys=True, separators=(",", ":"))


class RuleError(ValueError):
    """A rule text that is not a tree of this grammar."""


def canonical_rule(rule: str | Mapping) -> str:
    """The one text of a tree (parsed, checked, leaves repaired to their seeds' full genes, sorted keys)."""
    return _canonical(rule if isinstance(rule, str) else json.dumps(rule))


@functools.lru_cache(maxsize=65536)
def _canonical(text: str) -> str:
    try:
        node = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RuleError(f"rule is not JSON: {exc}") from None
    checked = _checked(node, "position", 0)
    return json.dumps(checked, sort_keys=True, separators=(",", ":"), allow_nan=False)


def _checked(node: Any, kind: str, depth: int) -> dict:
    if depth > MAX_DEPTH:
        raise RuleError(f"rule deeper than {MAX_DEPTH}")
    if not isinstance(node, Mapping):
        raise RuleError(f"a node is an object, got {node!r}")
    if "op" in node:
        table = POSITION_OPS if kind == "position" else CONDITION_OPS
        op, args = node["op"], node.get("args")
        if op not in table or set(node) != {"op", "args"}:
            raise RuleError(f"{op!r} is not a {kind} operator (known: {sorted(table)})")
        kinds = table[op]
        if not isinstance(args, list) or len(args) != len(kinds):
            raise RuleError(f"{op!r} takes {len(kinds)} argument(s)")
        return {"op": op, "args": [_checked(a, k, depth + 1) for a, k in zip(args, kinds)]}
    if kind == "position":
        if set(node) != {"leaf"}:
            raise RuleError(f"a position node is an operator or a leaf, got keys {sorted(node)}")
        return {"leaf": leaf_values(node["leaf"])}
    return _checked_condition(node)


def _checked_condition(node: Mapping) -> dict:
    name = node.get("cond")
    if name in CONDITIONS and set(node) == {"cond"}:
        return {"cond": name}
    if name == VOL_RATIO and set(node) == {"cond", *VOL_RATIO_BOUNDS}:
        out: dict[str, Any] = {"cond": VOL_RATIO}
        for key, (low, high) in VOL_RATIO_BOUNDS.items():
            value = node[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
                raise RuleError(f"vol_ratio {key}={value!r} outside [{low}, {high}]")
            out[key] = int(value) if isinstance(low, int) else float(value) + 0.0
        if not out["fast"] < out["slow"]:
            raise RuleError("vol_ratio needs fast < slow")
        return out
    raise RuleError(f"unknown condition {dict(node)!r}; known: {sorted(CONDITIONS)} and {VOL_RATIO}")


def leaf_values(leaf: Any) -> dict[str, Any]:
    """A leaf's seed type and its signal genes, repaired (missing ones at their defaults); risk genes neutral."""
    if not isinstance(leaf, Mapping) or "seed_type" not in leaf:
        raise RuleError(f"a leaf names its seed_type, got {leaf!r}")
    try:
        seed_type = SeedType(leaf["seed_type"])
    except ValueError:
        raise RuleError(f"unknown leaf seed {leaf['seed_type']!r}") from None
    if seed_type not in LEAF_SEEDS:
        raise RuleError(f"{seed_type.value} cannot be a leaf; leaves: {[s.value for s in LEAF_SEEDS]}")
    genes = {k: v for k, v in leaf.items() if k != "seed_type"}
    unknown = set(genes) - set(signal_genes(seed_type))
    if unknown:
        raise RuleError(f"{seed_type.value} leaf: unknown gene(s) {sorted(unknown)}")
    values = repair_values(seed_type, {**genes, **NEUTRAL_RISK})
    return {"seed_type": seed_type.value, **{name: values[name] for name in signal_genes(seed_type)}}


@functools.cache
def signal_genes(seed_type: SeedType) -> tuple[str, ...]:
    """The genes a leaf of this seed carries: those its signal uses (not its risk genes)."""
    return tuple(n for n, spec in gene_space(seed_type).items() if spec.active and n not in (*RISK_GENES, "regime_filter"))


def leaf_genes(leaf: Mapping[str, Any]) -> SeedGenes:
    """The template genome of a (canonical) leaf, named by its genes hash."""
    seed_type = SeedType(leaf["seed_type"])
    values = {k: v for k, v in leaf.items() if k != "seed_type"}
    genes = SeedGenes.from_gene_values(seed_type, "leaf", {**values, **NEUTRAL_RISK})
    return genes.model_copy(update={"seed_id": "leaf_" + genes.genes_hash()[:16]})


@functools.lru_cache(maxsize=4096)
def _leaf_genome(text: str) -> SeedGenes:
    """`leaf_genes` of a leaf's JSON text, kept: every generation scores trees that share most of their leaves."""
    return leaf_genes(json.loads(text))


def nodes(node: Mapping) -> int:
    """How many nodes the tree has (operators, conditions and leaves)."""
    return 1 + sum(nodes(a) for a in node.get("args", ()))


def free_parameters(node: Mapping) -> int:
    """What the search chose in a tree: one per operator and regime condition, three per volatility condition, and
    each leaf's signal genes (parsimony counts these, as it counts a template's genes)."""
    if "leaf" in node:
        return len(signal_genes(SeedType(node["leaf"]["seed_type"])))
    if "cond" in node:
        return len(VOL_RATIO_BOUNDS) if node["cond"] == VOL_RATIO else 1
    return 1 + sum(free_parameters(a) for a in node["args"])


def leaves(node: Mapping) -> list[dict]:
    if "leaf" in node:
        return [node["leaf"]]
    return [leaf for a in node.get("args", ()) for leaf in leaves(a)]


def leaf_genomes(rule: str) -> list[SeedGenes]:
    """The distinct template genomes of a tree's leaves."""
    distinct = {json.dumps(leaf, sort_keys=True): leaf for leaf in leaves(json.loads(rule))}
    return [leaf_genes(leaf) for leaf in distinct.values()]


def condition_windows(rule: str) -> list[int]:
    """Bars of history each of a tree's volatility conditions reads (its longer window)."""
    return [int(node["slow"]) for node in _conditions(json.loads(rule)) if node.get("cond") == VOL_RATIO]


def _conditions(node: Mapping) -> list[Mapping]:
    if "cond" in node:
        return [node]
    return [c for a in node.get("args", ()) for c in _conditions(a)]


LeafPositions = Callable[[SeedType, Bars, list[SeedGenes]], np.ndarray]
"""(seed type, bars, genomes) -> bars x genomes int8 positions: the leaf seeds' batch path."""


def tree_positions(bars: Bars, rules: Sequence[str], leaf_positions: LeafPositions) -> np.ndarray:
    """int8 target positions, bars x trees, of canonical rule texts: each distinct leaf computed once in its
    seed's compiled batch path (`leaf_positions`), then the trees combined element-wise."""
    trees = [json.loads(rule) for rule in rules]
    distinct: dict[str, SeedGenes] = {}
    for tree in trees:
        for leaf in leaves(tree):
            key = json.dumps(leaf, sort_keys=True)
            if key not in distinct:
                distinct[key] = _leaf_genome(key)
    by_seed: dict[SeedType, list[str]] = {}
    for key, genes in distinct.items():
        by_seed.setdefault(genes.seed_type, []).append(key)
    columns: dict[str, np.ndarray] = {}
    for seed_type, keys in by_seed.items():
        positions = leaf_positions(seed_type, bars, [distinct[k] for k in keys])
        columns.update({k: positions[:, j] for j, k in enumerate(keys)})
    conditions: dict[str, np.ndarray] = {}
    out = np.zeros((bars.n, len(trees)), np.int8)
    for j, tree in enumerate(trees):
        out[:, j] = _position(tree, bars, columns, conditions)
    return out


def _position(node: Mapping, bars: Bars, columns: dict, conditions: dict) -> np.ndarray:
    if "leaf" in node:
        return columns[json.dumps(node["leaf"], sort_keys=True)]
    op, args = node["op"], node["args"]
    if op == "gate":
        return np.where(_condition(args[0], bars, conditions), _position(args[1], bars, columns, conditions), 0).astype(np.int8)
    if op == "if":
        held = _condition(args[0], bars, conditions)
        a, b = (_position(x, bars, columns, conditions) for x in args[1:])
        return np.where(held, a, b).astype(np.int8)
    values = [_position(x, bars, columns, conditions).astype(np.int16) for x in args]
    if op == "and":
        return np.where(values[0] == values[1], values[0], 0).astype(np.int8)
    if op == "or":
        return np.sign(values[0] + values[1]).astype(np.int8)
    total = values[0] + values[1] + values[2]  # vote
    return np.where(np.abs(total) >= 2, np.sign(total), 0).astype(np.int8)


def _condition(node: Mapping, bars: Bars, memo: dict) -> np.ndarray:
    key = json.dumps(node, sort_keys=True)
    if key in memo:
        return memo[key]
    if "op" in node:
        parts = [_condition(a, bars, memo) for a in node["args"]]
        held = ~parts[0] if node["op"] == "not" else (parts[0] & parts[1] if node["op"] == "both" else parts[0] | parts[1])
    elif node["cond"] == VOL_RATIO:
        held = _vol_ratio_above(bars, node["fast"], node["slow"], node["above"])
    else:
        column, test, level = CONDITIONS[node["cond"]]
        values = bars.regimes.get(column)
        if values is None:
            held = np.zeros(bars.n, dtype=np.bool_)  # no regime joined: the condition is not known to hold
        else:
            with np.errstate(invalid="ignore"):
                held = values == level if test == "==" else (values >= level if test == ">=" else values <= level)
    memo[key] = held
    return held


def _vol_ratio_above(bars: Bars, fast: int, slow: int, above: float) -> np.ndarray:
    """Realised vol of the last `fast` one-bar log returns over that of the last `slow`, above `above` (bars up
    to t only; False while either window fills)."""
    from .indicators import Indicators

    rows, (fast_row, slow_row) = Indicators(bars).table("volatility", np.array([fast]), np.array([slow]))
    short, long_ = rows[fast_row[0]], rows[slow_row[0]]
    with np.errstate(invalid="ignore", divide="ignore"):
        return short > above * long_


def describe(rule: str) -> str:
    """The tree in one line, for people: `vote(ema_crossover, sma_trend, gate(high_volatility, donchian_breakout))`."""
    return _describe(json.loads(rule))


def _describe(node: Mapping) -> str:
    if "leaf" in node:
        return node["leaf"]["seed_type"]
    if "cond" in node:
        if node["cond"] == VOL_RATIO:
            return f"vol{node['fast']}/vol{node['slow']}>{node['above']:.2g}"
        return node["cond"]
    return f"{node['op']}({', '.join(_describe(a) for a in node['args'])})"


register_rule_grammar(RuleGrammar(canonical_rule, DEFAULT_RULE))

__all__ = [
    "CONDITIONS",
    "DEFAULT_RULE",
    "LEAF_SEEDS",
    "MAX_DEPTH",
    "RuleError",
    "canonical_rule",
    "condition_windows",
    "describe",
    "free_parameters",
    "leaf_genomes",
    "leaf_genes",
    "leaves",
    "nodes",
    "tree_positions",
]
