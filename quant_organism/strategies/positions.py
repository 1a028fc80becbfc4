"""Turns per-bar entry/exit conditions into target positions, for many genomes at once.

A position depends on the path (hysteresis, time stops, trailing stops), so this is a loop over bars;
numba runs it across all genome columns of a batch in one pass. Rules, applied at each bar's close:

- flat: enter long if the long entry holds (and the short entry does not), short likewise;
- long: reverse to short if the short entry holds; otherwise exit on the long exit condition, on the
  time stop (`max_hold` bars held, 0 = none) or on the trailing stop (close below the highest close
  since entry minus `trail`); shorts mirror this;
- after a time or trailing stop, that side re-arms only once its entry condition has been false for a
  bar, so a stop is not undone by an immediate re-entry on the same stale signal.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .indicators import TOL


@njit(cache=True)
def _positions_kernel(le, lx, se, sx, max_hold, close, trail, use_trail, out):  # pragma: no cover - numba
    n_bars, n_cols = le.shape
    pos = np.zeros(n_cols, np.int8)
    held = np.zeros(n_cols, np.int64)
    extreme = np.zeros(n_cols, np.float64)
    long_armed = np.ones(n_cols, np.bool_)
    short_armed = np.ones(n_cols, np.bool_)
    for t in range(n_bars):
        c = close[t]
        for g in range(n_cols):
            l_in = le[t, g]
            s_in = se[t, g]
            if not l_in:
                long_armed[g] = True
            if not s_in:
                short_armed[g] = True
            p = pos[g]
            exited = False
            if p == 1:
                held[g] += 1
                if c > extreme[g]:
                    extreme[g] = c
                stopped = max_hold[g] > 0 and held[g] >= max_hold[g]
                if use_trail and c < extreme[g] - trail[t, g]:
                    stopped = True
                if s_in and short_armed[g] and not l_in:
                    p = -1
                    held[g] = 0
                    extreme[g] = c
                elif stopped:
                    p = 0
                    long_armed[g] = False
                    exited = True
                elif lx[t, g]:
                    p = 0
                    exited = True
            elif p == -1:
                held[g] += 1
                if c < extreme[g]:
                    extreme[g] = c
                stopped = max_hold[g] > 0 and held[g] >= max_hold[g]
                if use_trail and c > extreme[g] + trail[t, g]:
                    stopped = True
                if l_in and long_armed[g] and not s_in:
                    p = 1
                    held[g] = 0
                    extreme[g] = c
                elif stopped:
                    p = 0
                    short_armed[g] = False
                    exited = True
                elif sx[t, g]:
                    p = 0
                    exited = True
            if p == 0 and not exited:
                if l_in and long_armed[g] and not s_in:
                    p = 1
                    held[g] = 0
                    extreme[g] = c
                elif s_in and short_armed[g] and not l_in:
                    p = -1
                    held[g] = 0
                    extreme[g] = c
            pos[g] = p
            out[t, g] = p


def hysteresis_positions(
    long_entry: np.ndarray,
    long_exit: np.ndarray,
    short_entry: np.ndarray,
    short_exit: np.ndarray,
    close: np.ndarray,
    max_hold: np.ndarray | None = None,
    trail: np.ndarray | None = None,
) -> np.ndarray:
    """int8 positions in {-1, 0, 1}, bars x genomes, from boolean bars x genomes condition arrays.

    `max_hold` (per genome, 0 = none) is the time stop; `trail` (bars x genomes, price distance,
    NaN = no stop that bar) the trailing stop.
    """
    shape = long_entry.shape
    for name, arr in (("long_exit", long_exit), ("short_entry", short_entry), ("short_exit", short_exit)):
        if arr.shape != shape:
            raise ValueError(f"{name} has shape {arr.shape}, expected {shape}")
    n_cols = shape[1]
    hold = np.zeros(n_cols, np.int64) if max_hold is None else np.asarray(max_hold, dtype=np.int64)
    if hold.shape != (n_cols,):
        raise ValueError(f"max_hold has shape {hold.shape}, expected ({n_cols},)")
    use_trail = trail is not None
    trail_arr = np.ascontiguousarray(trail, dtype=np.float64) if use_trail else np.zeros((1, 1))
    if use_trail and trail_arr.shape != shape:
        raise ValueError(f"trail has shape {trail_arr.shape}, expected {shape}")
    out = np.zeros(shape, dtype=np.int8)
    _positions_kernel(
        np.ascontiguousarray(long_entry, dtype=np.bool_),
        np.ascontiguousarray(long_exit, dtype=np.bool_),
        np.ascontiguousarray(short_entry, dtype=np.bool_),
        np.ascontiguousarray(short_exit, dtype=np.bool_),
        hold,
        np.ascontiguousarray(close, dtype=np.float64),
        trail_arr,
        use_trail,
        out,
    )
    return out


def score_conditions(
    score: np.ndarray,
    entry: np.ndarray,
    exit_: np.ndarray,
    long_ok: np.ndarray | bool = True,
    short_ok: np.ndarray | bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Symmetric hysteresis on a bullish-positive score (bars x genomes; thresholds per genome).

    Long entry: score > entry (and `long_ok`); long exit: score < exit, or score undefined.
    Shorts mirror it around zero. With exit <= entry the entry and exit zones never overlap.
    """
    with np.errstate(invalid="ignore"):
        long_entry = (score > entry + TOL) & long_ok
        short_entry = (score < -entry - TOL) & short_ok
        long_exit = ~(score >= exit_)
        short_exit = ~(score <= -exit_)
    return long_entry, long_exit, short_entry, short_exit
