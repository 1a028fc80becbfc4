"""The runtime tests' small market and strategies: the synthetic market's frames, genes and configs."""

from __future__ import annotations

import pandas as pd

from quant_organism.backtest import CostModel
from quant_organism.catalog import StrategyConfig
from quant_organism.market.frames import to_strategy_frame
from quant_organism.market.sources.synthetic import SyntheticSource
from quant_organism.strategies import SeedGenes

COSTS = CostModel(taker_fee=0.0005, maker_fee=0.0002, slippage=0.0005)
START = pd.Timestamp("2020-01-01", tz="UTC")


def synthetic_frames(days: int = 30, coins=("BTC", "ETH"), seed: int = 3) -> dict[str, pd.DataFrame]:
    """Strategy frames (OHLCV + hourly funding) of the project's synthetic market."""
    source = SyntheticSource(seed=seed)
    end = START + pd.Timedelta(days=days)
    return {c: to_strategy_frame(source.candles(c, START, end), source.funding(c, START, end)) for c in coins}


def genes(seed_type: str, name: str = "g", **values) -> SeedGenes:
    return SeedGenes.from_gene_values(seed_type, name, values)


def config(g: SeedGenes, name: str | None = None, **fields) -> StrategyConfig:
    return StrategyConfig.from_genes(g, fitness_score=1.0, backtest_sharpe=1.0, name=name).model_copy(update=fields)
