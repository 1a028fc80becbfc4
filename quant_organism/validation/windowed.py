"""Backtest candidates on one time window of one coin: signals with warm-up, metrics on the window only.

Convention (no lookahead, warm-up honoured):
- signals are computed on the coin's bars strictly before the window's end (the whole history the
  frame holds, or the last `warmup_bars` before the window plus the window), so an indicator is warm
  when the window opens and no bar at or after the window's end can reach a signal, even for a seed
  that were not causal;
- the backtest then runs on the window's bars [start, end) only, with those signals: the account
  opens flat with fresh cash at the window's first bar; a position the signal already holds at the
  first bar's close is entered at the second bar's open (the engine never trades the first open);
  a position still open at the window's last close is valued there (backtest/simulate.py, rule 6);
- funding is the frame's `funding_rate` column, charged on the window's bars as the backtest does;
- returns are annualised with the bar spacing of the whole history, so every window is scaled alike;
- with `warmup_bars=None` every window's signals start from the frame's first bar, so seeds whose
  state depends on where their input starts (the ML seeds refit on a schedule anchored at bar 0)
  behave the same way in every window.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from quant_organism.backtest.costs import CostModel
from quant_organism.backtest.simulate import BacktestResult, run_backtest
from quant_organism.core.metrics import bars_per_year
from quant_organism.core.windows import Window
from quant_organism.strategies.genes import SeedGenes


def run_window(
    candidates: Sequence[SeedGenes],
    frame: pd.DataFrame,
    window: Window,
    *,
    warmup_bars: int | None = None,
    costs: CostModel = CostModel(),
    consistency_period: str | int = "W",
    registry=None,
) -> BacktestResult | None:
    """Backtest every candidate (one column each, named by seed_id) on `window`; None when the frame has
    fewer than 2 bars in the window. See the module docstring for the convention."""
    if registry is None:
        from quant_organism.strategies.registry import get_registry

        registry = get_registry()
    _check_frame(frame)
    history = frame.loc[frame.index < window.end]
    inside = history.index >= window.start
    n_inside = int(inside.sum())
    if n_inside < 2:
        return None
    if warmup_bars is not None:
        if warmup_bars < 0:
            raise ValueError(f"warmup_bars must be >= 0 or None; got {warmup_bars}")
        history = history.iloc[max(0, len(history) - n_inside - warmup_bars) :]
        inside = history.index >= window.start
    signals = _signals(candidates, history, registry).loc[inside]
    bars = history.loc[inside]
    funding = bars["funding_rate"].to_numpy(dtype=np.float64) if "funding_rate" in bars.columns else None
    return run_backtest(
        bars[["open", "high", "low", "close"]],
        signals,
        stop_loss=[g.stop_loss for g in candidates],
        take_profit=[g.take_profit for g in candidates],
        position_size=[g.position_size for g in candidates],
        funding=funding,
        costs=costs,
        consistency_period=consistency_period,
        bars_per_year=bars_per_year(frame.index),
    )


def _signals(candidates: Sequence[SeedGenes], history: pd.DataFrame, registry) -> pd.DataFrame:
    """int8 target positions of all candidates on `history`, columns = seed_ids in candidate order."""
    groups: dict[object, list[SeedGenes]] = {}
    for genes in candidates:
        groups.setdefault(genes.seed_type, []).append(genes)
    parts = [registry.batch_signals(seed_type, history, group) for seed_type, group in groups.items()]
    signals = pd.concat(parts, axis=1)
    return signals.loc[:, [g.seed_id for g in candidates]]


def _check_frame(frame: pd.DataFrame) -> None:
    if not isinstance(frame, pd.DataFrame) or not isinstance(frame.index, pd.DatetimeIndex):
        raise ValueError("a coin frame must be a DataFrame indexed by UTC bar open times (market/frames.py)")
    if frame.index.tz is None:
        raise ValueError("a coin frame's index must be tz-aware UTC")
    if not (frame.index.is_monotonic_increasing and frame.index.is_unique):
        raise ValueError("a coin frame's bars must be sorted by time without duplicates")
