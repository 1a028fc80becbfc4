"""numba kernels for the rolling statistics behind the indicators (pandas semantics, ~30x less overhead).

Every kernel computes SEVERAL windows in one call (row k of the output uses `windows[k]`), because a
batch of genomes asks for many periods of the same input: the rolling sums share one compensated prefix sum
of the series (`_summed`), the exponential averages' independent serial chains overlap in the CPU instead
of waiting on each other, and the rolling max/min share one sparse table. Each row gets exactly the
arithmetic a pass of its own would do, so results do not depend on which other windows are in the
batch (a genome's signals are the same alone or in any batch).

Each kernel walks the series left to right, so its output at t depends only on inputs <= t and a
prefix of the input yields a bit-identical prefix of the output. Windows need `window` non-NaN values
(pandas' default `min_periods=window`), otherwise NaN. Sums are compensated (`_summed`), and a window whose
values are all equal returns that value exactly (mean) or exactly 0 (std), as pandas does, so constant
prices never produce indicator noise that could cross a threshold.

The tables' kernels (`*_into`) fill an `out` that their plain-named callers allocate with numpy, never inside
compiled code (`_nan_table` says why): the general kernels a table of NaN (`_nan_table`) in which they write the
defined values, the others an uninitialised one (`_blank_table`) in which they write every value, NaN included.
"""

from __future__ import annotations

import numpy as np
from numba import njit


def _blank_table(rows: int, bars: int) -> np.ndarray:
    """An uninitialised (rows, bars) table for the kernels that write every value of theirs (NaN included):
    filling it with NaN first would write a batch's tables twice (a tenth of `bench backtest`'s time)."""
    return np.empty((rows, bars))


def _nan_table(rows: int, bars: int) -> np.ndarray:
    """A (rows, bars) table of NaN for the kernels to fill, allocated by numpy rather than inside compiled code:
    measured on a fresh 500-genome year, the tables numba allocated itself cost 13,358 minor page faults (a
    quarter of `bench backtest`'s time, in system time), numpy's about 8,200 (docs/history/2026-11-29-measurements.md)."""
    return np.full((rows, bars), np.nan)


def _table(rows: int, bars: int, out: np.ndarray | None, nan: bool) -> np.ndarray:
    """The (rows, bars) table a kernel fills: `out` when the caller gives one (a row store's free slots, written
    in place instead of copied there), else a fresh one; NaN-filled first for the kernels that write only the
    defined values (`nan`)."""
    if out is None:
        return _nan_table(rows, bars) if nan else _blank_table(rows, bars)
    if out.shape != (rows, bars) or out.dtype != np.float64 or not out.flags.c_contiguous:
        raise ValueError(f"out must be a C-contiguous float64 table of shape {(rows, bars)}; got {out.dtype} {out.shape}")
    if nan:
        out.fill(np.nan)
    return out


@njit(cache=True)
def _nan_head(out, k, stop):  # pragma: no cover - numba
    """NaN into row k of `out` before bar `stop` (a window's warm-up)."""
    for t in range(min(max(stop, 0), out.shape[1])):
        out[k, t] = np.nan


@njit(cache=True)
def _quad(k, m):  # pragma: no cover - numba
    """Rows k..k+3 of a table of m rows, the last one repeated where fewer are left.

    The exponential averages (`ewm_into`) fill four rows per pass over the bars: a row's recurrence is one serial
    chain of dependent operations, and four chains in registers keep the CPU busy where one would wait on each.
    (The RSIs' measured no faster grouped.) A repeated row is computed twice and written twice with the same
    values; a row's arithmetic is the same in any group."""
    return k, min(k + 1, m - 1), min(k + 2, m - 1), min(k + 3, m - 1)


@njit(cache=True)
def _neumaier_add(total, comp, value):  # pragma: no cover - numba
    """Neumaier's compensated step: the new total, and the compensation with this step's rounding error added
    (total + comp is the running sum to about twice the working precision)."""
    s = total + value
    if abs(total) >= abs(value):
        comp += (total - s) + value
    else:
        comp += (value - s) + total
    return s, comp


