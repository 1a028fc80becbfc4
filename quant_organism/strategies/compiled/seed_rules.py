"""The rule-based seeds' entry and exit conditions as numba kernels, one per seed.

Each kernel reads indicator tables (rows of periods, see `Indicators.table`) through
per-genome row indices, evaluates its seed's rule bar by bar and writes the four condition planes
of `cond[LONG_ENTRY | LONG_EXIT | SHORT_ENTRY | SHORT_EXIT, genome, bar]`; `positions.track_positions`
then turns them into positions. Working on scalars avoids the bars x genomes float temporaries of
array code (the bulk of the cost of a batch). The arithmetic is exactly the array arithmetic the
seeds' docstrings describe: the same operations in the same order, IEEE semantics (no fastmath),
NaN compares false, so an undefined indicator never opens a position and always permits an exit.
Conditions at bar t use bars <= t only (tables are causal; a lag reads bar t - lag).

The kernels, their helpers and constants live in one module on purpose: numba's on-disk cache only
notices edits to the file that holds a function, so a kernel using a helper or constant from
another file could run stale code after an edit there.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# Comparisons of scores against thresholds add this margin, so that float rounding in indicators of
# constant prices (e.g. an EMA a hair off the price) never opens a position. Defined here, beside
# the kernels that compile it in (see above about the cache).
TOL = 1e-12
# The planes of a (4, genomes, bars) condition array.
LONG_ENTRY, LONG_EXIT, SHORT_ENTRY, SHORT_EXIT = 0, 1, 2, 3

_JIT = {"cache": True, "error_model": "numpy"}  # numpy division semantics: no ZeroDivisionError checks


def new_conditions(n_genomes: int, n_bars: int) -> np.ndarray:
    """An uninitialised (4, genomes, bars) condition array; every kernel writes all of it."""
    return np.empty((4, n_genomes, n_bars), dtype=np.bool_)


# --- scalar helpers --------------------------------------------------------------------------------
@njit(**_JIT)
def _ratio(a, b):  # pragma: no cover - numba
    """a / b - 1, NaN where b is not positive (as `indicators.ratio`)."""
    return a / b - 1.0 if b > 0 else np.nan


@njit(**_JIT)
def _safe_div(a, b):  # pragma: no cover - numba
    """a / b, NaN where b is not positive (as `indicators.safe_div`)."""
    return a / b if b > 0 else np.nan


@njit(**_JIT)
def _lagged(row, t, lag):  # pragma: no cover - numba
    """row[t - lag], NaN before the series has `lag` earlier values."""
    return row[t - lag] if t >= lag else np.nan


@njit(**_JIT)
def _planes(cond, g):  # pragma: no cover - numba
    """Genome g's four condition rows (long entry, long exit, short entry, short exit).

    Each kernel takes its genome's rows and gene values into locals before the bar loop: the compiler cannot
    tell that a store into the condition array leaves the gene vectors unchanged, so reading `entry[g]` or
    `cond[plane, g, t]` inside the loop reloaded and re-indexed them on every bar (about half a rule's time).
    """
    return cond[LONG_ENTRY, g], cond[LONG_EXIT, g], cond[SHORT_ENTRY, g], cond[SHORT_EXIT, g]


@njit(**_JIT)
def _score_rule(planes, t, score, entry, exit_, long_ok, short_ok):  # pragma: no cover - numba
    """Symmetric hysteresis on a bullish-positive score (as `positions.score_conditions`)."""
    le, lx, se, sx = planes
    le[t] = score > entry + TOL and long_ok
    se[t] = score < -entry - TOL and short_ok
    lx[t] = not (score >= exit_)
    sx[t] = not (score <= -exit_)


# --- one kernel per seed ---------------------------------------------------------------------------
@njit(**_JIT)
def ema_crossover(close, ema, fast, slow, slope_lag, entry, exit_, min_slope, cond):  # pragma: no cover - numba
    """Score EMA(fast)/EMA(slow) - 1; entries need the slow EMA's slope over `slope_lag` bars."""
    for g in range(cond.shape[1]):
        f, s = ema[fast[g]], ema[slow[g]]
        planes, lag, e, x, ms = _planes(cond, g), slope_lag[g], entry[g], exit_[g], min_slope[g]
        for t in range(close.shape[0]):
            slope = _ratio(s[t], _lagged(s, t, lag))
            long_ok = slope >= ms - TOL
            short_ok = slope <= -ms + TOL
            _score_rule(planes, t, _ratio(f[t], s[t]), e, x, long_ok, short_ok)


@njit(**_JIT)
def sma_trend(close, sma, fast, slow, slope_lag, entry, exit_, min_slope, cond):  # pragma: no cover - numba
    """Score close/SMA(slow) - 1; entries need SMA(fast) on the same side and the slow SMA's slope."""
    for g in range(cond.shape[1]):
        f, s = sma[fast[g]], sma[slow[g]]
        planes, lag, e, x, ms = _planes(cond, g), slope_lag[g], entry[g], exit_[g], min_slope[g]
        for t in range(close.shape[0]):
            agree = _ratio(f[t], s[t])
            slope = _ratio(s[t], _lagged(s, t, lag))
            long_ok = agree > TOL and slope >= ms - TOL
            short_ok = agree < -TOL and slope <= -ms + TOL
            _score_rule(planes, t, _ratio(close[t], s[t]), e, x, long_ok, short_ok)


@njit(**_JIT)
def rsi_filter(close, rsi, rsi_row, sma, sma_row, entry, exit_, tolerance, cond):  # pragma: no cover - numba
    """Score 50 - RSI; longs need close >= SMA*(1 - tolerance) in ratio form, shorts mirrored."""
    for g in range(cond.shape[1]):
        r, s = rsi[rsi_row[g]], sma[sma_row[g]]
        planes, e, x, tol = _planes(cond, g), entry[g], exit_[g], tolerance[g]
        for t in range(close.shape[0]):
            gap = _ratio(close[t], s[t])
            long_ok, short_ok = gap >= -tol, gap <= tol
            _score_rule(planes, t, 50.0 - r[t], e, x, long_ok, short_ok)


@njit(**_JIT)
def stochastic(close, k_tab, k_row, d_tab, d_row, sma, sma_row, entry, exit_, tolerance, cond):  # pragma: no cover - numba
    """%K crossing %D inside the oversold/overbought zone, with the RSI seed's trend permit."""
    for g in range(cond.shape[1]):
        k, d, s = k_tab[k_row[g]], d_tab[d_row[g]], sma[sma_row[g]]
        (le, lx, se, sx), e, x, tol = _planes(cond, g), entry[g], exit_[g], tolerance[g]
        for t in range(close.shape[0]):
            kt, dt = k[t], d[t]
            k_prev, d_prev = _lagged(k, t, 1), _lagged(d, t, 1)
            gap = _ratio(close[t], s[t])
            long_ok, short_ok = gap >= -tol, gap <= tol
            cross_up = kt > dt and k_prev <= d_prev
            cross_down = kt < dt and k_prev >= d_prev
            le[t] = cross_up and 50.0 - dt > e + TOL and long_ok
            se[t] = cross_down and dt - 50.0 > e + TOL and short_ok
            lx[t] = not (50.0 - kt >= x)
            sx[t] = not (kt - 50.0 >= x)


@njit(**_JIT)
def donchian_breakout(
    close, volume, highs, lows, slow, fast, vol_mean, vol_row, entry, exit_, vol_mult, cond
):  # pragma: no cover - numba
    """Close beyond the previous `slow` bars' channel (rolling rows read at t - 1), optional volume
    confirmation against the previous bars' mean; exit beyond the previous `fast` bars' channel."""
    for g in range(cond.shape[1]):
        hs, ls, hf, lf = highs[slow[g]], lows[slow[g]], highs[fast[g]], lows[fast[g]]
        base = vol_mean[vol_row[g]]
        (le, lx, se, sx), e, x, mult = _planes(cond, g), entry[g], exit_[g], vol_mult[g]
        for t in range(close.shape[0]):
            c = close[t]
            volume_ok = mult <= 0 or volume[t] >= mult * _lagged(base, t, 1)
            le[t] = _ratio(c, _lagged(hs, t, 1)) > e + TOL and volume_ok
            se[t] = _ratio(c, _lagged(ls, t, 1)) < -e - TOL and volume_ok
            lx[t] = not (_ratio(c, _lagged(lf, t, 1)) >= -x)
            sx[t] = not (_ratio(c, _lagged(hf, t, 1)) <= x)


@njit(**_JIT)
def atr_stop(close, ema, fast, slow, atr, atr_row, entry, min_atr, cond):  # pragma: no cover - numba
    """Trend (EMA fast vs slow) entry beyond the slow EMA by `entry` ATRs; exit when the trend flips
    (the ATR trailing stop is applied by the position tracker)."""
    for g in range(cond.shape[1]):
        f, s, a = ema[fast[g]], ema[slow[g]], atr[atr_row[g]]
        (le, lx, se, sx), e, floor = _planes(cond, g), entry[g], min_atr[g]
        for t in range(close.shape[0]):
            c = close[t]
            stretch = _safe_div(c - s[t], a[t])
            trend = _ratio(f[t], s[t])
            active = _safe_div(a[t], c) >= floor
            up, down = trend > TOL, trend < -TOL
            le[t] = up and stretch > e + TOL and active
            se[t] = down and stretch < -e - TOL and active
            lx[t] = not up
            sx[t] = not down


@njit(**_JIT)
def ichimoku(
    close, mid, tenkan_row, kijun_row, senkou_row, displacement, entry, exit_, min_momentum, cond
):  # pragma: no cover - numba
    """Close beyond the cloud computed `displacement` bars ago, tenkan/kijun cross and chikou momentum;
    exit beyond the kijun."""
    for g in range(cond.shape[1]):
        tenkan, kijun, senkou = mid[tenkan_row[g]], mid[kijun_row[g]], mid[senkou_row[g]]
        (le, lx, se, sx), d, e, x, mom = _planes(cond, g), displacement[g], entry[g], exit_[g], min_momentum[g]
        for t in range(close.shape[0]):
            c = close[t]
            top = bottom = np.nan
            if t >= d:
                a = (tenkan[t - d] + kijun[t - d]) / 2.0
                b = senkou[t - d]
                if a == a and b == b:
                    top, bottom = max(a, b), min(a, b)
            chikou = _ratio(c, _lagged(close, t, d))
            cross = _ratio(tenkan[t], kijun[t])
            to_kijun = _ratio(c, kijun[t])
            le[t] = _ratio(c, top) > e + TOL and cross > TOL and chikou > mom + TOL
            se[t] = _ratio(c, bottom) < -e - TOL and cross < -TOL and chikou < -mom - TOL
            lx[t] = not (to_kijun >= -x)
            sx[t] = not (to_kijun <= x)


@njit(**_JIT)
def vwap_reversion(
    close, volume, vwap, vwap_row, vol, vol_row, vol_mean, entry, exit_, vol_mult, cond
):  # pragma: no cover - numba
    """Score -(close/VWAP - 1)/vol; entries optionally need volume >= vol_mult x the previous bars' mean
    (`vol_mean` rows share `vwap_row`)."""
    for g in range(cond.shape[1]):
        v, sigma, base = vwap[vwap_row[g]], vol[vol_row[g]], vol_mean[vwap_row[g]]
        planes, e, x, mult = _planes(cond, g), entry[g], exit_[g], vol_mult[g]
        for t in range(close.shape[0]):
            score = -_safe_div(_ratio(close[t], v[t]), sigma[t])
            volume_ok = mult <= 0 or volume[t] >= mult * _lagged(base, t, 1)
            _score_rule(planes, t, score, e, x, volume_ok, volume_ok)


@njit(**_JIT)
def volatility_scaling(
    close, vol, baseline_row, short_row, growth, growth_row, root_lookback, entry, exit_, max_ratio, cond
):  # pragma: no cover - numba
    """Score log-growth / (baseline vol * sqrt(lookback)); flat (and no entry) while short vol >
    max_ratio x baseline vol."""
    for g in range(cond.shape[1]):
        base, short, grow = vol[baseline_row[g]], vol[short_row[g]], growth[growth_row[g]]
        (le, lx, se, sx), root, e, x, cap = _planes(cond, g), root_lookback[g], entry[g], exit_[g], max_ratio[g]
        for t in range(close.shape[0]):
            # `_score_rule` with a storm's forced exits folded into the exit planes: every plane one boolean
            # expression, so the loop compiles to vector code (2.5x faster than with the branch, the same planes)
            score = _safe_div(grow[t], base[t] * root)
            calm = _safe_div(short[t], base[t]) <= cap
            le[t] = score > e + TOL and calm
            se[t] = score < -e - TOL and calm
            lx[t] = not (score >= x) or not calm
            sx[t] = not (score <= -x) or not calm


@njit(**_JIT)
def funding_carry(close, funding_mean, funding_row, lookback, entry, exit_, guard, cond):  # pragma: no cover - numba
    """Score -mean funding; no short after a rise > guard over `lookback` bars, no long after a fall."""
    for g in range(cond.shape[1]):
        f = funding_mean[funding_row[g]]
        planes, lag, e, x, cap = _planes(cond, g), lookback[g], entry[g], exit_[g], guard[g]
        for t in range(close.shape[0]):
            momentum = _ratio(close[t], _lagged(close, t, lag))
            long_ok, short_ok = momentum > -cap, momentum < cap
            _score_rule(planes, t, -f[t], e, x, long_ok, short_ok)
