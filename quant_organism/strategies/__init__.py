"""Strategy seeds: the genome (genes.py), the signal contract (base.py), the seeds and their registry.

Everything here is plain Python over numpy/pandas/scikit-learn; see base.py for the signal contract
and genes.py for the gene space that evolution mutates within.
"""

from .base import BaseSeed
from .genes import (
    COMMON_GENES,
    ML_SEEDS,
    TECHNICAL_SEEDS,
    GeneSpec,
    Ordering,
    SeedGenes,
    SeedType,
    gene_orderings,
    gene_space,
    parameter_names,
    repair_values,
)
from .ohlcv import SignalInputError
from .registry import SeedRegistry, get_registry
from .rule_tree import canonical_rule  # registers the rule trees' grammar with the genes

__all__ = [
    "COMMON_GENES",
    "ML_SEEDS",
    "TECHNICAL_SEEDS",
    "BaseSeed",
    "GeneSpec",
    "Ordering",
    "SeedGenes",
    "SeedRegistry",
    "SeedType",
    "SignalInputError",
    "gene_orderings",
    "gene_space",
    "get_registry",
    "parameter_names",
    "canonical_rule",
    "repair_values",
]