@njit(cache=True)
def _summed(x, square):  # pragma: no cover - numba
    """One pass over series x: its prefix sums (hi, lo), present counts, and repeats (bars, runs).

    hi[t] + lo[t] is the compensated sum of x[:t] (of its squares when `square`), a NaN adding nothing; hi[0] =
    lo[0] = 0. Every rolling sum of the series is then a difference of two entries (`_window_sums_into`): one
    compensated pass over the bars serves all windows, and a row costs two subtractions per bar with no chain from
    bar to bar, which the compiler turns into vector instructions. A window's sum differs from the exact sum of its
    values by about one rounding of that sum: the prefix's own roundings are carried in `lo`, which leaves an error
    near 1e-32 of the prefix's size per bar, where a Kahan sum slid along the bars keeps the errors of every value
    that left its window (test_strategies_indicators.py checks against exact sums). The sums at t read only
    x[:t + 1]: a prefix of the series gives a bit-identical prefix of them.

    count[t] is how many of x[:t] are not NaN (a window is defined only when all its values are). The repeats are
    the bars at which at least two equal values end, and how many end there: few on market data, and the exact
    values of constant windows are set at these bars only, after a row's vectorised pass."""
    n = x.shape[0]
    hi = np.empty(n + 1)
    lo = np.empty(n + 1)
    count = np.empty(n + 1, np.int64)
    bars = np.empty(n, np.int64)
    runs = np.empty(n, np.int64)
    h = 0.0
    c = 0.0
    present = 0
    run = 0
    repeats = 0
    hi[0] = 0.0
    lo[0] = 0.0
    count[0] = 0
    for t in range(n):
        v = x[t]
        if v == v:
            h, c = _neumaier_add(h, c, v * v if square else v)
            present += 1
        hi[t + 1] = h
        lo[t + 1] = c
        count[t + 1] = present
        run = _run_length(run, t > 0 and x[t - 1] == v)
        if run >= 2:
            bars[repeats] = t
            runs[repeats] = run
            repeats += 1
    return (hi, lo), count, (bars[:repeats], runs[:repeats])


@njit(cache=True, error_model="numpy")
def _window_sums_into(o, hi, lo, window, mean):  # pragma: no cover - numba
    """o[t] = the sum (or mean) of the `window` values ending at bar t, for every t >= window - 1."""
    n = hi.shape[0] - 1
    if window > n:
        return
    a, b, ca, cb = hi[window:], hi[: n + 1 - window], lo[window:], lo[: n + 1 - window]
    row = o[window - 1 :]
    if mean:
        for t in range(row.shape[0]):
            row[t] = ((a[t] - b[t]) + (ca[t] - cb[t])) / window
    else:
        for t in range(row.shape[0]):
            row[t] = (a[t] - b[t]) + (ca[t] - cb[t])


@njit(cache=True, error_model="numpy")
def _window_stds_into(o, sums, squares, window):  # pragma: no cover - numba
    """o[t] = the sample std (ddof=1) of the `window` values ending at bar t, from the prefix sums of the values
    and of their squares, for every t >= window - 1 (window >= 2)."""
    hi, lo = sums
    hi2, lo2 = squares
    n = hi.shape[0] - 1
    if window > n:
        return
    a, b, ca, cb = hi[window:], hi[: n + 1 - window], lo[window:], lo[: n + 1 - window]
    a2, b2, ca2, cb2 = hi2[window:], hi2[: n + 1 - window], lo2[window:], lo2[: n + 1 - window]
    row = o[window - 1 :]
    for t in range(row.shape[0]):
        s1 = (a[t] - b[t]) + (ca[t] - cb[t])
        s2 = (a2[t] - b2[t]) + (ca2[t] - cb2[t])
        var = (s2 - s1 * s1 / window) / (window - 1)
        row[t] = np.sqrt(var) if var > 0.0 else 0.0


@njit(cache=True)
def _run_length(run, same_as_previous):  # pragma: no cover - numba
    """How many equal values end at this bar, given how many ended at the previous one: the count that lets a full
    window of one repeated value give that value (or 0 for a deviation) exactly, not a sum's rounding of it."""
    return run + 1 if same_as_previous else 1


