"""The rule-tree seed: a tree of the templates' signals and regime conditions (strategies/rule_tree.py).

Registered like every seed, so the backtest, validation, the replay and paper trading run a tree through the same
registry calls as a template: one `positions_batch`, then the tree's own regime gene and risk genes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..base import BaseSeed
from ..genes import SeedGenes, SeedType
from ..ohlcv import Bars
from ..rule_tree import LEAF_SEEDS, tree_positions
from .atr_stop import AtrStopSeed
from .donchian_breakout import DonchianBreakoutSeed
from .ema_crossover import EmaCrossoverSeed
from .ichimoku import IchimokuSeed
from .rsi_filter import RsiFilterSeed
from .sma_trend import SmaTrendSeed
from .stochastic import StochasticSeed
from .volatility_scaling import VolatilityScalingSeed
from .vwap_reversion import VwapReversionSeed

LEAF_CLASSES: dict[SeedType, type[BaseSeed]] = {
    cls.seed_type: cls
    for cls in (
        EmaCrossoverSeed,
        DonchianBreakoutSeed,
        RsiFilterSeed,
        StochasticSeed,
        SmaTrendSeed,
        AtrStopSeed,
        IchimokuSeed,
        VwapReversionSeed,
        VolatilityScalingSeed,
    )
}
assert set(LEAF_CLASSES) == set(LEAF_SEEDS)


def _leaf_positions(seed_type: SeedType, bars: Bars, genes: list[SeedGenes]) -> np.ndarray:
    return LEAF_CLASSES[seed_type].positions_batch(bars, genes)


class RuleTreeSeed(BaseSeed):
    seed_type = SeedType.RULE_TREE

    @classmethod
    def _batch_positions(cls, bars: Bars, genes: Sequence[SeedGenes]) -> np.ndarray:
        return tree_positions(bars, [g.rule for g in genes], _leaf_positions)
