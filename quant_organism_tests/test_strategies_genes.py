"""The genome: seed types, gene space, validation, repair, JSON round trip and hashing."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from pydantic import ValidationError

from quant_organism.strategies import (
    COMMON_GENES,
    ML_SEEDS,
    TECHNICAL_SEEDS,
    SeedGenes,
    SeedType,
    gene_orderings,
    gene_space,
    get_registry,
    parameter_names,
    repair_values,
)
from quant_organism.strategies.base import BaseSeed
from quant_organism.strategies.gene_table import _clipped, _gene_problems
from quant_organism.strategies.genes import RULE_GENE, genes_hash, genes_hash_and_json, genes_json, hash_payload
from quant_organism.strategies.rule_tree import canonical_rule

ALL = list(SeedType)


def assert_valid(genes: SeedGenes) -> None:
    space = gene_space(genes.seed_type)
    values = genes.gene_values()
    if seed_type_has_rule := genes.seed_type is SeedType.RULE_TREE:
        assert canonical_rule(values.pop(RULE_GENE)) == genes.rule
    assert list(values) == list(space), seed_type_has_rule
    for name, spec in space.items():
        value = values[name]
        assert spec.low <= value <= spec.high, (genes.seed_type, name, value)
        assert isinstance(value, int) if spec.kind == "int" else isinstance(value, float), (name, value)
    for order in gene_orderings(genes.seed_type):
        assert order.holds(values), (genes.seed_type, order, values)


def test_seed_types_are_the_stable_values() -> None:
    assert {s.name: s.value for s in SeedType} == {
        "EMA_CROSSOVER": "ema_crossover",
        "DONCHIAN_BREAKOUT": "donchian_breakout",
        "RSI_FILTER": "rsi_filter",
        "STOCHASTIC": "stochastic",
        "SMA_TREND": "sma_trend",
        "ATR_STOP": "atr_stop",
        "ICHIMOKU": "ichimoku",
        "VWAP_REVERSION": "vwap_reversion",
        "VOLATILITY_SCALING": "volatility_scaling",
        "FUNDING_CARRY": "funding_carry",
        "LINEAR_SVC": "linear_svc",
        "PCA_TREE_QUANTILE": "pca_tree_quantile",
        "RULE_TREE": "rule_tree",
    }
    assert set(TECHNICAL_SEEDS).isdisjoint(ML_SEEDS)
    assert set(TECHNICAL_SEEDS) | set(ML_SEEDS) | {SeedType.RULE_TREE} == set(SeedType)
    assert f"{SeedType.ICHIMOKU}" == "ichimoku"


@pytest.mark.parametrize("seed_type", ALL, ids=lambda s: s.value)
def test_gene_space_covers_common_genes_and_parameters(seed_type: SeedType) -> None:
    space = gene_space(seed_type)
    assert list(space)[: len(COMMON_GENES)] == list(COMMON_GENES)
    assert tuple(list(space)[len(COMMON_GENES) :]) == parameter_names(seed_type)
    for name in ("fast_period", "slow_period", "signal_period"):
        assert space[name].kind == "int"
        assert space[name].low >= 1
    assert space["position_size"].low > 0 and space["position_size"].high == 1.0
    assert space["stop_loss"].low == 0.0 and space["take_profit"].low == 0.0
    for spec in space.values():
        assert spec.name in space and spec.low < spec.high
        assert spec.doc
    # A returned space is a copy: callers cannot corrupt the table.
    space.clear()
    assert gene_space(seed_type)


def test_ml_seeds_expose_walk_forward_and_model_genes() -> None:
    assert {"train_window", "refit_every", "log10_c"} <= set(parameter_names(SeedType.LINEAR_SVC))
    assert {"train_window", "refit_every", "n_components", "max_depth", "quantile"} <= set(
        parameter_names(SeedType.PCA_TREE_QUANTILE)
    )


@pytest.mark.parametrize("seed_type", ALL, ids=lambda s: s.value)
def test_default_and_random_genes_are_in_bounds(seed_type: SeedType) -> None:
    assert_valid(SeedGenes.create_default(seed_type, "d"))
    rng = np.random.default_rng(7)
    draws = [SeedGenes.random(seed_type, f"r{i}", rng) for i in range(200)]
    for genes in draws:
        assert_valid(genes)
    # Draws explore the space instead of sticking to the defaults or to ordering boundaries.
    for name, spec in gene_space(seed_type).items():
        values = {g.gene(name) for g in draws}
        assert len(values) > (min(5, int(spec.high - spec.low)) if spec.kind == "int" else 150), name
    again = [SeedGenes.random(seed_type, f"r{i}", np.random.default_rng(7)) for i in range(1)]
    assert again[0] == draws[0]


@pytest.mark.parametrize("seed_type", ALL, ids=lambda s: s.value)
def test_repair_turns_any_raw_vector_into_valid_genes(seed_type: SeedType) -> None:
    space = gene_space(seed_type)
    rng = np.random.default_rng(3)
    for _ in range(300):
        raw = {}
        for name, spec in space.items():
            span = spec.high - spec.low
            raw[name] = rng.uniform(spec.low - span, spec.high + span)  # ints arrive as floats too
        raw[rng.choice(list(space))] = float("nan")
        genes = SeedGenes.from_gene_values(seed_type, "x", raw)
        assert_valid(genes)
    # In-bounds, ordered values pass through repair unchanged.
    default = SeedGenes.create_default(seed_type, "d")
    assert repair_values(seed_type, default.gene_values()) == default.gene_values()


def test_repaired_fixes_an_unvalidated_mutation() -> None:
    genes = SeedGenes.create_default(SeedType.EMA_CROSSOVER, "m", generation=4)
    mutated = genes.model_copy(update={"fast_period": 10_000, "exit_threshold": 5.0, "stop_loss": -1.0})
    fixed = mutated.repaired()
    assert_valid(fixed)
    space = gene_space(SeedType.EMA_CROSSOVER)
    assert fixed.fast_period == space["fast_period"].high
    assert fixed.slow_period == fixed.fast_period + 1
    assert fixed.exit_threshold == fixed.entry_threshold
    assert fixed.stop_loss == 0.0
    assert (fixed.seed_id, fixed.generation) == ("m", 4)


def test_ichimoku_period_chain_is_enforced() -> None:
    fixed = SeedGenes.from_gene_values(SeedType.ICHIMOKU, "i", {"fast_period": 60, "slow_period": 10, "senkou_period": 12})
    assert fixed.fast_period < fixed.slow_period < fixed.parameters["senkou_period"]


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"fast_period": 0}, "fast_period=0 outside [2, 100]"),
        ({"fast_period": 50, "slow_period": 20}, "fast_period=50 must be < slow_period=20"),
        ({"exit_threshold": 0.01, "entry_threshold": 0.001}, "exit_threshold=0.01 must be <= entry_threshold"),
        ({"position_size": 0.0}, "position_size=0.0 outside"),
        ({"parameters": {"bogus": 1}}, "unknown parameter(s) ['bogus']"),
        ({"seed_type": "martingale"}, "unknown seed type 'martingale'"),
        ({"fast_period": 2.5}, "fast_period"),
        ({"stop_loss": float("inf")}, "stop_loss"),
    ],
)
def test_invalid_genes_fail_with_a_clear_message(changes: dict, fragment: str) -> None:
    data = {"seed_id": "bad", "seed_type": "ema_crossover", **changes}
    with pytest.raises(ValidationError) as err:
        SeedGenes.model_validate(data)
    assert fragment in str(err.value)


def test_parameter_types_are_checked_and_normalised() -> None:
    with pytest.raises(ValidationError, match="senkou_period' must be an integer"):
        SeedGenes(seed_id="x", seed_type="ichimoku", parameters={"senkou_period": 52.5})
    genes = SeedGenes(seed_id="x", seed_type="ichimoku", parameters={"senkou_period": 60.0})
    assert genes.parameters == {"senkou_period": 60} and isinstance(genes.parameters["senkou_period"], int)
    svc = SeedGenes(seed_id="x", seed_type="linear_svc", parameters={"log10_c": -1})
    assert isinstance(svc.parameters["log10_c"], float)
    assert list(svc.parameters) == list(parameter_names(SeedType.LINEAR_SVC))  # defaults filled, canonical order


def test_genes_are_frozen() -> None:
    genes = SeedGenes.create_default(SeedType.SMA_TREND, "f")
    with pytest.raises(ValidationError):
        genes.fast_period = 3  # type: ignore[misc]


@pytest.mark.parametrize("seed_type", ALL, ids=lambda s: s.value)
def test_json_round_trip_is_exact(seed_type: SeedType) -> None:
    rng = np.random.default_rng(11)
    for i in range(20):
        genes = SeedGenes.random(seed_type, f"id-{i}", rng, generation=i)
        text = genes.model_dump_json()
        back = SeedGenes.model_validate_json(text)
        assert back == genes
        assert back.model_dump_json() == text
        for name, value in genes.gene_values().items():
            restored = back.gene(name)
            assert type(restored) is type(value), name
            if isinstance(value, float):
                assert restored.hex() == value.hex(), name  # same float bits, not just close
        assert back.genes_hash() == genes.genes_hash()


def test_hash_ignores_identity_and_tracks_every_gene() -> None:
    rng = np.random.default_rng(5)
    for seed_type in ALL:
        genes = SeedGenes.random(seed_type, "a", rng)
        digest = genes.genes_hash()
        assert len(digest) == 64 and int(digest, 16) >= 0
        twin = SeedGenes.from_gene_values(seed_type, "other-id", genes.gene_values(), generation=9)
        assert twin.genes_hash() == digest
        assert twin.strategy_name() == f"{seed_type.value}_9_{digest[:8]}"
        same = SeedGenes.model_validate_json(genes.model_dump_json())
        assert len({genes, same, twin}) == 2  # usable in sets and dicts, consistent with ==
        for name, spec in gene_space(seed_type).items():
            step = 1 if spec.kind == "int" else (spec.high - spec.low) * 1e-6
            changed = None
            for direction in (1, -1):  # nudge the gene to a neighbouring valid value
                values = genes.gene_values()
                values[name] += direction * step
                if spec.low <= values[name] <= spec.high and all(o.holds(values) for o in gene_orderings(seed_type)):
                    changed = SeedGenes.from_gene_values(seed_type, "a", values, repair=False)
                    break
            assert changed is not None, (seed_type, name)
            assert changed.genes_hash() != digest, (seed_type, name)


def test_hash_payload_is_the_canonical_json_of_the_cast_genes() -> None:
    """The hand-written payload is byte for byte what the json encoder gives, so hashes (and so strategy
    names and evolution's tie-breaks) are unchanged: random genomes of every seed, the regime gene on and
    off, signed zeros and floats repr prints in exponent form."""
    rng = np.random.default_rng(11)
    for seed_type in ALL:
        space = gene_space(seed_type)
        for k in range(40):
            values = SeedGenes.random(seed_type, "a", rng).gene_values()
            if k % 3 == 0:
                values["regime_filter"] = 0
            if k % 5 == 0:
                for name, spec in space.items():
                    if spec.kind == "float" and spec.low <= 0.0 <= spec.high:
                        values[name] = -0.0 if k % 10 else 1e-7 if spec.high >= 1e-7 else 0.0
            rule = values.pop(RULE_GENE, None)
            cast = {name: space[name].cast(v) for name, v in values.items()}
            if cast["regime_filter"] == 0:
                del cast["regime_filter"]
            payload = {"seed_type": seed_type.value, "genes": cast} | ({} if rule is None else {RULE_GENE: json.loads(rule)})
            if rule is not None:
                values[RULE_GENE] = rule
            expected = json.dumps(payload, sort_keys=True, separators=(",", ":"))
            assert hash_payload(seed_type, values) == expected
    with pytest.raises(ValueError):
        hash_payload(
            SeedType.EMA_CROSSOVER, {**SeedGenes.create_default(SeedType.EMA_CROSSOVER, "x").gene_values(), "stop_loss": math.inf}
        )


def test_genes_json_is_the_json_encoders_text() -> None:
    """Evolution's records keep each genome's genes as `genes_json` writes them by hand: byte for byte the json
    encoder's text (the records are read back with `json.loads`), signed zeros and exponent floats included, and
    what it cannot write by hand (numpy scalars, non-finite floats, bools, names the encoder escapes) goes through
    the encoder."""
    rng = np.random.default_rng(13)
    for seed_type in ALL:
        for k in range(30):
            values = SeedGenes.random(seed_type, "a", rng).gene_values()
            name = next(n for n, v in values.items() if isinstance(v, float))
            values[name] = [-0.0, 1e-7, 2.5e16, values[name]][k % 4]
            assert genes_json(values) == json.dumps(values, separators=(",", ":"))
            assert json.loads(genes_json(values)) == values
    odd = {"fast_period": 3, "stop_loss": math.nan, "take_profit": np.float64(0.1)}
    assert genes_json(odd) == json.dumps(odd, separators=(",", ":")) == '{"fast_period":3,"stop_loss":NaN,"take_profit":0.1}'
    escaped = {"période": 3, "a-b": 0.5, "flag": True}  # names the encoder escapes or quotes as they are; a bool
    assert genes_json(escaped) == json.dumps(escaped, separators=(",", ":")) == '{"p\\u00e9riode":3,"a-b":0.5,"flag":true}'
    with pytest.raises(TypeError):
        genes_json({"fast_period": np.int64(3)})


def test_the_hash_and_json_made_together_are_the_ones_made_apart() -> None:
    """Evolution takes a genome's hash and its records' genes text from one formatting of its numbers: the same two
    texts as `genes_hash` and `genes_json`, for repaired values of every seed (regime gene on and off, exponent
    floats) and for values that leave that path (a signed zero, NaN, numpy scalars, another gene order)."""
    rng = np.random.default_rng(17)
    for seed_type in ALL:
        for k in range(40):
            values = repair_values(seed_type, SeedGenes.random(seed_type, "a", rng).gene_values())
            if k % 2:
                values["regime_filter"] = 0
            name = next(n for n, v in values.items() if isinstance(v, float))
            variants = [values, {**values, name: 1e-7}, {**values, name: 2.5e16}]
            variants += [{**values, name: -0.0}, {**values, name: math.nan}, {**values, name: np.float64(0.5)}]
            variants.append(dict(reversed(values.items())))
            for case in variants:
                if case[name] != case[name]:  # NaN: no hash (the encoder refuses it), the records' text still
                    with pytest.raises(ValueError):
                        genes_hash_and_json(seed_type, case)
                    continue
                assert genes_hash_and_json(seed_type, case) == (genes_hash(seed_type, case), genes_json(case))


def test_the_quick_validity_check_finds_what_the_named_problems_find() -> None:
    """`from_repaired` checks every genome evolution evaluates: its plain-loop check passes exactly the values
    whose named problems are none, on values in bounds, out of bounds, NaN and with broken orderings."""
    rng = np.random.default_rng(19)
    for seed_type in ALL:
        space = gene_space(seed_type)
        for k in range(60):
            values = SeedGenes.random(seed_type, "a", rng).gene_values()
            name = list(space)[k % len(space)]
            spec = space[name]
            values[name] = [values[name], spec.high + 1, spec.low - 1, math.nan, spec.low, spec.high][k % 6]
            orders = gene_orderings(seed_type)
            if orders and k % 7 == 0:
                values[orders[0].lower], values[orders[0].upper] = values[orders[0].upper], values[orders[0].lower]
            named = [f"{n}" for n, s in space.items() if not s.contains(values[n])] or [
                o.lower for o in orders if not o.holds(values)
            ]
            assert (not _gene_problems(seed_type, values)) == (not named), (seed_type, name, values)


def test_repair_clips_each_gene_as_its_spec_does() -> None:
    """`repair_values`' clipping (specs' fields read once per seed type) is `GeneSpec.clip` of each gene, the
    default for a missing one: wild values, NaN, infinities, floats for ints, signed zeros."""
    rng = np.random.default_rng(12)
    wild = [math.nan, math.inf, -math.inf, -0.0, 0.0, 1e9, -1e9, 2.5, 3.5, 7]
    for seed_type in ALL:
        space = gene_space(seed_type)
        for _ in range(60):
            values = {}
            for name, spec in space.items():
                draw = rng.random()
                if draw < 0.1:
                    continue  # missing: the default
                values[name] = wild[int(rng.integers(len(wild)))] if draw < 0.5 else rng.uniform(spec.low - 5, spec.high + 5)
            clipped = _clipped(seed_type, values)
            expected = {name: spec.clip(values.get(name, spec.default)) for name, spec in space.items()}
            assert list(clipped) == list(expected)
            for name in expected:
                assert type(clipped[name]) is type(expected[name]) and repr(clipped[name]) == repr(expected[name])


def test_hash_distinguishes_seed_types_and_signed_zero() -> None:
    a = SeedGenes.create_default(SeedType.EMA_CROSSOVER, "x")
    payload = {**a.gene_values()}
    b = SeedGenes.from_gene_values(SeedType.SMA_TREND, "x", payload)
    assert a.genes_hash() != b.genes_hash()
    neg = SeedGenes.from_gene_values(SeedType.EMA_CROSSOVER, "x", {**payload, "exit_threshold": -0.0})
    assert neg.genes_hash() == a.genes_hash()
    assert json.loads(neg.model_dump_json())["exit_threshold"] == 0.0 and not math.copysign(1, neg.exit_threshold) < 0


def test_registry_maps_every_seed_type() -> None:
    registry = get_registry()
    assert set(registry.seed_types()) == set(SeedType)
    for seed_type in SeedType:
        cls = registry.seed_class(seed_type)
        assert issubclass(cls, BaseSeed) and cls.seed_type is seed_type
        assert registry.seed_class(seed_type.value) is cls
        seed = registry.create_seed(seed_type, SeedGenes.create_default(seed_type, "s"))
        assert isinstance(seed, cls)
    with pytest.raises(ValueError, match="no seed registered for 'martingale'"):
        registry.seed_class("martingale")
    with pytest.raises(ValueError, match="runs ema_crossover genes"):
        registry.create_seed("ema_crossover", SeedGenes.create_default("sma_trend", "s"))
    seed = registry.create_seed("rsi_filter", {"seed_id": "m", "fast_period": 7})
    assert seed.genes.fast_period == 7 and seed.genes.slow_period == gene_space("rsi_filter")["slow_period"].default


@pytest.mark.parametrize("seed_type", ALL)
def test_from_repaired_builds_what_model_construct_and_validation_build(seed_type: SeedType) -> None:
    """The direct construction behind `from_repaired` sets what pydantic's `model_construct` sets, and the
    genome is the one validation accepts: equal, same fields in the same order, dumps and hashes alike."""
    rng = np.random.default_rng(7)
    for _ in range(5):
        values = SeedGenes.random(seed_type, "r", rng).gene_values()
        fast = SeedGenes.from_repaired(seed_type, "x", values, 2)
        fields = SeedGenes._fields(seed_type, "x", values, 2)
        constructed, validated = SeedGenes.model_construct(**fields), SeedGenes(**fields)
        for other in (constructed, validated):
            assert fast == other and list(fast.__dict__) == list(other.__dict__)
            assert fast.model_dump() == other.model_dump() and fast.genes_hash() == other.genes_hash()
            assert fast.model_fields_set == other.model_fields_set
        assert fast.__pydantic_extra__ is None and fast.__pydantic_private__ is None
        with pytest.raises(ValidationError):
            fast.generation = 3  # still frozen
