"""One module per strategy seed; `SEED_CLASSES` maps each SeedType to its class."""

from __future__ import annotations

from ..base import BaseSeed
from ..genes import SeedType
from .atr_stop import AtrStopSeed
from .donchian_breakout import DonchianBreakoutSeed
from .ema_crossover import EmaCrossoverSeed
from .funding_carry import FundingCarrySeed
from .ichimoku import IchimokuSeed
from .linear_svc import LinearSvcSeed
from .pca_tree_quantile import PcaTreeQuantileSeed
from .rsi_filter import RsiFilterSeed
from .sma_trend import SmaTrendSeed
from .stochastic import StochasticSeed
from .volatility_scaling import VolatilityScalingSeed
from .vwap_reversion import VwapReversionSeed

SEED_CLASSES: dict[SeedType, type[BaseSeed]] = {
    cls.seed_type: cls
    for cls in (
        EmaCrossoverSeed,
        DonchianBreakoutSeed,
        RsiFilterSeed,
        StochasticSeed,
        SmaTrendSeed,
        AtrStopSeed,
        IchimokuSeed,
        VwapReversionSeed,
        VolatilityScalingSeed,
        FundingCarrySeed,
        LinearSvcSeed,
        PcaTreeQuantileSeed,
    )
}

__all__ = [
    "SEED_CLASSES",
    "AtrStopSeed",
    "DonchianBreakoutSeed",
    "EmaCrossoverSeed",
    "FundingCarrySeed",
    "IchimokuSeed",
    "LinearSvcSeed",
    "PcaTreeQuantileSeed",
    "RsiFilterSeed",
    "SmaTrendSeed",
    "StochasticSeed",
    "VolatilityScalingSeed",
    "VwapReversionSeed",
]
