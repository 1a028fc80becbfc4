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

from quant_organism.strategies.compiled.position_tracking import track_all_nb

from .compiled.seed_rules import LONG_ENTRY, LONG_EXIT, SHORT_ENTRY, SHORT_EXIT, TOL


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
    track_all_nb(*planes, close, hold, scale, row, mult, use_trail, out)
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
