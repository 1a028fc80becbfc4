"""Indicator rows kept on bars between calls, within one memory budget per process (`Indicators.table`).

Evolution asks every generation for mostly the periods of the generation before (on the full preset, 60% of
a generation's rows were asked for by the one before, 75% by one of the four before). A row kept is a row not
computed again; but a table built by stacking kept rows cost as much as computing them, so rows are kept in
one matrix per indicator and bars (`RowStore`), and a table is a read-only view of it: kept rows are read in
place, and fresh rows are computed straight into their slots (copied there only when they reuse scattered
slots of dropped rows).

A store grows while the budget allows; then it makes room by dropping its own least recently used rows. A
table stays valid while anyone holds it, whatever is asked later: a dropped row's slot is written again in
place only while no view of the store is alive (the views handed out are tracked by weak references);
otherwise the store moves its rows into new matrices and the views keep the old ones.
"""

from __future__ import annotations

import itertools
import threading
import weakref
from collections.abc import Callable, Sequence

import numpy as np

MEMORY_BYTES = 96 * 2**20
"""Rows kept per process, over all live bars. On the full preset (5 coins, 146 days of hourly bars, 10 islands)
a generation asks for about 1,160 rows (33 MB) and a whole run for 10,680 distinct ones (285 MB). Rows computed
in one run, by budget (2026-11-27): 32 MB 33,973, 64 MB 20,534, 96 MB 13,509, 128 MB 11,622, unbounded 9,300
(the rows kept before this store, first come first kept in 32 MB, left 44,342). On 50 coins a generation's rows
never fit; the one-process 50-coin run peaked at 908 MB with 64 MB and 873 MB with 128 MB (its peak is not the
rows')."""

GROWTH = 1.5
"""How much a store grows at a time while the budget allows (amortises the copy into a larger matrix)."""

lock = threading.RLock()  # one table call at a time changes the stores (slots, matrices, the byte count)
_kept_bytes = [0]  # the matrices' bytes, over all live stores
_ticks = itertools.count(1)


def kept_bytes() -> int:
    return _kept_bytes[0]


