"""The stop-loss / take-profit exit rule, compiled once: the backtest's kernel, the paper book's and the live watch use it.

From the bar after the entry bar (the callers see to that): a level the bar gapped through at its open exits at the
open; else a level touched within the bar (low or high) exits at the level; when both are touched, the stop. An
absent level is NaN or +-inf, with which no comparison is ever true. A single trade is a bar whose open, high and
low are its price, so the live watch fires on the first trade past a level, at that trade's price.
"""

from __future__ import annotations

from numba import njit

NO_EXIT, STOP, TAKE = 0, 1, 2


@njit(cache=True)
def exit_at(direction, open_, high, low, stop, take):  # pragma: no cover - numba
    """(exit price, STOP | TAKE | NO_EXIT) of a position of `direction` (+1 long, -1 short) over one bar."""
    if direction > 0:
        if open_ <= stop:
            return open_, STOP
        if open_ >= take:
            return open_, TAKE
        if low <= stop:
            return stop, STOP
        if high >= take:
            return take, TAKE
    else:
        if open_ >= stop:
            return open_, STOP
        if open_ <= take:
            return open_, TAKE
        if high >= stop:
            return stop, STOP
        if low <= take:
            return take, TAKE
    return 0.0, NO_EXIT
