"""Exchange-like tables for the Hyperliquid replay server: hourly bars at the exchange's precision and hourly
funding stamped a few milliseconds after the hour, as the real API sends them."""

from __future__ import annotations

import numpy as np
import pandas as pd


def synthetic_candles(start: pd.Timestamp, periods: int, seed: int = 0) -> pd.DataFrame:
    """Hourly random-walk bars at exchange-like precision (prices to 0.1, volume to 1e-5)."""
    rng = np.random.default_rng(seed)
    close = np.round(60_000 * np.exp(np.cumsum(rng.normal(0, 0.004, periods))), 1)
    open_ = np.r_[60_000.0, close[:-1]]
    high = np.round(np.maximum(open_, close) * (1 + rng.uniform(0, 0.002, periods)), 1)
    low = np.round(np.minimum(open_, close) * (1 - rng.uniform(0, 0.002, periods)), 1)
    return pd.DataFrame(
        {
            "timestamp": pd.date_range(start, periods=periods, freq="1h"),
            "open": open_,
            "high": high,
            "low": low,
            "close": close,
            "volume": np.round(rng.uniform(10, 900, periods), 5),
            "n": rng.integers(100, 5000, periods),
        }
    )


def synthetic_funding(start: pd.Timestamp, periods: int, seed: int = 1) -> pd.DataFrame:
    """Hourly funding stamped a few ms after the hour, as the exchange does."""
    rng = np.random.default_rng(seed)
    hours = pd.date_range(start, periods=periods, freq="1h")
    jitter = pd.to_timedelta(rng.integers(1, 400, periods), unit="ms")
    return pd.DataFrame({"timestamp": hours + jitter, "funding_rate": np.round(rng.normal(1e-5, 3e-5, periods), 8)})
