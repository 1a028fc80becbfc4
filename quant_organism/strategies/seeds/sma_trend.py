"""SMA trend filter: hold the side of the slow SMA that price is on, when the fast SMA and the slope agree.

Score: close / SMA(slow) - 1. Long when the score > entry, SMA(fast) > SMA(slow) and the slow SMA
rose by at least `filter_threshold` over `signal_period` bars; exit when the score < exit (or
undefined). Shorts mirror it. All averages end at bar t.
"""

from __future__ import annotations

from ..genes import SeedType
from .ema_crossover import EmaCrossoverSeed


class SmaTrendSeed(EmaCrossoverSeed):
    """Its rule (seed_rules.sma_trend) on the crossover's inputs, over simple moving averages."""

    seed_type = SeedType.SMA_TREND
    average = "sma"
