"""Funding-rate carry: stand against the crowd that pays funding.

Needs a `funding_rate` column aligned so that the value at bar t is the rate published by bar t's
close (NaNs are carried forward from the last published rate). Score: minus the mean rate of the
last `fast_period` bars. When longs pay (mean rate > entry) go short and collect; when shorts pay
(mean < -entry) go long. A short exits once the mean rate drops below exit (long mirrored). Trend
guard: no short after the price rose more than `filter_threshold` over `slow_period` bars (no long
after a fall of that size), so the seed does not fade a squeeze.
"""

from __future__ import annotations

from ..base import GeneColumns, RuleInputs, RuleSeed
from ..genes import SeedType
from ..indicators import Indicators


class FundingCarrySeed(RuleSeed):
    seed_type = SeedType.FUNDING_CARRY
    needs_funding = True

    @classmethod
    def _rule_inputs(cls, ind: Indicators, g: GeneColumns) -> RuleInputs:
        funding_mean, (funding_row,) = ind.table("funding_mean", g.ints("fast_period"))
        args = (ind.bars.close, funding_mean, funding_row, g.ints("slow_period"), *g.thresholds())
        return RuleInputs("funding_carry", args, ind.bars.close)
