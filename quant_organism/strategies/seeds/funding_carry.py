"""Funding-rate carry: stand against the crowd that pays funding.

Needs a `funding_rate` column aligned so that the value at bar t is the rate published by bar t's
close (NaNs are carried forward from the last published rate). Score: minus the mean rate of the
last `fast_period` bars. When longs pay (mean rate > entry) go short and collect; when shorts pay
(mean < -entry) go long. A short exits once the mean rate drops below exit (long mirrored). Trend
guard: no short after the price rose more than `filter_threshold` over `slow_period` bars (no long
after a fall of that size), so the seed does not fade a squeeze.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..base import BaseSeed, GeneColumns
from ..genes import SeedGenes, SeedType
from ..indicators import Indicators
from ..ohlcv import Bars
from ..positions import hysteresis_positions, score_conditions


class FundingCarrySeed(BaseSeed):
    seed_type = SeedType.FUNDING_CARRY
    needs_funding = True

    @classmethod
    def _batch_positions(cls, bars: Bars, genes: Sequence[SeedGenes]) -> np.ndarray:
        ind, g = Indicators(bars), GeneColumns(genes)
        score = -ind.matrix("funding_mean", g.ints("fast_period"))
        momentum = ind.matrix("momentum", g.ints("slow_period"))
        guard = g.row("filter_threshold")
        with np.errstate(invalid="ignore"):
            long_ok, short_ok = momentum > -guard, momentum < guard
        conditions = score_conditions(score, g.row("entry_threshold"), g.row("exit_threshold"), long_ok, short_ok)
        return hysteresis_positions(*conditions, close=bars.close)