@njit(cache=True)
def _exact_constant_windows(o, x, repeats, window, value):  # pragma: no cover - numba
    """Where the `window` values ending at a bar are all equal: the mean is that value (value=0), the sum the value
    times the window (1), the deviation exactly 0 (2), as pandas gives them, not a sum's rounding."""
    bars, runs = repeats
    for j in range(bars.shape[0]):
        if runs[j] >= window:
            t = bars[j]
            o[t] = x[t] if value == 0 else (x[t] * window if value == 1 else 0.0)


@njit(cache=True)
def _undefined_where_nan(o, count, window):  # pragma: no cover - numba
    """NaN at every bar whose window of `window` values holds a NaN (by the counts of present values)."""
    n = count.shape[0] - 1
    for t in range(window - 1, n):
        if count[t + 1] - count[t + 1 - window] != window:
            o[t] = np.nan


@njit(cache=True)
def _sum_mean_row(o, x, prefix, count, repeats, window, mean):  # pragma: no cover - numba
    """One row of rolling sums or means of x: NaN before the first full window and wherever a window holds a NaN,
    each full window's compensated sum (`_summed`), constant windows exact."""
    n = x.shape[0]
    for t in range(min(window - 1, n)):
        o[t] = np.nan
    if window == 1:  # a window of one value: the value itself
        for t in range(n):
            o[t] = x[t]
        return
    _window_sums_into(o, prefix[0], prefix[1], window, mean)
    _exact_constant_windows(o, x, repeats, window, 0 if mean else 1)
    if count[n] < n:  # a NaN after the warm-up
        _undefined_where_nan(o, count, window)


@njit(cache=True)
def _sum_mean_table(x, lead, source, windows, mean, out):  # pragma: no cover - numba
    """Rows of rolling sums or means, row k over windows[k] values of series x[source[k]] after its first `lead`
    bars (NaN there). Each series asked for is summed once."""
    m = windows.shape[0]
    xs = x[:, lead:]
    done = np.zeros(x.shape[0], np.bool_)
    for first in range(m):
        s = source[first]
        if done[s]:
            continue
        done[s] = True
        series = xs[s]
        prefix, count, repeats = _summed(series, False)
        for k in range(first, m):
            if source[k] == s:
                _nan_head(out, k, lead)
                _sum_mean_row(out[k, lead:], series, prefix, count, repeats, windows[k], mean)
    return out


@njit(cache=True)
def rolling_sum_mean_into(x, source, windows, mean, out):  # pragma: no cover - numba
    """Rolling sums (mean=False) or means (mean=True): out[k, t] over the last windows[k] values of
    the series x[source[k]] (x is 2-D: one or more series of the same length), where those are all present.
    Only the rows asked for are read, so `x` may be a table of many more (`indicators._stochastic_ds` reads %K
    rows in place)."""
    return _sum_mean_table(x, 0, source, windows, mean, out)


def rolling_sum_mean(x, source, windows, mean, out=None):
    """`rolling_sum_mean_into` on `out` or a freshly allocated table (the indicators' entry point)."""
    return rolling_sum_mean_into(x, source, windows, mean, _table(len(windows), x.shape[-1], out, False))


@njit(cache=True)
def rolling_sum_mean_dense_into(x, lead, source, windows, mean, out):  # pragma: no cover - numba
    """`rolling_sum_mean` for series whose only NaNs are their first `lead` values (a warm-up, the same for
    every series): the same values, from the sums of the series after the warm-up. Callers check the NaN layout
    (indicators.py)."""
    return _sum_mean_table(x, lead, source, windows, mean, out)


def rolling_sum_mean_dense(x, lead, source, windows, mean, out=None):
    """`rolling_sum_mean_dense_into` on `out` or a freshly allocated table (the indicators' entry point)."""
    return rolling_sum_mean_dense_into(x, lead, source, windows, mean, _table(len(windows), x.shape[-1], out, False))


@njit(cache=True)
def _std_table(x, lead, windows, out):  # pragma: no cover - numba
    """Rows of rolling sample deviations of x after its first `lead` bars (NaN there, and wherever a window holds
    a NaN). A window of one value has no sample deviation (NaN)."""
    n = x.shape[0]
    xs = x[lead:]
    sums, count, repeats = _summed(xs, False)
    squares = _summed(xs, True)[0]
    for k in range(windows.shape[0]):
        window = windows[k]
        _nan_head(out, k, lead + window - 1 if window > 1 else n)
        if window > 1:
            o = out[k, lead:]
            _window_stds_into(o, sums, squares, window)
            _exact_constant_windows(o, xs, repeats, window, 2)
            if count[n - lead] < n - lead:  # a NaN after the warm-up
                _undefined_where_nan(o, count, window)
    return out


