"""A seed's target position at bar t from the bars up to t: recomputed each bar, or computed once and proven.

Two ways to get the same numbers:
- `incremental` (the live default): at bar t the seed runs on bars[:t+1] and its last value is the
  target. Causal by construction, O(t) per bar.
- `precomputed` (for replays): the seed runs once on the whole frame and bar t reads row t. That is
  only right because seeds are causal (a bar's signal never changes when later bars are added; the
  strategies' tests prove it per seed). It is not taken on trust here: the first use on a frame
  recomputes `verify_bars` prefixes (the latest that leaves a bar out, bars just after the target
  changed, and evenly spaced bars) and raises LookaheadError if any prefix disagrees with the full
  computation. The whole frame is never one of them: it leaves no later bar out, so it proves nothing.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from quant_organism.strategies import BaseSeed
from quant_organism.strategies.ohlcv import Bars, prepare_bars

SignalMode = Literal["incremental", "precomputed"]


class LookaheadError(RuntimeError):
    """A seed's signal at some bar changed when later bars were added: it peeks into the future."""


def verification_points(targets: np.ndarray, start: int, count: int) -> list[int]:
    """Last bars of the prefixes to recompute, in [start, n - 2]: the latest (it catches a peek one bar ahead
    anywhere), the bars right after target changes, then evenly spaced ones. None past n - 2: a prefix ending at
    the last bar is the whole frame, and a signal there has no later bar it could have used."""
    n = len(targets)
    latest = n - 2
    if count <= 0 or start > latest:
        return []
    changes = np.flatnonzero(np.diff(targets[start:].astype(np.int16))) + start + 1
    changes = changes[changes <= latest]
    after_changes = changes[:: max(1, len(changes) // max(1, count // 2))][: count // 2].tolist()
    spaced = np.linspace(start, latest, num=count, dtype=np.int64).tolist()
    picked: list[int] = []
    for p in [latest, *after_changes, *spaced]:
        if p not in picked:
            picked.append(int(p))
        if len(picked) == count:
            break
    return sorted(picked)


class SignalSource:
    """Targets in {-1, 0, 1} of one seed, read at a bar of one coin's frame."""

    def __init__(self, seed: BaseSeed, mode: SignalMode = "incremental", verify_bars: int = 8) -> None:
        if mode not in ("incremental", "precomputed"):
            raise ValueError(f"signal mode must be 'incremental' or 'precomputed', got {mode!r}")
        if verify_bars < 0:
            raise ValueError(f"verify_bars must be >= 0, got {verify_bars}")
        self.seed, self.mode, self.verify_bars = seed, mode, int(verify_bars)
        self._frame: pd.DataFrame | None = None  # held, so `is` identifies the frame the cache belongs to
        self._targets: np.ndarray | None = None
        self.verified: list[int] = []
        self.bars: Bars | None = None  # the prepared frame's checked bars (precomputed mode)

    def target_at(self, frame: pd.DataFrame, i: int) -> int:
        """The target decided at bar `i`'s close (a position in `frame`), from frame rows [0, i] only."""
        if self.mode == "incremental":
            if not 0 <= i < len(frame):
                raise IndexError(f"bar {i} outside a frame of {len(frame)} bars")
            return int(self.seed.generate_signals(frame.iloc[: i + 1]).iat[-1])
        if frame is not self._frame:
            self.prepare(frame)
        if not 0 <= i < len(self._targets):
            raise IndexError(f"bar {i} outside a frame of {len(self._targets)} bars")
        return int(self._targets[i])

    def targets(self, frame: pd.DataFrame) -> np.ndarray:
        """Every bar's target on `frame` (precomputed mode: computed and proven once, then read; read-only)."""
        if self.mode != "precomputed":
            raise ValueError("targets of a whole frame are precomputed-mode only; incremental mode reads one bar at a time")
        if frame is not self._frame:
            self.prepare(frame)
        view = self._targets.view()
        view.setflags(write=False)
        return view

    def is_prepared(self, frame: pd.DataFrame) -> bool:
        return self.mode == "precomputed" and frame is self._frame

    def prepare(self, frame: pd.DataFrame, start: int = 0, bars: Bars | None = None) -> np.ndarray:
        """Precompute the frame's targets and prove them on prefixes ending at or after bar `start`.

        The frame is checked once (`prepare_bars`, or `bars`: that frame's checked bars, which other sources
        of the same frame share with their indicator rows); each prefix is its first rows as array views with
        caches of their own, so a prefix's signals are computed from its bars alone, as `generate_signals` on
        `frame.iloc[:p + 1]` would (which would check the same bars again)."""
        seed, genes = type(self.seed), [self.seed.genes]
        if bars is None or (seed.needs_funding and bars.funding is None):  # the latter raises prepare_bars' error
            bars = prepare_bars(frame, need_funding=seed.needs_funding, what=f"{seed.seed_type.value} signals")
        elif bars.n != len(frame):
            raise ValueError(f"bars of {bars.n} rows given for a frame of {len(frame)}")
        targets = seed.positions_batch(bars, genes)[:, 0].astype(np.int8, copy=False)
        checked = []
        for p in verification_points(targets, start, self.verify_bars):
            prefix = seed.positions_batch(bars.prefix(p + 1), genes)[:, 0]
            differ = np.flatnonzero(prefix != targets[: p + 1])
            if len(differ):
                k = int(differ[0])
                raise LookaheadError(
                    f"{self.seed!r}: the signal at bar {frame.index[k]} is {int(prefix[k])} from bars up to "
                    f"{frame.index[p]} but {int(targets[k])} from the whole frame: it uses later bars"
                )
            checked.append(p)
        self._frame, self._targets, self.verified, self.bars = frame, targets, checked, bars
        return targets
