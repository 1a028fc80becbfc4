"""The book's one-day value at risk and expected shortfall, by filtered historical simulation.

Why this method: crypto returns are fat-tailed and their volatility clusters. Plain historical simulation
(HS) keeps the fat tails but answers with last year's average volatility the day after a crash; a normal
VaR knows today's volatility but not the tails. Filtered historical simulation (Barone-Adesi et al., 1999)
keeps both: the positions held now are applied to each past day's coin returns (the book's scenarios), a
GARCH(1,1) fitted by `arch` (maintained, the project's library for these statistics) filters them to
standardised residuals, and the residuals scaled by tomorrow's forecast volatility are the scenarios whose
1% tail is read. With fewer than `min_days` of history, or a fit that fails, it falls back to plain HS and
says so in `method`.

The tail is read by order statistics, as a risk report states it: with n scenarios and level q, the
m = ceil((1 - q) * n) worst losses; VaR is the smallest of them, ES their mean. Both are fractions of the
book's equity, positive for a loss. VaR is linear in the positions, so scaling every position by
limit / VaR brings the book's VaR to the limit (`scale_for`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from arch import arch_model

FHS, HS = "filtered historical simulation", "historical simulation"


@dataclass(frozen=True)
class VarEstimate:
    var: float  # the one-day loss not exceeded with probability `level`, a fraction of equity
    es: float  # the mean loss beyond it
    level: float
    method: str
    scenarios: int
    exposure: float  # the book's gross exposure, a fraction of equity

    def to_dict(self) -> dict:
        return {"var": self.var, "es": self.es, "level": self.level, "method": self.method, "scenarios": self.scenarios,
                "exposure": self.exposure}  # fmt: skip


def tail(returns: np.ndarray, level: float = 0.99) -> tuple[float, float]:
    """(VaR, ES) of scenario returns by order statistics (module docstring); (0, 0) without scenarios."""
    losses = np.sort(-np.asarray(returns, dtype=np.float64))[::-1]
    if not len(losses):
        return 0.0, 0.0
    m = max(1, math.ceil((1.0 - level) * len(losses) - 1e-9))
    worst = losses[:m]
    return float(worst[-1]), float(worst.mean())


def book_scenarios(weights: Mapping[str, float], daily_returns: pd.DataFrame) -> np.ndarray:
    """Each past day's return of the positions held now: sum of weight x the coin's return that day, over the
    days on which every held coin has a return. `weights`: signed notional / equity per coin."""
    held = {c: w for c, w in weights.items() if w != 0.0}
    if not held:
        return np.zeros(0)
    missing = [c for c in held if c not in daily_returns.columns]
    if missing:
        raise ValueError(f"no return history for the held coin(s) {missing}")
    frame = daily_returns[list(held)].dropna()
    return frame.to_numpy() @ np.array(list(held.values()))


def filtered(scenarios: np.ndarray, level: float = 0.99, min_days: int = 250) -> tuple[float, float, str]:
    """(VaR, ES, method) of one-day book returns by FHS, or HS when the history is short or the fit fails."""
    if len(scenarios) < min_days or not np.any(scenarios):
        return (*tail(scenarios, level), HS)
    scale = 100.0 / max(np.std(scenarios), 1e-12)  # the optimiser works best on returns of order 1
    try:
        fit = arch_model(scenarios * scale, mean="Zero", vol="GARCH", p=1, q=1, dist="normal", rescale=False).fit(
            disp="off", show_warning=False
        )
    except (ValueError, np.linalg.LinAlgError):
        return (*tail(scenarios, level), HS)
    residuals = np.asarray(fit.std_resid)
    forecast = float(fit.forecast(horizon=1, reindex=False).variance.to_numpy()[-1, 0])
    if fit.convergence_flag != 0 or not np.all(np.isfinite(residuals)) or not math.isfinite(forecast) or forecast <= 0:
        return (*tail(scenarios, level), HS)
    var, es = tail(residuals * math.sqrt(forecast) / scale, level)
    return var, es, FHS


def book_var(
    weights: Mapping[str, float], daily_returns: pd.DataFrame, level: float = 0.99, lookback_days: int = 500, min_days: int = 250
) -> VarEstimate:
    """The VaR and ES of the positions `weights` over the last `lookback_days` of `daily_returns`."""
    scenarios = book_scenarios(weights, daily_returns.iloc[-lookback_days:])
    var, es, method = filtered(scenarios, level, min_days)
    gross = float(sum(abs(w) for w in weights.values()))
    return VarEstimate(max(var, 0.0), max(es, 0.0), level, method, len(scenarios), gross)


def scale_for(estimate: VarEstimate, limit: float | None) -> float:
    """The factor on every position that brings the VaR within `limit` (1 when it is within already)."""
    if limit is None or estimate.var <= limit or estimate.var <= 0.0:
        return 1.0
    return limit / estimate.var


def daily_returns(frames: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Each coin's close-to-close return per UTC day, from bars of any interval."""
    closes = {coin: frame["close"].resample("1D").last() for coin, frame in frames.items() if len(frame)}
    if not closes:
        return pd.DataFrame()
    return pd.DataFrame(closes).pct_change(fill_method=None).iloc[1:]
