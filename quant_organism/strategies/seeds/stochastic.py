"""Stochastic oscillator reversal: %K crossing %D inside the oversold / overbought zone.

%K = 100 * (close - lowest low) / (highest high - lowest low) over the last `fast_period` bars
(current bar included; undefined when the range is zero), %D = SMA(%K, signal_period). Long on the
bar %K crosses above %D while %D < 50 - entry, if close >= SMA(slow) * (1 - filter); a long exits
when %K > 50 - exit (with exit = -30: above 80). Shorts mirror it.
"""

from __future__ import annotations

from ..base import GeneColumns, RuleInputs, RuleSeed
from ..genes import SeedType
from ..indicators import Indicators


class StochasticSeed(RuleSeed):
    seed_type = SeedType.STOCHASTIC

    @classmethod
    def _rule_inputs(cls, ind: Indicators, g: GeneColumns) -> RuleInputs:
        k_period = g.ints("fast_period")
        k, (k_row,) = ind.table("stochastic_k", k_period)
        d, d_row = ind.stochastic_d_table(k_period, g.ints("signal_period"))
        sma, (sma_row,) = ind.table("sma", g.ints("slow_period"))
        args = (ind.bars.close, k, k_row, d, d_row, sma, sma_row, *g.thresholds())
        return RuleInputs("stochastic", args, ind.bars.close)
