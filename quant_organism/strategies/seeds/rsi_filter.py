"""RSI mean reversion with a trend filter: buy oversold dips, sell overbought rallies.

Score: 50 - RSI(fast_period) (Wilder), positive when oversold. Long when RSI < 50 - entry and close
>= SMA(slow) * (1 - filter): with a small filter it only buys dips in an uptrend (Connors style),
with filter 0.5 the trend is ignored. A long exits when RSI > 50 - exit or after `signal_period`
bars (time stop). Shorts mirror it.
"""

from __future__ import annotations

from ..base import GeneColumns, RuleInputs, RuleSeed
from ..genes import SeedType
from ..indicators import Indicators


class RsiFilterSeed(RuleSeed):
    seed_type = SeedType.RSI_FILTER

    @classmethod
    def _rule_inputs(cls, ind: Indicators, g: GeneColumns) -> RuleInputs:
        rsi, (rsi_row,) = ind.table("rsi", g.ints("fast_period"))
        sma, (sma_row,) = ind.table("sma", g.ints("slow_period"))
        args = (ind.bars.close, rsi, rsi_row, sma, sma_row, *g.thresholds())
        return RuleInputs("rsi_filter", args, ind.bars.close, max_hold=g.ints("signal_period"))
