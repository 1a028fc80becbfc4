"""Trend entry with an ATR trailing stop (chandelier exit), computed causally.

Long when EMA(fast) > EMA(slow), close > EMA(slow) + entry * ATR(signal_period) and ATR/close >=
`filter_threshold`. A long exits when the trend flips (EMA(fast) <= EMA(slow)) or when close drops
below the highest close since entry minus exit * ATR at that bar; the running high starts at the
entry bar, so the stop only ever uses closes already seen. After a stop the side re-arms only once
its entry condition has lapsed. Shorts mirror it.
"""

from __future__ import annotations

from ..base import GeneColumns, RuleInputs, RuleSeed
from ..genes import SeedType
from ..indicators import Indicators


class AtrStopSeed(RuleSeed):
    seed_type = SeedType.ATR_STOP

    @classmethod
    def _rule_inputs(cls, ind: Indicators, g: GeneColumns) -> RuleInputs:
        ema, (fast, slow) = ind.table("ema", g.ints("fast_period"), g.ints("slow_period"))
        atr, (atr_row,) = ind.table("atr", g.ints("signal_period"))
        args = (ind.bars.close, ema, fast, slow, atr, atr_row, g.floats("entry_threshold"), g.floats("filter_threshold"))
        trail = {"trail_scale": atr, "trail_row": atr_row, "trail_mult": g.floats("exit_threshold")}
        return RuleInputs("atr_stop", args, ind.bars.close, **trail)
