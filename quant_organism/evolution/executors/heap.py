"""Keep the large blocks a process frees for its next allocations, instead of handing them back to the OS.

Why: scoring a population allocates its indicator tables afresh on every call (a 500-genome pass over a year of
hourly bars: about 33 MB in blocks of 0.1-7 MB). glibc serves blocks that large from their own `mmap` and
unmaps them on free (or trims them off the heap's top), so every call faulted that memory in again: 8,265 minor
page faults and 20-48 ms of system time in a 130-155 ms pass, a quarter of it (docs/history/2026-11-29-measurements.md,
2026-11-27). With these two limits raised, a freed block stays in the heap and the next call reuses it: no
faults from the third call on. The cost: memory a process frees stays with it until it exits (the heap's top up
to `TRIM_THRESHOLD_BYTES`, as blocks inside the heap always did); a run's peak does not grow, since a kept block is
reused before the heap grows (bench scale's 50-coin rows measure it).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

M_TRIM_THRESHOLD = -1  # glibc's mallopt parameters (malloc.h)
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 64 * 2**20
"""Blocks above this still get their own mapping (a one-off huge array is returned at once)."""
TRIM_THRESHOLD_BYTES = 256 * 2**20
"""Free memory at the heap's top kept before glibc trims it."""


@functools.cache
def keep_freed_blocks() -> bool:
    """Raise glibc's mmap and trim thresholds in this process, once. Returns whether they are raised (False where
    the C library has no `mallopt`). They replace the values of glibc's own `MALLOC_MMAP_THRESHOLD_` and
    `MALLOC_TRIM_THRESHOLD_` variables, which glibc read at start-up (domain code reads no environment)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES))
