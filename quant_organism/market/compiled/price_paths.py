"""The synthetic and planted markets' price paths, compiled: see market/sources/synthetic.py and planted.py."""

from __future__ import annotations

import math

import numba
import numpy as np

MEAN_REVERSION_SPEED = 0.01  # per hour, towards the anchor, only in regime 2 (weak: momentum survives it)
ANCHOR_SPEED = 1.0 / 240.0  # the anchor follows the price over ~10 days
GARCH_ALPHA, GARCH_BETA = 0.05, 0.92


@numba.njit(cache=True)
def synthetic_price_paths_nb(shocks, hourly_regime, momentum, vol, log_start, regime_drift):
    """GARCH(1,1) volatility, regime drift, each coin's momentum drift and mean reversion to a slow
    anchor, hour by hour."""
    n, n_coins = shocks.shape
    log_close = np.empty((n, n_coins))
    sigma_path = np.empty((n, n_coins))
    for c in range(n_coins):
        log_p = log_start[c]
        anchor = log_p
        var = vol[c] ** 2
        omega = vol[c] ** 2 * (1.0 - GARCH_ALPHA - GARCH_BETA)
        for t in range(n):
            sigma = np.sqrt(var)
            regime = hourly_regime[t]
            drift = (regime_drift[regime] + momentum[t, c]) * vol[c]
            if regime == 2:
                drift -= MEAN_REVERSION_SPEED * (log_p - anchor)
            shock = sigma * shocks[t, c]
            log_p += drift + shock
            anchor += ANCHOR_SPEED * (log_p - anchor)
            var = omega + GARCH_ALPHA * shock**2 + GARCH_BETA * var
            log_close[t, c] = log_p
            sigma_path[t, c] = sigma
    return log_close, sigma_path


@numba.njit(cache=True)
def three_state_chain_nb(u, leave):  # pragma: no cover - numba
    """States -1 / 0 / +1, uniform start; each hour leave with probability `leave` to one of the others."""
    n = u.shape[0] - 1
    out = np.empty(n, dtype=np.int8)
    state = int(u[0] * 3.0) - 1
    for t in range(n):
        v = u[t + 1]
        if v < leave:
            step = 1 if v < 0.5 * leave else 2
            state = (state + 1 + step) % 3 - 1
        out[t] = state
    return out


@numba.njit(cache=True)
def two_state_chain_nb(u, leave_calm, leave_wild):  # pragma: no cover - numba
    """0 (calm) / 1 (high vol), started from the stationary share of each."""
    n = u.shape[0] - 1
    out = np.empty(n, dtype=np.int8)
    state = 1 if u[0] < leave_calm / (leave_calm + leave_wild) else 0
    for t in range(n):
        if u[t + 1] < (leave_wild if state == 1 else leave_calm):
            state = 1 - state
        out[t] = state
    return out


@numba.njit(cache=True)
def planted_price_path_nb(shocks, idio, mult, drift, vol, mr_share, mr_speed):  # pragma: no cover - numba
    """Hourly log returns: GARCH(1,1) on the shocks, regime vol multiplier, drift and decaying overreaction (a share
    `mr_share[t]` of each idiosyncratic shock)."""
    n = shocks.shape[0]
    returns = np.empty(n)
    sigma_path = np.empty(n)
    overreaction = np.empty(n)
    var = vol * vol
    omega = var * (1.0 - GARCH_ALPHA - GARCH_BETA)
    x = 0.0
    for t in range(n):
        sigma = math.sqrt(var)
        shock = sigma * shocks[t]
        returns[t] = drift[t] + mult[t] * shock - mr_speed * x
        x = (1.0 - mr_speed) * x + mr_share[t] * mult[t] * sigma * idio[t]
        var = omega + GARCH_ALPHA * shock * shock + GARCH_BETA * var
        sigma_path[t] = mult[t] * sigma
        overreaction[t] = x
    return returns, sigma_path, overreaction
