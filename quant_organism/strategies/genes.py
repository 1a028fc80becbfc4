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

from collections.abc import Mapping
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from .gene_specs import (
    COMMON_GENES,
    PERIOD_GENES,
    REGIME_GENE,
    RISK_GENES,
    RULE_GENE,
    THRESHOLD_GENES,
    GeneKind,
    GeneRole,
    GeneSpec,
    GeneValue,
    Ordering,
    RuleGrammar,
    _rule_grammar,
    register_rule_grammar,
)
from .gene_table import (
    _SPACES,
    ML_SEEDS,
    TECHNICAL_SEEDS,
    SeedType,
    _gene_problems,
    _parameter_names,
    _seed_type,
    gene_orderings,
    gene_space,
    parameter_names,
    random_values,
    repair_values,
    restore_orderings,
)
from .genome_text import evolved_name, genes_hash, genes_hash_and_json, genes_json, hash_payload

__all__ = [  # the genome's public names, wherever they are declared (gene_specs, gene_table, genome_text)
    "COMMON_GENES", "ML_SEEDS", "PERIOD_GENES", "REGIME_GENE", "RISK_GENES", "RULE_GENE", "TECHNICAL_SEEDS",
    "THRESHOLD_GENES", "GeneKind", "GeneRole", "GeneSpec", "GeneValue", "Ordering", "RuleGrammar", "SeedGenes",
    "SeedType", "evolved_name", "gene_orderings", "gene_space", "genes_hash", "genes_hash_and_json", "genes_json",
    "hash_payload", "parameter_names", "random_values", "register_rule_grammar", "repair_values", "restore_orderings",
]  # fmt: skip


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
