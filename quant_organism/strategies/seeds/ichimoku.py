"""Ichimoku cloud, in its causal form only.

The classic chart draws senkou spans A and B `displacement` bars AHEAD of the bar they are computed
on, and the chikou span (the close) `displacement` bars BEHIND. Read naively off a table, both leak
the future. Here the cloud in force at bar t is the one computed at bar t - displacement (exactly
what the chart shows above bar t), and the chikou test compares close[t] with close[t -
displacement] (what the chikou line at t - displacement shows, known at t).

Lines: tenkan = midpoint of the last `fast_period` bars' high/low, kijun = same over `slow_period`,
span A = (tenkan + kijun) / 2, span B = midpoint over `senkou_period`. Long when close > cloud top *
(1 + entry), tenkan > kijun and close[t] / close[t - displacement] - 1 > filter; a long exits when
close < kijun * (1 - exit). Shorts mirror it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..base import BaseSeed, GeneColumns
from ..genes import SeedGenes, SeedType
from ..indicators import TOL, Indicators, lag_columns, ratio
from ..ohlcv import Bars
from ..positions import hysteresis_positions


class IchimokuSeed(BaseSeed):
    seed_type = SeedType.ICHIMOKU

    @classmethod
    def _batch_positions(cls, bars: Bars, genes: Sequence[SeedGenes]) -> np.ndarray:
        ind, g = Indicators(bars), GeneColumns(genes)
        close = bars.close[:, None]
        displacement = g.ints("signal_period")
        tenkan = ind.matrix("midpoint", g.ints("fast_period"))
        kijun = ind.matrix("midpoint", g.ints("slow_period"))
        span_a = lag_columns((tenkan + kijun) / 2.0, displacement)
        span_b = lag_columns(ind.matrix("midpoint", g.ints("senkou_period")), displacement)
        top, bottom = np.maximum(span_a, span_b), np.minimum(span_a, span_b)  # NaN propagates
        chikou = ind.matrix("momentum", displacement)  # close[t] vs close[t - displacement]
        cross = ratio(tenkan, kijun)
        entry, exit_, min_momentum = g.row("entry_threshold"), g.row("exit_threshold"), g.row("filter_threshold")
        with np.errstate(invalid="ignore"):
            long_entry = (ratio(close, top) > entry + TOL) & (cross > TOL) & (chikou > min_momentum + TOL)
            short_entry = (ratio(close, bottom) < -entry - TOL) & (cross < -TOL) & (chikou < -min_momentum - TOL)
            to_kijun = ratio(close, kijun)
            long_exit = ~(to_kijun >= -exit_)
            short_exit = ~(to_kijun <= exit_)
        return hysteresis_positions(long_entry, long_exit, short_entry, short_exit, close=bars.close)