@njit(cache=True)
def rolling_std_into(x, windows, out):  # pragma: no cover - numba
    """Rolling sample standard deviations (ddof=1): out[k, t] over the last windows[k] values; exactly 0
    on constant windows."""
    return _std_table(x, 0, windows, out)


def rolling_std(x, windows, out=None):
    """`rolling_std_into` on `out` or a freshly allocated table (the indicators' entry point)."""
    return rolling_std_into(x, windows, _table(len(windows), x.shape[-1], out, False))


@njit(cache=True)
def rolling_std_dense_into(x, lead, windows, out):  # pragma: no cover - numba
    """`rolling_std` for a series whose only NaNs are its first `lead` values: the same values, from the sums of the
    series after the warm-up."""
    return _std_table(x, lead, windows, out)


def rolling_std_dense(x, lead, windows, out=None):
    """`rolling_std_dense_into` on `out` or a freshly allocated table (the indicators' entry point)."""
    return rolling_std_dense_into(x, lead, windows, _table(len(windows), x.shape[-1], out, False))


@njit(cache=True)
def _pick_into(out, a, b, is_max):  # pragma: no cover - numba
    """out[i] = the larger (is_max) or smaller of a[i] and b[i], as `a if a >= b else b` picks it (NaN
    compares false). Row slices in a loop of its own: the compiler turns it into vector instructions, which
    the same expression indexed by level and window inside the tables' loops never became (below)."""
    if is_max:
        for i in range(out.shape[0]):
            x, y = a[i], b[i]
            out[i] = x if x >= y else y
    else:
        for i in range(out.shape[0]):
            x, y = a[i], b[i]
            out[i] = x if x <= y else y


@njit(cache=True)
def _sparse_table(x, longest, is_max):  # pragma: no cover - numba
    """Level j holds the extreme of each run of 2**j values of x (the table `rolling_extreme` builds)."""
    n = x.shape[0]
    levels = 1
    while (1 << levels) <= longest:
        levels += 1
    table = np.empty((levels, n))
    table[0] = x
    for j in range(1, levels):
        half = 1 << (j - 1)
        stop = n - (1 << j) + 1
        if stop > 0:
            _pick_into(table[j, :stop], table[j - 1, :stop], table[j - 1, half : half + stop], is_max)
    return table


@njit(cache=True)
def _last_nan(x):  # pragma: no cover - numba
    out = np.empty(x.shape[0], np.int64)
    seen = -1
    for t in range(x.shape[0]):
        if x[t] != x[t]:
            seen = t
        out[t] = seen
    return out


@njit(cache=True)
def _level(window):  # pragma: no cover - numba
    """The sparse table's level whose runs (2**level values) are the longest that fit in `window`."""
    level = 0
    while (2 << level) <= window:
        level += 1
    return level


@njit(cache=True)
def _covering(level_row, window, span, n):  # pragma: no cover - numba
    """For bars window-1..n-1: the table entries of the run starting the window and of the run ending at the bar,
    which together cover the window (both inside it)."""
    return level_row[: n - window + 1], level_row[window - span : n - span + 1]


@njit(cache=True)
def _undefined_after_nan(out, k, window, last_nan, other_nan):  # pragma: no cover - numba
    """NaN into row k wherever the window ending at the bar holds a NaN of either series (by their last NaNs)."""
    for t in range(window - 1, out.shape[1]):
        start = t - window + 1
        if last_nan[t] >= start or other_nan[t] >= start:
            out[k, t] = np.nan


