"""Sharpe, Sortino and drawdown, compiled: the sums and the running path state the backtest's kernels fold in; see core/metrics.py."""

from __future__ import annotations

import numpy as np
from numba import njit, vectorize

ZERO_VARIANCE = 1e-12  # a variance at most this share of the mean square counts as zero

_SUMS = ["float64(float64, float64, float64, float64)"]


@vectorize(_SUMS, cache=True)
def sharpe_from_sums(total, total_sq, n, periods_per_year):
    """Annualised Sharpe of n returns from their sum and sum of squares (elementwise over arrays)."""
    if n < 2.0:
        return 0.0
    mean = total / n
    variance = max(total_sq - n * mean * mean, 0.0) / (n - 1.0)
    if variance <= ZERO_VARIANCE * (total_sq / n):
        return 0.0
    return mean / np.sqrt(variance) * np.sqrt(periods_per_year)


@vectorize(_SUMS, cache=True)
def sortino_from_sums(total, down_sq, n, periods_per_year):
    """Annualised Sortino of n returns from their sum and the sum of their squared losses."""
    if n < 2.0 or down_sq <= 0.0:
        return 0.0
    return total / n / np.sqrt(down_sq / n) * np.sqrt(periods_per_year)


@njit(cache=True)
def fall_from(reference, equity):
    """How far `equity` stands below `reference` (a peak, a day's open) as a positive fraction; 0 for a
    non-positive reference."""
    return 1.0 - equity / reference if reference > 0.0 else 0.0


@njit(cache=True, inline="always")
def path_start_nb(start, first_period):
    """The running state of `path_figures_nb` before a path's first mark: (previous mark, peak, floor below which a
    drawdown deepens, max drawdown, sum of returns, sum of squares, sum of squared losses, the current
    sub-period's first mark, its id, positive sub-periods so far)."""
    return start, start, start, 0.0, 0.0, 0.0, 0.0, start, first_period, 0


@njit(cache=True, inline="always")
def path_hold_nb(state, last_period_id):
    """The running state after any number of marks equal to the previous one, the last in sub-period
    `last_period_id`: what `path_step_nb` makes of them one by one when sub-period ids never decrease (a
    backtest's bars are sorted). Unchanged marks add nothing to the sums, the peak or the drawdown; the first new
    sub-period among them closes the current one (positive if the mark rose in it), and the later ones open and
    close on the same mark (never positive). So a flat stretch costs one step, not one per bar; and one mark's
    sub-period is this with one mark (`path_step_nb` calls it)."""
    prev, peak, floor, max_dd, total, total_sq, down_sq, period_start, current, positive = state
    if last_period_id != current:
        if prev > period_start:
            positive += 1
        period_start = prev
        current = last_period_id
    return prev, peak, floor, max_dd, total, total_sq, down_sq, period_start, current, positive


@njit(cache=True, inline="always")
def path_step_nb(state, eq, period_id):
    """The running state after the next mark `eq`, in sub-period `period_id`. Compiled into its callers (numba
    inlines it), so that the backtest kernel takes each mark as it makes it, with this very arithmetic, instead
    of a second pass over the stored path."""
    # A new sub-period closes the current one on the previous mark (`path_hold_nb`), whatever this mark is.
    prev, peak, floor, max_dd, total, total_sq, down_sq, period_start, current, positive = path_hold_nb(state, period_id)
    # An unchanged mark (a flat bar: most bars of most strategies) returns exactly 0, adds exactly nothing to
    # the sums (0 + 0 is +0, and a return is never -0) and sets no peak or floor.
    if eq != prev:
        r = eq / prev - 1.0 if prev > 0.0 else 0.0
        total += r
        total_sq += r * r
        neg = min(r, 0.0)  # branchless: the sign of returns is a coin flip the CPU cannot predict
        down_sq += neg * neg
        if eq > peak:
            peak = eq
            floor = peak * (1.0 - max_dd)
        elif eq < floor:
            max_dd = fall_from(peak, eq)
            floor = eq
    return eq, peak, floor, max_dd, total, total_sq, down_sq, period_start, current, positive


@njit(cache=True, inline="always")
def path_end_nb(state, n, start, n_periods, periods_per_year):
    """(total return, Sharpe, Sortino, max drawdown, consistency) of the n marks the state has taken."""
    prev, _, _, max_dd, total, total_sq, down_sq, period_start, _, positive = state
    if n > 0 and prev > period_start:
        positive += 1
    total_return = (prev / start - 1.0) if n > 0 else 0.0
    consistency = positive / n_periods if n_periods > 0 else 0.0
    sharpe = sharpe_from_sums(total, total_sq, float(n), periods_per_year)
    sortino = sortino_from_sums(total, down_sq, float(n), periods_per_year)
    return total_return, sharpe, sortino, max_dd, consistency


@njit(cache=True)
def path_figures_nb(equity, start, period_ids, n_periods, periods_per_year):
    """(total return, Sharpe, Sortino, max drawdown, consistency) of an equity path marked per period.

    One pass, one division per bar. `start` is the initial capital (the first return's base and the first
    peak); `period_ids` number the consistency sub-periods 0, 1, ... in order (n_periods of them).
    """
    n = equity.shape[0]
    state = path_start_nb(start, period_ids[0] if n > 0 else 0)
    for i in range(n):
        state = path_step_nb(state, equity[i], period_ids[i])
    return path_end_nb(state, n, start, n_periods, periods_per_year)
