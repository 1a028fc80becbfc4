"""EMA crossover: follow the trend when the fast EMA sits far enough above (below) the slow one.

Score: spread = EMA(fast) / EMA(slow) - 1. Long when spread > entry and the slow EMA rose by at
least `filter_threshold` over the last `signal_period` bars; exit when spread < exit (or undefined).
Shorts mirror it. Both EMAs and the slope use bars <= t only.
"""

from __future__ import annotations

from ..base import GeneColumns, RuleInputs, RuleSeed
from ..genes import SeedType
from ..indicators import Indicators
from ..ohlcv import Bars


class EmaCrossoverSeed(RuleSeed):
    seed_type = SeedType.EMA_CROSSOVER

    @classmethod
    def _rule_inputs(cls, bars: Bars, g: GeneColumns) -> RuleInputs:
        ind = Indicators(bars)
        ema, (fast, slow) = ind.table("ema", g.ints("fast_period"), g.ints("slow_period"))
        args = (
            bars.close,
            ema,
            fast,
            slow,
            g.ints("signal_period"),
            g.floats("entry_threshold"),
            g.floats("exit_threshold"),
            g.floats("filter_threshold"),
        )
        return RuleInputs("ema_crossover", args, bars.close)
