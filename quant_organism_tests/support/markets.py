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
