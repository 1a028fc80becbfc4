"""Keep freed memory for the next batch instead of handing it back to the kernel and faulting it in again.

A batch of genomes allocates indicator tables of a few MB each (one row per distinct period, a year of
bars per row) and frees them when the batch is scored. glibc serves such blocks with a fresh `mmap` and
unmaps them on free (its dynamic threshold only rises to the largest block freed, and it trims the heap
top beyond twice that), so the next batch pays the kernel to map and zero every page again: measured at
1-2.5 ns per table cell, as much as the pass that fills it (`bench backtest`: about a quarter of a
500-genome year). Serving blocks below `MMAP_THRESHOLD_BYTES` from the heap and trimming its top only beyond
`TRIM_THRESHOLD_BYTES` lets a process reuse its pages: at most that much freed memory stays mapped.

Applied once per process by the package's `__init__` (drivers, Ray and pool workers alike); glibc only,
a no-op elsewhere. `QUANT_ORGANISM_MALLOC_TUNING=0` leaves the allocator's defaults.
"""

from __future__ import annotations

import ctypes
import os
import platform

MMAP_THRESHOLD_BYTES = 32 * 2**20  # glibc's ceiling for this setting on 64-bit systems
TRIM_THRESHOLD_BYTES = 64 * 2**20
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt parameter numbers (malloc.h)
_applied: bool | None = None


def retain_freed_memory() -> bool:
    """Set the thresholds above with glibc's `mallopt`; True when they are in force in this process."""
    global _applied
    if _applied is not None:
        return _applied
    _applied = False
    if os.environ.get("QUANT_ORGANISM_MALLOC_TUNING", "1") == "0" or platform.libc_ver()[0] != "glibc":
        return _applied
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return _applied
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    _applied = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES))
    return _applied
