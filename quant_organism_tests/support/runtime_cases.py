"""The runtime tests' small market and strategies: the synthetic market's frames, genes and configs."""

from __future__ import annotations

import numpy as np
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


HOURLY_START = pd.Timestamp("2024-01-01", tz="UTC")


def market(path: np.ndarray) -> pd.DataFrame:
    """Hourly bars following `path` (closes), each bar opening at the previous close."""
    index = pd.date_range(HOURLY_START, periods=len(path), freq="h")
    opens = np.r_[path[0], path[:-1]]
    return pd.DataFrame(
        {
            "open": opens,
            "high": np.maximum(opens, path) * 1.0005,
            "low": np.minimum(opens, path) * 0.9995,
            "close": path,
            "volume": 1000.0,
            "funding_rate": 0.0,
        },
        index=index,
    )


def always_long(name: str, allocation: float, status: str = "deployed") -> StrategyConfig:
    """A short Donchian breakout: long from the fifth bar of a rising market (no stop: only the controls act)."""
    genes = SeedGenes.from_gene_values(
        "donchian_breakout",
        name,
        {"fast_period": 2, "slow_period": 5, "stop_loss": 0.0, "take_profit": 0.0, "position_size": 1.0},
    )
    config = StrategyConfig.from_genes(genes, fitness_score=1.0, backtest_sharpe=1.0, name=name)
    config = config.transition("validated", "test").transition("deployed", "test", allocation=allocation)
    return config.transition("decaying", "paper Sharpe -3.0 < 0 after 7 days") if status == "decaying" else config
