"""Rolling-VWAP reversion: fade closes stretched far from the volume-weighted price.

Score: -(close / VWAP - 1) / vol, where VWAP is the volume-weighted typical price of the last
`slow_period` bars (current included) and vol the std of the last `fast_period` one-bar log
returns; positive when price is stretched below VWAP. Long when the score > entry, optionally only
on volume >= `filter_threshold` x the previous `slow_period` bars' mean (capitulation); a long exits
when the score < exit (exit 0: back at VWAP) or after `signal_period` bars. Shorts mirror it.
"""

from __future__ import annotations

from ..base import GeneColumns, RuleInputs, RuleSeed
from ..genes import SeedType
from ..indicators import Indicators


class VwapReversionSeed(RuleSeed):
    seed_type = SeedType.VWAP_REVERSION

    @classmethod
    def _rule_inputs(cls, ind: Indicators, g: GeneColumns) -> RuleInputs:
        (vwap, volume_mean), (vwap_row,) = ind.tables(("vwap", "volume_mean"), g.ints("slow_period"))  # one index for both
        vol, (vol_row,) = ind.table("volatility", g.ints("fast_period"))
        bars = ind.bars
        args = (bars.close, bars.volume, vwap, vwap_row, vol, vol_row, volume_mean, *g.thresholds())
        return RuleInputs("vwap_reversion", args, bars.close, max_hold=g.ints("signal_period"))
