"""One module per strategy seed; `SEED_CLASSES` maps each SeedType to its class."""

from __future__ import annotations

from ..base import BaseSeed
from ..genes import SeedType
from .funding_carry import FundingCarrySeed
from .linear_svc import LinearSvcSeed
from .pca_tree_quantile import PcaTreeQuantileSeed
from .rule_tree_seed import LEAF_CLASSES, RuleTreeSeed

_CLASSES = {
    **LEAF_CLASSES,
    **{cls.seed_type: cls for cls in (FundingCarrySeed, LinearSvcSeed, PcaTreeQuantileSeed, RuleTreeSeed)},
}
SEED_CLASSES: dict[SeedType, type[BaseSeed]] = {seed_type: _CLASSES[seed_type] for seed_type in SeedType}
"""Every seed's class, in SeedType's order: the rule trees' leaf templates (seeds/rule_tree_seed.py) and the others."""

__all__ = ["SEED_CLASSES"]