class RowStore:
    """Rows of indicators laid out together (one name, or names asked for at the same periods) on one set of
    bars: one matrix per name, a period's rows at the same slot of each, and per slot the tick of its last use."""

    def __init__(self, names: int, bars: int) -> None:
        self.matrices = [np.empty((0, bars)) for _ in range(names)]
        self.slot: dict[int, int] = {}  # period -> slot
        self.last_used = np.zeros(0, np.int64)
        self.high = 0  # slots ever written: views cover [:high]
        self.free: list[int] = []  # slots below `high` whose rows were dropped
        self._views: list[weakref.ref] = []  # the views handed out (arrays are not hashable: no WeakSet)

    @property
    def capacity(self) -> int:
        return self.matrices[0].shape[0]

    @property
    def nbytes(self) -> int:
        return sum(m.nbytes for m in self.matrices)

    def views(self) -> list[np.ndarray]:
        """The kept rows, read-only: slots [:high] of each matrix (read them through the slots of `touch`)."""
        out = []
        for matrix in self.matrices:
            view = matrix[: self.high]
            view.flags.writeable = False
            self._views.append(weakref.ref(view))
            out.append(view)
        return out

    def touch(self, periods: Sequence[int]) -> np.ndarray:
        """The slots of `periods` (all kept), marked used now."""
        slots = np.array([self.slot[p] for p in periods], dtype=np.int64)
        self.last_used[slots] = next(_ticks)
        return slots

    def keep(self, periods: Sequence[int], compute: Callable[[list | None], list[np.ndarray]], asked: set[int]) -> bool:
        """Keep the fresh rows of `periods`, growing while the budget allows, then dropping this store's least
        recently used rows (never those of `asked`, this call's periods). `compute(outs)` makes them: name k's rows
        of `periods` in order, written into outs[k] when given (free slots in a row, so no copy), else new tables.
        False, before anything is computed, when they cannot all be kept: the caller builds its table without the
        store."""
        need = len(periods)
        if need == 0:
            return True
        self._views = [v for v in self._views if v() is not None]
        in_place = not self._views  # dropped rows' slots may be written again only while no view is alive
        spare = self.capacity - self.high + (len(self.free) if in_place else 0)
        if need > spare:
            live = len(self.slot)
            room = (MEMORY_BYTES - _kept_bytes[0]) // self._row_bytes()  # rows the budget allows beyond this store
            if self.capacity == 0 and need <= room:
                self._adopt(periods, compute(None))
                return True
            if live + need <= self.capacity + room:
                self._rebuild(min(self.capacity + room, max(live + need, int(GROWTH * self.capacity))), drop=())
            else:
                victims = self._least_used(need - spare if in_place else live + need - self.capacity, asked)
                if victims is None:
                    return False
                self._drop(victims, in_place)
        self._write(periods, compute, in_place)
        return True

    def _least_used(self, count: int, asked: set[int]) -> list[int] | None:
        """The `count` least recently used kept periods outside `asked` (None if there are fewer)."""
        if count <= 0:
            return []
        candidates = [p for p in self.slot if p not in asked]
        if len(candidates) < count:
            return None
        ticks = self.last_used[[self.slot[p] for p in candidates]]
        oldest = np.argsort(ticks, kind="stable")[:count]  # a Python sort keyed per row was 1.5% of an evolution run
        return [candidates[k] for k in oldest.tolist()]

    def _drop(self, periods: Sequence[int], in_place: bool) -> None:
        if in_place:
            self.free.extend(self.slot.pop(p) for p in periods)
        else:
            self._rebuild(self.capacity, drop=periods)

    def _write(self, periods: Sequence[int], compute: Callable[[list | None], list[np.ndarray]], in_place: bool) -> None:
        """Fresh rows into free slots: dropped ones first while no view is alive, then past `high`. Rows past `high`
        only (a growing store: a fresh population's, or a run's until its budget is full) are computed in their
        slots, which views handed out do not cover; the slots are the rows' only once computed, so a failure leaves the store as it was."""
        start = self.high
        reusing = min(len(self.free), len(periods)) if in_place else 0
        if reusing == 0:
            compute([matrix[start : start + len(periods)] for matrix in self.matrices])
            slots = list(range(start, start + len(periods)))
        else:
            rows = compute(None)
            slots = self.free[-reusing:][::-1] + list(range(start, start + len(periods) - reusing))
            for matrix, fresh in zip(self.matrices, rows):
                matrix[slots] = fresh
            del self.free[-reusing:]
        self.slot.update(zip(periods, slots))
        self.high += len(periods) - reusing

    def _adopt(self, periods: Sequence[int], rows: Sequence[np.ndarray]) -> None:
        """An empty store takes a fresh batch's tables as its matrices, without a copy."""
        self.matrices = list(rows)  # contiguous: `Indicators.tables` made them so
        self.last_used = np.zeros(len(periods), np.int64)
        self.slot = {p: k for k, p in enumerate(periods)}
        self.high = len(periods)
        _kept_bytes[0] += self.nbytes

    def _rebuild(self, capacity: int, drop: Sequence[int]) -> None:
        """New matrices of `capacity` slots holding the kept rows but those of periods `drop`, slots renumbered in
        order; views handed out keep the old matrices."""
        gone = set(drop)
        kept = sorted((s, p) for p, s in self.slot.items() if p not in gone)
        old = np.array([s for s, _ in kept], dtype=np.int64)
        contiguous = len(old) == self.high  # nothing dropped or freed: a slice, not a gather
        _kept_bytes[0] -= self.nbytes
        matrices = []
        for matrix in self.matrices:
            new = np.empty((capacity, matrix.shape[1]))
            new[: len(old)] = matrix[: self.high] if contiguous else matrix[old]
            matrices.append(new)
        used = np.zeros(capacity, np.int64)
        used[: len(old)] = self.last_used[old]
        self.matrices, self.last_used, self.high, self.free = matrices, used, len(old), []
        self.slot = {p: k for k, (_, p) in enumerate(kept)}
        self._views = []
        _kept_bytes[0] += self.nbytes

    def _row_bytes(self) -> int:
        return sum(m.shape[1] for m in self.matrices) * 8


def release(stores: dict) -> None:
    """Hand the budget back when the bars holding `stores` are gone."""
    with lock:
        _kept_bytes[0] -= sum(store.nbytes for store in stores.values())
