"""Turns per-bar entry/exit conditions into target positions, for many genomes at once.

A position depends on the path (hysteresis, time stops, trailing stops), so this is a loop over bars;
numba runs it genome by genome over contiguous (genomes, bars) arrays, keeping the state in registers.
Rules, applied at each bar's close:

- flat: enter long if the long entry holds (and the short entry does not), short likewise;
- long: reverse to short if the short entry holds; otherwise exit on the long exit condition, on the
  time stop (`max_hold` bars held, 0 = none) or on the trailing stop (close below the highest close
  since entry minus the trail distance); shorts mirror this;
- after a time or trailing stop, that side re-arms only once its entry condition has been false for a
  bar, so a stop is not undone by an immediate re-entry on the same stale signal.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .rules import LONG_ENTRY, LONG_EXIT, SHORT_ENTRY, SHORT_EXIT, TOL

WORD = 8  # bars per 64-bit word of a boolean plane (`track_one`)
ALL_LONG = np.uint64(0x0101010101010101)  # eight int8 positions of +1
ALL_SHORT = np.uint64(0xFFFFFFFFFFFFFFFF)  # eight int8 positions of -1


@njit(cache=True)
def track_one(le, lx, se, sx, close, max_hold, scale, mult, use_trail, out):  # pragma: no cover - numba
    """One genome's positions over all bars; the trail distance at bar t is mult * scale[t].

    Bars go in words of eight (64 bits of each boolean plane): a word met flat in which neither entry condition
    holds stays flat and arms both sides, as its bars one by one would, so it is written at once. About 60% of
    `bench backtest`'s genome-bars are such; the tracker took 1.65 ns a bar on them and 0.22 ns now (2026-11-28).
    A word held with nothing to watch is written at once too: the tracker's 7.4 ms of a `bench backtest` pass
    fell to 2.5 ms with it (2026-11-28)."""
    pos = 0
    held = 0
    extreme = 0.0
    long_armed = True
    short_armed = True
    n = close.shape[0]
    whole = n // WORD
    le_words, se_words = le[: whole * WORD].view(np.uint64), se[: whole * WORD].view(np.uint64)
    lx_words, sx_words = lx[: whole * WORD].view(np.uint64), sx[: whole * WORD].view(np.uint64)
    out_words = out[: whole * WORD].view(np.uint64)
    for w in range((n + WORD - 1) // WORD):
        if w < whole:
            if pos == 0 and (le_words[w] | se_words[w]) == 0:
                out_words[w] = 0  # eight bars met flat without an entry condition: flat, both sides armed
                long_armed = True
                short_armed = True
                continue
            # Eight bars held without a stop to watch (no trail; a time stop, if any, further than eight bars) and
            # without the opposite entry or this side's exit: the position stays, as its bars one by one would
            # keep it (the running extreme only serves the trail). Both sides are armed while a position is held:
            # it was entered on a bar without the opposite entry, which armed that side, and only a stop that
            # closes a side disarms it.
            if pos != 0 and not use_trail and (max_hold <= 0 or held + WORD < max_hold):
                if pos == 1 and (se_words[w] | lx_words[w]) == 0:
                    out_words[w] = ALL_LONG
                    held += WORD
                    continue
                if pos == -1 and (le_words[w] | sx_words[w]) == 0:
                    out_words[w] = ALL_SHORT
                    held += WORD
                    continue
        for t in range(w * WORD, min(w * WORD + WORD, n)):
            c = close[t]
            l_in = le[t]
            s_in = se[t]
            if not l_in:
                long_armed = True
            if not s_in:
                short_armed = True
            p = pos
            exited = False
            if p == 1:
                held += 1
                if c > extreme:
                    extreme = c
                stopped = max_hold > 0 and held >= max_hold
                if use_trail and c < extreme - mult * scale[t]:
                    stopped = True
                if s_in and short_armed and not l_in:
                    p = -1
                    held = 0
                    extreme = c
                elif stopped:
                    p = 0
                    long_armed = False
                    exited = True
                elif lx[t]:
                    p = 0
                    exited = True
            elif p == -1:
                held += 1
                if c < extreme:
                    extreme = c
                stopped = max_hold > 0 and held >= max_hold
                if use_trail and c > extreme + mult * scale[t]:
                    stopped = True
                if l_in and long_armed and not s_in:
                    p = 1
                    held = 0
                    extreme = c
                elif stopped:
                    p = 0
                    short_armed = False
                    exited = True
                elif sx[t]:
                    p = 0
                    exited = True
            if p == 0 and not exited:
                if l_in and long_armed and not s_in:
                    p = 1
                    held = 0
                    extreme = c
                elif s_in and short_armed and not l_in:
                    p = -1
                    held = 0
                    extreme = c
            pos = p
            out[t] = p


@njit(cache=True)
def _positions_kernel(le, lx, se, sx, close, max_hold, scale, scale_row, mult, use_trail, out):  # pragma: no cover - numba
    for g in range(out.shape[0]):
        track_one(le[g], lx[g], se[g], sx[g], close, max_hold[g], scale[scale_row[g]], mult[g], use_trail, out[g])


def track_positions(
    conditions: np.ndarray,
    close: np.ndarray,
    max_hold: np.ndarray | None = None,
    trail_scale: np.ndarray | None = None,
    trail_row: np.ndarray | None = None,
    trail_mult: np.ndarray | None = None,
) -> np.ndarray:
    """int8 positions in {-1, 0, 1}, genomes x bars, from a (4, genomes, bars) boolean condition array
    (planes LONG_ENTRY, LONG_EXIT, SHORT_ENTRY, SHORT_EXIT).

    `max_hold` (per genome, 0 = none) is the time stop. The trailing stop of genome g at bar t sits
    trail_mult[g] * trail_scale[trail_row[g], t] from the running extreme (e.g. a multiple of an ATR
    row; NaN = no stop that bar).
    """
    if conditions.ndim != 3 or conditions.shape[0] != 4:
        raise ValueError(f"conditions must be (4, genomes, bars); got shape {conditions.shape}")
    _, n_cols, n_bars = conditions.shape
    stops = tracker_arrays(n_cols, n_bars, max_hold, trail_scale, trail_row, trail_mult)
    return track_conditions(conditions, close, stops)


def track_conditions(conditions: np.ndarray, close: np.ndarray, stops: tuple) -> np.ndarray:
    """`track_positions` with its stops already checked (`tracker_arrays`' tuple), as rule seeds hold them."""
    _, n_cols, n_bars = conditions.shape
    close = np.ascontiguousarray(close, dtype=np.float64)
    if close.shape != (n_bars,):
        raise ValueError(f"close has shape {close.shape}, expected ({n_bars},)")
    hold, scale, row, mult, use_trail = stops
    out = np.empty((n_cols, n_bars), dtype=np.int8)
    cond = np.ascontiguousarray(conditions, dtype=np.bool_)
    planes = cond[LONG_ENTRY], cond[LONG_EXIT], cond[SHORT_ENTRY], cond[SHORT_EXIT]
    _positions_kernel(*planes, close, hold, scale, row, mult, use_trail, out)
    return out


def tracker_arrays(
    n_cols: int,
    n_bars: int,
    max_hold: np.ndarray | None = None,
    trail_scale: np.ndarray | None = None,
    trail_row: np.ndarray | None = None,
    trail_mult: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, bool]:
    """The tracker's stop inputs, checked: (max_hold, trail_scale, trail_row, trail_mult, use_trail) as the
    compiled tracker (`track_one`) takes them, for `n_cols` genomes over `n_bars` bars."""
    hold = np.zeros(n_cols, np.int64) if max_hold is None else np.ascontiguousarray(max_hold, dtype=np.int64)
    if hold.shape != (n_cols,):
        raise ValueError(f"max_hold has shape {hold.shape}, expected ({n_cols},)")
    use_trail = trail_scale is not None
    if use_trail:
        scale = np.ascontiguousarray(trail_scale, dtype=np.float64)
        row = np.ascontiguousarray(trail_row, dtype=np.int64)
        mult = np.ascontiguousarray(trail_mult, dtype=np.float64)
        if scale.ndim != 2 or scale.shape[1] != n_bars or row.shape != (n_cols,) or mult.shape != (n_cols,):
            raise ValueError(f"trail_scale must be (rows, {n_bars}) with trail_row and trail_mult of ({n_cols},)")
        if n_cols and not (0 <= row.min() and row.max() < scale.shape[0]):
            raise ValueError("trail_row points outside trail_scale")
    else:
        scale, row, mult = np.zeros((1, n_bars)), np.zeros(n_cols, np.int64), np.zeros(n_cols)
    return hold, scale, row, mult, use_trail


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
    if trail is not None and np.shape(trail) != shape:
        raise ValueError(f"trail has shape {np.shape(trail)}, expected {shape}")
    n_cols = shape[1]
    conditions = np.empty((4, n_cols, shape[0]), dtype=np.bool_)
    for plane, arr in ((LONG_ENTRY, long_entry), (LONG_EXIT, long_exit), (SHORT_ENTRY, short_entry), (SHORT_EXIT, short_exit)):
        conditions[plane] = np.asarray(arr, dtype=np.bool_).T
    trail_kw = {}
    if trail is not None:  # distance = 1.0 * trail[t, g], exactly trail
        trail_kw = {"trail_scale": np.asarray(trail).T, "trail_row": np.arange(n_cols), "trail_mult": np.ones(n_cols)}
    return track_positions(conditions, close, max_hold, **trail_kw).T


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
