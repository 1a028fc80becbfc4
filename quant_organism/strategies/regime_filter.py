"""The regime gene: when a strategy may hold a position, decided from the regimes known at each bar.

Applied to every seed's target positions in one place (`BaseSeed.generate_signals_batch`), so the
backtest, validation, the replay and paper trading all see the same filtered signals. A bar whose
regime is unknown (no regime series joined, or too little history) is not filtered: the gene acts
only on what is known.

Codes (`regime_filter`): 0 off; 1 flat in high volatility; 2 flat in the turbulent HMM state; 3 with
the market trend only (no long in a down trend, no short in an up trend); 4 not into extreme sentiment
(no long at extreme greed >= 75, no short at extreme fear <= 25).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from quant_organism.core.bars import REGIME_HMM, REGIME_SENTIMENT, REGIME_TREND, REGIME_VOL

OFF, CALM_VOLATILITY, CALM_HMM, WITH_TREND, NO_EXTREME_SENTIMENT = range(5)
NAMES = {OFF: "off", CALM_VOLATILITY: "not in high volatility", CALM_HMM: "calm HMM state only",
         WITH_TREND: "with the market trend", NO_EXTREME_SENTIMENT: "not into extreme sentiment"}
EXTREME_FEAR, EXTREME_GREED = 25.0, 75.0


def _column(ohlcv: pd.DataFrame, name: str, fill: float) -> np.ndarray:
    if name not in ohlcv.columns:
        return np.full(len(ohlcv), fill)
    return ohlcv[name].to_numpy(dtype=np.float64, na_value=np.nan)


def allowed(ohlcv: pd.DataFrame, code: int) -> tuple[np.ndarray, np.ndarray]:
    """(long allowed, short allowed) per bar for one filter code."""
    n = len(ohlcv)
    yes = np.ones(n, dtype=bool)
    if code == OFF:
        return yes, yes
    if code == CALM_VOLATILITY:
        ok = _column(ohlcv, REGIME_VOL, -1) != 2
        return ok, ok
    if code == CALM_HMM:
        ok = _column(ohlcv, REGIME_HMM, -1) != 1
        return ok, ok
    if code == WITH_TREND:
        trend = _column(ohlcv, REGIME_TREND, -1)
        return trend != 0, trend != 2
    if code == NO_EXTREME_SENTIMENT:
        sentiment = _column(ohlcv, REGIME_SENTIMENT, np.nan)
        with np.errstate(invalid="ignore"):
            return ~(sentiment >= EXTREME_GREED), ~(sentiment <= EXTREME_FEAR)
    raise ValueError(f"unknown regime_filter code {code!r}; expected 0..4")


def apply_regime_filters(positions: np.ndarray, ohlcv: pd.DataFrame, codes: list[int]) -> np.ndarray:
    """Positions (bars x genomes) with each genome's disallowed bars set flat."""
    if not any(codes):
        return positions
    out = np.array(positions, copy=True)
    masks: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for j, code in enumerate(codes):
        if code == OFF:
            continue
        if code not in masks:
            masks[code] = allowed(ohlcv, code)
        long_ok, short_ok = masks[code]
        column = out[:, j]
        column[(column > 0) & ~long_ok] = 0
        column[(column < 0) & ~short_ok] = 0
    return out
