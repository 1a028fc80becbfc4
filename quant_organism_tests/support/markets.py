"""Small hand-made markets for tests (the organism's planted-edge markets live in market/sources/planted.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def planted_market(coins=("A", "B"), days=40, period=96, amplitude=0.08, noise=0.002, seed=1) -> dict[str, pd.DataFrame]:
    """Prices swinging in slow waves of `period` bars plus a little noise: a trend a well-tuned
    moving-average rule can ride, which random genomes mostly miss."""
    index = pd.date_range("2024-01-01", periods=days * 24, freq="h", tz="UTC")
    frames = {}
    for k, coin in enumerate(coins):
        rng = np.random.default_rng([seed, k])
        t = np.arange(len(index))
        log_price = np.log(100.0) + amplitude * np.sin(2 * np.pi * (t + 17 * k) / period)
        close = np.exp(log_price + np.cumsum(rng.normal(0.0, noise, len(t))))
        open_ = np.r_[close[0], close[:-1]]
        frames[coin] = pd.DataFrame(
            {
                "open": open_,
                "high": np.maximum(open_, close) * 1.001,
                "low": np.minimum(open_, close) * 0.999,
                "close": close,
                "volume": 1_000.0,
                "funding_rate": 1e-5,
            },
            index=index,
        )
    return frames


N_BARS = 1500


def regime_market(n: int = N_BARS, seed: int = 0) -> pd.DataFrame:
    """Hourly bars from a random walk switching between trend, chop, mean reversion and calm regimes.

    Includes a stretch of constant prices (zero volatility) and funding rates that are published
    only on some bars (NaN elsewhere), the awkward cases real data has.
    """
    rng = np.random.default_rng(seed)
    returns = np.empty(n)
    funding = np.empty(n)
    prev, t = 0.0, 0
    while t < n:
        length = int(rng.integers(60, 250))
        drift = rng.choice([-0.002, -0.0005, 0.0, 0.0005, 0.002])
        vol = rng.choice([0.002, 0.006, 0.015])
        phi = rng.choice([0.0, -0.5, 0.3])
        level = drift * 0.05 + rng.normal(1e-5, 3e-5)
        for k in range(t, min(t + length, n)):
            prev = drift + phi * prev + vol * rng.normal()
            returns[k] = prev
            funding[k] = level + rng.normal(0, 1e-5)
        t += length
    returns[700:730] = 0.0  # market halts: constant prices
    close = 100 * np.exp(np.cumsum(returns))
    open_ = np.r_[100.0, close[:-1]]
    wick = np.abs(rng.normal(0, 0.003, n))
    wick[700:730] = 0.0
    high = np.maximum(open_, close) * (1 + wick)
    low = np.minimum(open_, close) * (1 - wick)
    volume = rng.lognormal(7, 0.5, n) * (1 + 50 * np.abs(returns))
    funding[rng.random(n) < 0.05] = np.nan
    index = pd.date_range("2024-01-01", periods=n, freq="h", tz="UTC")
    return pd.DataFrame(
        {"open": open_, "high": high, "low": low, "close": close, "volume": volume, "funding_rate": funding},
        index=index,
    )