@njit(cache=True)
def rolling_extreme_into(x, windows, is_max, out):  # pragma: no cover - numba
    """Rolling max (is_max) or min: out[k, t] over the last windows[k] values, NaN if any is NaN.

    A sparse table (level j holds the extreme of each run of 2**j values) is built once for all
    windows; each output is then the extreme of two overlapping table entries that both lie inside
    the window, i.e. end at or before t. Exact (max/min never round), O(n log w) + O(n) per window.
    A row is filled from the two entries' slices in one vectorised loop (`_pick_into`: 5x faster than
    indexing the table per bar, the same values bit for bit; 91 rows of a year of hourly bars, 2026-11-27),
    then set to NaN where a window holds one.
    """
    n = x.shape[0]
    m = windows.shape[0]
    if n == 0 or m == 0:
        return out
    table = _sparse_table(x, min(windows.max(), n), is_max)
    last_nan = _last_nan(x)  # a window is defined only if it starts after the last NaN
    for k in range(m):
        window = windows[k]
        level = _level(window)
        _nan_head(out, k, window - 1)
        if window > n:
            continue
        first, last = _covering(table[level], window, 1 << level, n)
        _pick_into(out[k, window - 1 :], first, last, is_max)
        if last_nan[n - 1] >= 0:
            _undefined_after_nan(out, k, window, last_nan, last_nan)
    return out


def rolling_extreme(x, windows, is_max, out=None):
    """`rolling_extreme_into` on `out` or a freshly allocated table (the indicators' entry point)."""
    return rolling_extreme_into(x, windows, is_max, _table(len(windows), x.shape[-1], out, False))


@njit(cache=True)
def ewm_into(x, alphas, windows, out):  # pragma: no cover - numba
    """Exponential averages y[t] = (1-alpha) y[t-1] + alpha x[t], seeded at x[0]: out[k] uses alphas[k]
    and is NaN before bar windows[k]-1. Expects finite input (prices, gains, true ranges).

    Four rows per pass over the bars (`_quad`): each row's recurrence is a serial chain, and four in registers
    overlap. Against all rows' averages kept in an array and updated bar by bar (the kernel before, the same
    values bit for bit): 2.5x faster on one row of a year of hourly bars, 4x on 131 (2026-11-27)."""
    n = x.shape[0]
    m = windows.shape[0]
    if n == 0:
        return out
    for k in range(m):
        _nan_head(out, k, windows[k] - 1)
    for k in range(0, m, 4):
        k0, k1, k2, k3 = _quad(k, m)
        a0, a1, a2, a3 = alphas[k0], alphas[k1], alphas[k2], alphas[k3]
        b0, b1, b2, b3 = 1.0 - a0, 1.0 - a1, 1.0 - a2, 1.0 - a3
        w0, w1, w2, w3 = windows[k0] - 1, windows[k1] - 1, windows[k2] - 1, windows[k3] - 1  # first bar written
        o0, o1, o2, o3 = out[k0], out[k1], out[k2], out[k3]
        y0 = y1 = y2 = y3 = x[0]
        for t in range(n):
            if t > 0:
                v = x[t]
                y0, y1, y2, y3 = b0 * y0 + a0 * v, b1 * y1 + a1 * v, b2 * y2 + a2 * v, b3 * y3 + a3 * v
            if t >= w0:
                o0[t] = y0
            if t >= w1:
                o1[t] = y1
            if t >= w2:
                o2[t] = y2
            if t >= w3:
                o3[t] = y3
    return out


def ewm(x, alphas, windows, out=None):
    """`ewm_into` on `out` or a freshly allocated table (the indicators' entry point)."""
    return ewm_into(x, alphas, windows, _table(len(windows), x.shape[-1], out, False))


@njit(cache=True)
def rsi_into(close, windows, out):  # pragma: no cover - numba
    """Wilder RSIs of `close` in one pass: out[k, t] = 100 * gain / (gain + loss), the two Wilder smoothings
    (alpha 1/windows[k], seeded at the first change) of the bars' rises and falls, NaN until windows[k]
    changes are seen and wherever gain + loss is not positive. The very arithmetic of smoothing the two
    series with `ewm_into` and dividing with numpy (`indicators.rsis` did that, with three tables of a batch's
    size where one is written now); the rises and falls are numpy's maximum's, signed zeros included."""
    n = close.shape[0]
    m = windows.shape[0]
    for k in range(m):
        _nan_head(out, k, windows[k] if n > 1 else n)  # bar 0 has no change
    if n < 2:
        return out
    gain = np.empty(m)
    loss = np.empty(m)
    alphas = 1.0 / windows  # Wilder's alpha per row, as `indicators.wilders` computes it
    for t in range(n - 1):
        change = close[t + 1] - close[t]
        fall = -change
        up = change if change >= 0.0 or change != change else 0.0  # np.maximum(change, 0.0)
        down = fall if fall >= 0.0 or fall != fall else 0.0
        for k in range(m):
            if t == 0:
                gain[k] = up
                loss[k] = down
            else:
                alpha = alphas[k]
                gain[k] = (1.0 - alpha) * gain[k] + alpha * up
                loss[k] = (1.0 - alpha) * loss[k] + alpha * down
            if t >= windows[k] - 1:
                total = loss[k] + gain[k]
                out[k, t + 1] = gain[k] * 100.0 / total if total > 0 else np.nan
    return out


