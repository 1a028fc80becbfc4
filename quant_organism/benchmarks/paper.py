"""`python -m quant_organism.benchmarks paper`: what paper trading day by day costs, next to one pass.

The paper asset trades one day at a time: it restores each book from the DuckDB ledger, feeds the engine
each strategy's history from its anchor (the first bar its backtest saw, so positions equal the
backtest's), computes the signals once on that history and proves them on prefixes, trades the day and
writes the day back. Side by side in one run, on the same strategies and bars: the same days as one pass
(one engine run, one ledger write). Reported as bars per second per strategy and the ratio, so the cost
of the anchored warm-up and the daily bookkeeping is visible.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from quant_organism.catalog.config import DataWindow, DeploymentStatus, StrategyConfig
from quant_organism.evolution.frames import market_frames
from quant_organism.evolution.operators import random_genome
from quant_organism.market.sources.synthetic import SyntheticSource
from quant_organism.runtime import PaperLedger, PaperTrader, RuntimePolicy, StrategyRuntimeEngine
from quant_organism.strategies import TECHNICAL_SEEDS

COINS = ("BTC", "ETH")


def strategies(anchor: pd.Timestamp) -> list[StrategyConfig]:
    """One deployed genome per technical seed, from evolution's sampler."""
    rng = np.random.default_rng(3)
    window = DataWindow(start=anchor.to_pydatetime(), end=(anchor + pd.Timedelta(days=30)).to_pydatetime(),
                        coins=COINS, interval="1h")  # fmt: skip
    configs = []
    for seed_type in TECHNICAL_SEEDS:
        config = StrategyConfig.from_genes(random_genome(seed_type, rng), fitness_score=1.0, backtest_sharpe=1.0,
                                           data_window=window)  # fmt: skip
        config = config.transition(DeploymentStatus.VALIDATED, "bench").transition(
            DeploymentStatus.DEPLOYED, "bench", allocation=1.0 / len(TECHNICAL_SEEDS)
        )
        configs.append(config)
    return configs


def engine(configs: list[StrategyConfig]) -> StrategyRuntimeEngine:
    return StrategyRuntimeEngine(configs, policy=RuntimePolicy.backtest_parity(), signal_mode="precomputed", coins=COINS)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m quant_organism.benchmarks paper", description=__doc__)
    parser.add_argument("--history-days", type=int, default=540, help="days from the anchor to the first paper day")
    parser.add_argument("--days", type=int, default=20, help="paper-trading days")
    args = parser.parse_args(argv)
    anchor = pd.Timestamp("2024-01-01", tz="UTC")
    first = anchor + pd.Timedelta(days=args.history_days)
    end = first + pd.Timedelta(days=args.days)
    source = SyntheticSource()
    frames = market_frames(source, COINS, anchor, end)
    configs = strategies(anchor)
    days = pd.date_range(first, periods=args.days, freq="D")
    bars = args.days * 24 * len(COINS)  # bars each strategy trades (all its coins)
    with tempfile.TemporaryDirectory(prefix="qo-bench-paper-") as tmp:
        ledger = PaperLedger(Path(tmp) / "daily.duckdb")
        started = time.perf_counter()
        for day in days:
            cut = {c: f.loc[f.index < day + pd.Timedelta(days=1)] for c, f in frames.items()}
            PaperTrader(engine(configs), ledger).run(cut, start=day, end=day + pd.Timedelta(days=1))
        daily = time.perf_counter() - started
        ledger = PaperLedger(Path(tmp) / "once.duckdb")
        started = time.perf_counter()
        PaperTrader(engine(configs), ledger).run(frames, start=first, end=end)
        once = time.perf_counter() - started
    print(
        f"paper trading {len(configs)} strategies x {len(COINS)} coins, {args.days} days of 1h bars, history anchored "
        f"{args.history_days} days before:\n"
        f"  day by day (the asset's way: restore, anchored signals proven on prefixes, write): {daily:6.2f} s, "
        f"{bars / daily:,.0f} bars/s per strategy\n"
        f"  one pass over the {args.days} days:                                            {once:6.2f} s, "
        f"{bars / once:,.0f} bars/s per strategy  (day by day x{daily / once:.1f} the time)"
    )
    return 0
