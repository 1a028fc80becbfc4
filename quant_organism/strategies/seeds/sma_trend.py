"""SMA trend filter: hold the side of the slow SMA that price is on, when the fast SMA and the slope agree.

Score: close / SMA(slow) - 1. Long when the score > entry, SMA(fast) > SMA(slow) and the slow SMA
rose by at least `filter_threshold` over `signal_period` bars; exit when the score < exit (or
undefined). Shorts mirror it. All averages end at bar t.
"""

from __future__ import annotations

from ..base import GeneColumns, RuleInputs, RuleSeed
from ..genes import SeedType
from ..indicators import Indicators
from ..ohlcv import Bars


class SmaTrendSeed(RuleSeed):
    seed_type = SeedType.SMA_TREND

    @classmethod
    def _rule_inputs(cls, bars: Bars, g: GeneColumns) -> RuleInputs:
        ind = Indicators(bars)
        sma, (fast, slow) = ind.table("sma", g.ints("fast_period"), g.ints("slow_period"))
        args = (
            bars.close,
            sma,
            fast,
            slow,
            g.ints("signal_period"),
            g.floats("entry_threshold"),
            g.floats("exit_threshold"),
            g.floats("filter_threshold"),
        )
        return RuleInputs("sma_trend", args, bars.close)