@njit(cache=True, error_model="numpy")
def rolling_vwap_dense_into(weighted, volume, windows, out):  # pragma: no cover - numba
    """Rolling sums of `weighted` (typical price x volume) over those of `volume` for series without NaN, in
    one pass per row: out[k, t] = the two `rolling_sum_mean_dense_into` sums (lead 0) divided, NaN where the
    volume sum is not positive. The same arithmetic as the two sum tables and numpy's division, writing one table."""
    n = weighted.shape[0]
    sums_w, _, repeats_w = _summed(weighted, False)
    sums_v, _, repeats_v = _summed(volume, False)
    hi_w, lo_w = sums_w
    hi_v, lo_v = sums_v
    for k in range(windows.shape[0]):
        window = windows[k]
        _nan_head(out, k, window - 1)
        if window > n:
            continue
        a, b, ca, cb = hi_w[window:], hi_w[: n + 1 - window], lo_w[window:], lo_w[: n + 1 - window]
        av, bv, cav, cbv = hi_v[window:], hi_v[: n + 1 - window], lo_v[window:], lo_v[: n + 1 - window]
        row = out[k, window - 1 :]
        for t in range(row.shape[0]):
            above = (a[t] - b[t]) + (ca[t] - cb[t])
            below = (av[t] - bv[t]) + (cav[t] - cbv[t])
            row[t] = above / below if below > 0 else np.nan
        _exact_constant_vwaps(out[k], weighted, volume, sums_w, sums_v, repeats_w, repeats_v, window)
    return out


@njit(cache=True, error_model="numpy")
def _exact_constant_vwaps(row, weighted, volume, sums_w, sums_v, repeats_w, repeats_v, window):  # pragma: no cover - numba
    """`rolling_vwap_dense_into`'s bars where either series' window is constant (or of one value), recomputed
    from the sum tables' values there (`_sum_mean_row`: exact constant sums)."""
    if window == 1:
        for t in range(row.shape[0]):
            row[t] = weighted[t] / volume[t] if volume[t] > 0 else np.nan
        return
    for bars, runs in (repeats_w, repeats_v):
        for j in range(bars.shape[0]):
            if runs[j] >= window:
                t = bars[j]
                above = _window_sum_at(sums_w, weighted, repeats_w, t, window)
                below = _window_sum_at(sums_v, volume, repeats_v, t, window)
                row[t] = above / below if below > 0 else np.nan


@njit(cache=True)
def _window_sum_at(prefix, x, repeats, t, window):  # pragma: no cover - numba
    """The sum table's value at bar t: the value times the window where the window is constant, else the
    difference of prefix sums."""
    bars, runs = repeats
    j = np.searchsorted(bars, t)
    if j < bars.shape[0] and bars[j] == t and runs[j] >= window:
        return x[t] * window
    hi, lo = prefix
    return (hi[t + 1] - hi[t + 1 - window]) + (lo[t + 1] - lo[t + 1 - window])


def rsi_table(close, windows, out=None):
    """`rsi_into` on `out` or a freshly allocated table (the indicators' entry point)."""
    return rsi_into(close, windows, _table(len(windows), close.shape[-1], out, False))


def rolling_vwap_dense(weighted, volume, windows, out=None):
    """`rolling_vwap_dense_into` on `out` or a freshly allocated table (the indicators' entry point)."""
    _same_length(weighted, volume)
    return rolling_vwap_dense_into(weighted, volume, windows, _table(len(windows), weighted.shape[-1], out, False))


