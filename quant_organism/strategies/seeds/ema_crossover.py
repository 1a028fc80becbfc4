"""EMA crossover: follow the trend when the fast EMA sits far enough above (below) the slow one.

Score: spread = EMA(fast) / EMA(slow) - 1. Long when spread > entry and the slow EMA rose by at
least `filter_threshold` over the last `signal_period` bars; exit when spread < exit (or undefined).
Shorts mirror it. Both EMAs and the slope use bars <= t only.
"""

from __future__ import annotations

from ..base import GeneColumns, RuleInputs, RuleSeed
from ..genes import SeedType
from ..indicators import Indicators


class EmaCrossoverSeed(RuleSeed):
    seed_type = SeedType.EMA_CROSSOVER
    average = "ema"  # SmaTrendSeed reads the same genes on simple averages for its own rule

    @classmethod
    def _rule_inputs(cls, ind: Indicators, g: GeneColumns) -> RuleInputs:
        average, (fast, slow) = ind.table(cls.average, g.ints("fast_period"), g.ints("slow_period"))
        args = (ind.bars.close, average, fast, slow, g.ints("signal_period"), *g.thresholds())
        return RuleInputs(cls.seed_type.value, args, ind.bars.close)
