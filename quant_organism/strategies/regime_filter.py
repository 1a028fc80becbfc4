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

from collections.abc import Mapping

import numpy as np
import pandas as pd

from quant_organism.core.bars import REGIME_BAR_COLUMNS, REGIME_HMM, REGIME_SENTIMENT, REGIME_TREND, REGIME_VOL
from quant_organism.strategies.compiled.position_tracking import flatten_disallowed

OFF, CALM_VOLATILITY, CALM_HMM, WITH_TREND, NO_EXTREME_SENTIMENT = range(5)
NAMES = {
    OFF: "off",
    CALM_VOLATILITY: "not in high volatility",
    CALM_HMM: "calm HMM state only",
    WITH_TREND: "with the market trend",
    NO_EXTREME_SENTIMENT: "not into extreme sentiment",
}
EXTREME_FEAR, EXTREME_GREED = 25.0, 75.0


Regimes = Mapping[str, np.ndarray]
"""The regime columns a frame carries, as float arrays (NaN = unknown) by column name."""


def regime_arrays(ohlcv: pd.DataFrame) -> dict[str, np.ndarray]:
    """The frame's regime columns (those of `REGIME_BAR_COLUMNS` it has) as float arrays."""
    return {name: ohlcv[name].to_numpy(dtype=np.float64, na_value=np.nan) for name in REGIME_BAR_COLUMNS if name in ohlcv.columns}


_READS = {CALM_VOLATILITY: REGIME_VOL, CALM_HMM: REGIME_HMM, WITH_TREND: REGIME_TREND, NO_EXTREME_SENTIMENT: REGIME_SENTIMENT}
"""The regime column each filter code reads."""


def allowed(regimes: Regimes, code: int) -> tuple[np.ndarray, np.ndarray] | None:
    """(long allowed, short allowed) per bar for one filter code, from `regime_arrays`; None when
    the code filters nothing: off, or its regime column is absent (nothing known, so every bar allowed)."""
    if code == OFF:
        return None
    if code not in _READS:
        raise ValueError(f"unknown regime_filter code {code!r}; expected 0..4")
    if _READS[code] not in regimes:
        return None
    values = regimes[_READS[code]]
    if code == CALM_VOLATILITY:
        ok = values != 2
        return ok, ok
    if code == CALM_HMM:
        ok = values != 1
        return ok, ok
    if code == WITH_TREND:
        return values != 0, values != 2
    with np.errstate(invalid="ignore"):  # NO_EXTREME_SENTIMENT: NaN (unknown) allows both sides
        return ~(values >= EXTREME_GREED), ~(values <= EXTREME_FEAR)


def apply_regime_filters(positions: np.ndarray, regimes: Regimes, codes: list[int], memo: dict | None = None) -> np.ndarray:
    """Positions (bars x genomes) with each genome's disallowed bars set flat (`regimes` from `regime_arrays`),
    by the very compiled rule the fused backtest applies (`flatten_disallowed`)."""
    masks, index = regime_masks(regimes, codes, positions.shape[0], memo)
    if not len(masks):
        return positions
    out = np.array(positions, copy=True)
    for g in np.flatnonzero(index >= 0):
        flatten_disallowed(out[:, g], masks[index[g]])
    return out


def regime_masks(regimes: Regimes, codes: list[int], n: int, memo: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The filters as compiled code takes them: (masks, index), where masks[k] holds the (long allowed,
    short allowed) bars of the k-th distinct code that filters anything and index[g] is genome g's row, -1
    when its gene filters nothing (off, or its regime column absent). Applied after the tracker exactly as
    `apply_regime_filters` does. `memo` (the bars' `masks`) keeps each code's mask (None: filters nothing),
    which depends on the bars only: evolution asks for them every generation."""
    memo = {} if memo is None else memo
    for code in {int(c) for c in codes} - memo.keys():
        pair = allowed(regimes, code)
        memo[code] = None if pair is None else np.stack(pair)
    used = sorted(code for code in {int(c) for c in codes} if memo[code] is not None)
    if not used:
        return np.empty((0, 2, n), dtype=np.bool_), np.full(len(codes), -1, dtype=np.int64)
    masks = memo[used[0]][None] if len(used) == 1 else np.stack([memo[code] for code in used])
    row = {code: k for k, code in enumerate(used)}
    return masks, np.array([row.get(int(c), -1) for c in codes], dtype=np.int64)
