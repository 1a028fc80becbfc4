"""numba kernels for the rolling statistics behind the indicators (pandas semantics, ~30x less overhead).

Each kernel walks the series once, left to right, so its output at t depends only on inputs <= t and a
prefix of the input yields a bit-identical prefix of the output. Windows need `window` non-NaN values
(pandas' default `min_periods=window`), otherwise NaN. Sums are Kahan-compensated, and a window whose
values are all equal returns that value exactly (mean) or exactly 0 (std), as pandas does, so constant
prices never produce indicator noise that could cross a threshold.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def _kahan_add(total, comp, value):  # pragma: no cover - numba
    y = value - comp
    t = total + y
    return t, (t - total) - y


@njit(cache=True)
def rolling_sum_mean(x, window, mean):  # pragma: no cover - numba
    """Rolling sum (mean=False) or mean (mean=True) over `window` values."""
    n = x.shape[0]
    out = np.full(n, np.nan)
    total = 0.0
    comp = 0.0
    count = 0
    run = 0
    for t in range(n):
        v = x[t]
        if v == v:
            total, comp = _kahan_add(total, comp, v)
            count += 1
            run = run + 1 if t > 0 and x[t - 1] == v else 1
        else:
            run = 0
        if t >= window:
            old = x[t - window]
            if old == old:
                total, comp = _kahan_add(total, comp, -old)
                count -= 1
        if t >= window - 1 and count == window:
            if run >= window:
                out[t] = v if mean else v * window
            else:
                out[t] = total / window if mean else total
    return out


@njit(cache=True)
def rolling_std(x, window):  # pragma: no cover - numba
    """Rolling sample standard deviation (ddof=1) over `window` values; exactly 0 on constant windows."""
    n = x.shape[0]
    out = np.full(n, np.nan)
    s1 = 0.0
    c1 = 0.0
    s2 = 0.0
    c2 = 0.0
    count = 0
    run = 0
    for t in range(n):
        v = x[t]
        if v == v:
            s1, c1 = _kahan_add(s1, c1, v)
            s2, c2 = _kahan_add(s2, c2, v * v)
            count += 1
            run = run + 1 if t > 0 and x[t - 1] == v else 1
        else:
            run = 0
        if t >= window:
            old = x[t - window]
            if old == old:
                s1, c1 = _kahan_add(s1, c1, -old)
                s2, c2 = _kahan_add(s2, c2, -old * old)
                count -= 1
        if t >= window - 1 and count == window and window > 1:
            if run >= window:
                out[t] = 0.0
            else:
                var = (s2 - s1 * s1 / window) / (window - 1)
                out[t] = np.sqrt(var) if var > 0.0 else 0.0
    return out


@njit(cache=True)
def rolling_extreme(x, window, is_max):  # pragma: no cover - numba
    """Rolling max (is_max) or min over `window` values with a monotonic deque, O(n)."""
    n = x.shape[0]
    out = np.full(n, np.nan)
    dq = np.empty(n, np.int64)
    head = 0
    tail = 0
    count = 0
    for t in range(n):
        v = x[t]
        if v == v:
            count += 1
            while tail > head:
                last = x[dq[tail - 1]]
                if (is_max and last <= v) or ((not is_max) and last >= v):
                    tail -= 1
                else:
                    break
            dq[tail] = t
            tail += 1
        if t >= window:
            old = x[t - window]
            if old == old:
                count -= 1
        while tail > head and dq[head] <= t - window:
            head += 1
        if t >= window - 1 and count == window:
            out[t] = x[dq[head]]
    return out


@njit(cache=True)
def ewm(x, alpha, window):  # pragma: no cover - numba
    """Exponential average y[t] = (1-alpha) y[t-1] + alpha x[t], seeded at x[0]; NaN before bar window-1.

    Expects finite input (prices, gains, true ranges).
    """
    n = x.shape[0]
    out = np.full(n, np.nan)
    if n == 0:
        return out
    y = x[0]
    for t in range(n):
        if t > 0:
            y = (1.0 - alpha) * y + alpha * x[t]
        if t >= window - 1:
            out[t] = y
    return out
