"""Every seed on real Hyperliquid BTC hourly bars and funding: it trades, and it does not look ahead."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from quant_organism.strategies import ML_SEEDS, SeedGenes, SeedType, get_registry

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "market-data"


@pytest.fixture(scope="module")
def btc() -> pd.DataFrame:
    candles_file, funding_file = DATA / "hyperliquid__BTC_1h.csv", DATA / "hyperliquid__BTC_funding_1h.csv"
    if not (candles_file.exists() and funding_file.exists()):
        pytest.skip(f"real market data not found at {DATA}")
    candles = pd.read_csv(candles_file)
    candles.index = pd.to_datetime(candles.pop("timestamp_ms"), unit="ms", utc=True)
    funding = pd.read_csv(funding_file)
    # A rate stamped at time T (jittered by milliseconds) is known by the close of the bar that opens at
    # floor(T): assigning it there never uses a rate before it is published.
    stamp = pd.to_datetime(funding["time_ms"], unit="ms", utc=True).dt.floor("h")
    rates = funding.groupby(stamp)["funding_rate"].last()
    candles["funding_rate"] = rates.reindex(candles.index)
    return candles


@pytest.mark.parametrize("seed_type", list(SeedType), ids=lambda s: s.value)
def test_seeds_trade_real_bars_without_lookahead(btc: pd.DataFrame, seed_type: SeedType) -> None:
    rng = np.random.default_rng(0)
    genes = [SeedGenes.create_default(seed_type, "default")]
    if seed_type not in ML_SEEDS:
        genes += [SeedGenes.random(seed_type, f"r{i}", rng) for i in range(5)]
    registry = get_registry()
    full = registry.batch_signals(seed_type, btc, genes)
    assert (full["default"] != 0).mean() > 0.02, "default genes should take positions on a year of BTC"
    for cut in (2000, 5001, len(btc) - 1):
        prefix = registry.batch_signals(seed_type, btc.iloc[:cut], genes)
        pd.testing.assert_frame_equal(prefix, full.iloc[:cut])