@njit(cache=True, error_model="numpy")
def lag_ratio_into(x, lags, out):  # pragma: no cover - numba
    """out[k, t] = x[t] / x[t - lags[k]] - 1; NaN before lags[k] bars or where x[t - lags[k]] is not positive."""
    n = x.shape[0]
    m = lags.shape[0]
    for k in range(m):
        lag = lags[k]
        _nan_head(out, k, lag)
        for t in range(lag, n):
            out[k, t] = x[t] / x[t - lag] - 1.0 if x[t - lag] > 0 else np.nan
    return out


def lag_ratio(x, lags, out=None):
    """`lag_ratio_into` on `out` or a freshly allocated table (the indicators' entry point)."""
    return lag_ratio_into(x, lags, _table(len(lags), x.shape[-1], out, False))


@njit(cache=True, error_model="numpy")
def _midpoints_into(out, top_a, top_b, bottom_a, bottom_b):  # pragma: no cover - numba
    for t in range(out.shape[0]):
        a, b = top_a[t], top_b[t]
        hi = a if a >= b else b
        a, b = bottom_a[t], bottom_b[t]
        lo = a if a <= b else b
        out[t] = (hi + lo) / 2.0


@njit(cache=True, error_model="numpy")
def _stochastic_ks_into(out, close, top_a, top_b, bottom_a, bottom_b):  # pragma: no cover - numba
    for t in range(out.shape[0]):
        a, b = top_a[t], top_b[t]
        hi = a if a >= b else b
        a, b = bottom_a[t], bottom_b[t]
        lo = a if a <= b else b
        span = hi - lo
        out[t] = (close[t] - lo) / span * 100.0 if span > 0 else np.nan


@njit(cache=True, error_model="numpy")
def rolling_range_into(high, low, close, windows, stochastic, out):  # pragma: no cover - numba
    """From the rolling max of `high` and min of `low` over windows[k] bars (current included), in one table:
    the midpoint (max + min) / 2 (stochastic=False), or %K = (close - min) / (max - min) * 100, NaN where the
    range is not positive (stochastic=True); NaN where a window holds a NaN of either series. The very
    arithmetic of `rolling_extreme` followed by the array expressions in indicators.py, without their two
    full-size temporaries (a fresh 8 MB table costs as much in page faults as the pass that fills it). A row is
    one vectorised loop over the table entries' slices, as in `rolling_extreme_into` (2026-11-27, 117 rows of
    a year of hourly bars: midpoints 8x, %K 3.5x faster than per-bar indexing, the same values)."""
    n = high.shape[0]
    m = windows.shape[0]
    if n == 0 or m == 0:
        return out
    longest = min(windows.max(), n)
    top = _sparse_table(high, longest, True)
    bottom = _sparse_table(low, longest, False)
    nan_high = _last_nan(high)
    nan_low = _last_nan(low)
    any_nan = nan_high[n - 1] >= 0 or nan_low[n - 1] >= 0
    for k in range(m):
        window = windows[k]
        level = _level(window)
        _nan_head(out, k, window - 1)
        if window > n:
            continue
        top_a, top_b = _covering(top[level], window, 1 << level, n)
        bottom_a, bottom_b = _covering(bottom[level], window, 1 << level, n)
        if stochastic:
            _stochastic_ks_into(out[k, window - 1 :], close[window - 1 :], top_a, top_b, bottom_a, bottom_b)
        else:
            _midpoints_into(out[k, window - 1 :], top_a, top_b, bottom_a, bottom_b)
        if any_nan:
            _undefined_after_nan(out, k, window, nan_high, nan_low)
    return out


def rolling_range(high, low, close, windows, stochastic, out=None):
    """`rolling_range_into` on `out` or a freshly allocated table (the indicators' entry point)."""
    _same_length(high, low, close)
    return rolling_range_into(high, low, close, windows, stochastic, _table(len(windows), high.shape[-1], out, False))


def _same_length(*series: np.ndarray) -> None:
    """The kernels that read several series index all of them by the first one's bars, without bounds checks (a
    shorter series would be read past its end): their entry points refuse series of different lengths."""
    lengths = [s.shape[-1] for s in series]
    if len(set(lengths)) > 1:
        raise ValueError(f"the series of one indicator must have the same length; got {lengths}")
