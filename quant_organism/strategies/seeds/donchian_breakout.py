"""Donchian breakout (turtle style): enter on a close beyond the previous N bars' range.

The entry channel is the highest high / lowest low of the previous `slow_period` bars, EXCLUDING the
current bar (a bar cannot break out of a range that already contains it). Long when close >
upper * (1 + entry), optionally only on volume >= `filter_threshold` x the mean of the previous
`signal_period` bars. A long exits when close < the previous `fast_period` bars' lowest low *
(1 - exit); shorts mirror it.
"""

from __future__ import annotations

from ..base import GeneColumns, RuleInputs, RuleSeed
from ..genes import SeedType
from ..indicators import Indicators


class DonchianBreakoutSeed(RuleSeed):
    seed_type = SeedType.DONCHIAN_BREAKOUT

    @classmethod
    def _rule_inputs(cls, ind: Indicators, g: GeneColumns) -> RuleInputs:
        slow, fast = g.ints("slow_period"), g.ints("fast_period")
        (highs, lows), (slow_row, fast_row) = ind.tables(("rolling_high", "rolling_low"), slow, fast)  # one index for both
        volume_mean, (volume_row,) = ind.table("volume_mean", g.ints("signal_period"))
        bars = ind.bars
        args = (bars.close, bars.volume, highs, lows, slow_row, fast_row, volume_mean, volume_row, *g.thresholds())
        return RuleInputs("donchian_breakout", args, bars.close)
