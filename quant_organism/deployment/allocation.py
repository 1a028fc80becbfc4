"""Capital allocation: fractional Kelly with a safety factor, per-strategy caps and a cash remainder.

For each strategy, on its per-bar (or daily) returns r:

    f* = mean(r) / var(r)                  continuous Kelly (growth-optimal leverage of the stream)
    w  = clip(kelly_fraction * f*, 0, max_weight)

`kelly_fraction` (default 0.25, "quarter Kelly") is the safety factor: full Kelly is optimal only if
the mean and variance are known exactly, and validation windows estimate them with a large error;
a quarter of Kelly keeps about 44% of the growth rate at a fraction of the drawdown. f* is nearly
the same for per-bar and daily returns of an i.i.d. stream (mean and variance both scale with the
horizon), so either may be given. A negative or undefined edge (fewer than 2 finite returns, zero
variance) gets 0. Each weight is capped at `max_weight` (default 0.25), which may not exceed the
`HARD_CAP` of 0.40; when the weights sum above 1 they are scaled down together (scaling keeps every
cap and the ranking); what is left is cash. Strategy returns are already leveraged by their own
`position_size`, so a weight is the fraction of capital given to that strategy's equity stream.
NaN/inf returns are ignored (each column uses its own finite bars); the result is deterministic.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

HARD_CAP = 0.40
"""No strategy ever gets more than this fraction of capital, whatever the configuration says."""
DEFAULT_KELLY_FRACTION = 0.25
DEFAULT_MAX_WEIGHT = 0.25
SUM_TOLERANCE = 1e-9


@dataclass(frozen=True)
class AllocationConfig:
    """Sizing rules; `max_weight` above `HARD_CAP` is refused."""

    kelly_fraction: float = DEFAULT_KELLY_FRACTION
    max_weight: float = DEFAULT_MAX_WEIGHT

    def __post_init__(self) -> None:
        for name in ("kelly_fraction", "max_weight"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"{name} must be a finite number; got {value!r}")
        if not 0.0 < self.kelly_fraction <= 1.0:
            raise ValueError(f"kelly_fraction must be in (0, 1] (a safety factor on full Kelly); got {self.kelly_fraction}")
        if not 0.0 < self.max_weight <= HARD_CAP:
            raise ValueError(
                f"max_weight {self.max_weight} must be in (0, {HARD_CAP}]: no strategy may exceed the hard cap "
                f"of {HARD_CAP:.0%} of capital"
            )


@dataclass(frozen=True)
class Allocation:
    """Weights per strategy (input order), the raw Kelly f* behind them, the scale applied and the cash."""

    weights: dict[str, float]
    kelly_raw: dict[str, float]
    scale: float  # 1.0, or the factor that brought the capped weights' sum down to 1
    cash: float

    @property
    def total(self) -> float:
        return float(sum(self.weights.values()))


def kelly_fractions(returns: pd.DataFrame) -> pd.Series:
    """Continuous Kelly f* = mean / variance of each column's finite returns; 0 where undefined.

    Undefined means fewer than 2 finite returns or zero variance: no measurable edge, so no capital.
    """
    frame = _numeric_frame(returns)
    values = frame.to_numpy(dtype=np.float64, copy=True)
    values[~np.isfinite(values)] = np.nan
    out = np.zeros(values.shape[1])
    for j in range(values.shape[1]):
        column = values[:, j]
        column = column[~np.isnan(column)]
        if column.size < 2:
            continue
        variance = float(np.var(column, ddof=1))
        if not variance > 0.0 or not math.isfinite(variance):
            continue
        f = float(np.mean(column)) / variance
        out[j] = f if math.isfinite(f) else 0.0
    return pd.Series(out, index=frame.columns, dtype=np.float64, name="kelly_raw")


def allocate(returns: pd.DataFrame, config: AllocationConfig = AllocationConfig()) -> Allocation:
    """Fractional-Kelly weights for every column of `returns` (see the module docstring)."""
    raw = kelly_fractions(returns)
    return allocate_from_kelly(raw.to_dict(), config)


def allocate_from_kelly(kelly_raw: Mapping[str, float], config: AllocationConfig = AllocationConfig()) -> Allocation:
    """Weights from raw Kelly fractions: safety factor, floor at 0, cap, scale the sum down to <= 1."""
    if not isinstance(config, AllocationConfig):
        raise TypeError(f"config must be an AllocationConfig; got {type(config).__name__}")
    cap = min(config.max_weight, HARD_CAP)
    raw = {str(name): float(f) if f is not None and math.isfinite(float(f)) else 0.0 for name, f in kelly_raw.items()}
    weights = {name: min(max(config.kelly_fraction * f, 0.0), cap) for name, f in raw.items()}
    total = math.fsum(weights.values())
    scale = 1.0
    if total > 1.0:
        scale = 1.0 / total
        weights = {name: w * scale for name, w in weights.items()}
        total = math.fsum(weights.values())
        if total > 1.0:  # rounding: shave the excess off the largest weight
            largest = max(weights, key=lambda n: (weights[n], n))
            weights[largest] -= total - 1.0
            total = math.fsum(weights.values())
    cash = max(0.0, 1.0 - total)
    return Allocation(weights=weights, kelly_raw=raw, scale=scale, cash=cash)


def _numeric_frame(returns: pd.DataFrame) -> pd.DataFrame:
    if not isinstance(returns, pd.DataFrame):
        raise TypeError(f"returns must be a DataFrame (one column per strategy); got {type(returns).__name__}")
    if not returns.columns.is_unique:
        duplicated = sorted(map(str, returns.columns[returns.columns.duplicated()].unique()))
        raise ValueError(f"returns has duplicate columns {duplicated}; one column per strategy")
    bad = [str(c) for c in returns.columns if not pd.api.types.is_numeric_dtype(returns[c])]
    if bad:
        raise ValueError(f"returns columns must be numeric; not numeric: {bad}")
    return returns
