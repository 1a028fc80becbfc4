"""Stale numba caches: a compiled function's on-disk cache only notices edits to its own file.

A kernel that calls compiled helpers of other modules (the backtest kernel calls core/metrics.py, the fused
kernel calls the rules, the tracker and the kernel) stamps its cache with the source of every file it
compiles in, and drops the cache when any of them changed.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

STAMPED: dict[tuple[Path, str], tuple[Path, ...]] = {}
"""(cache folder, prefix) -> the sources its stamp covers, for every cache stamped in this process (a test checks that
each module whose kernels call another module's kernels or read its constants stamps its cache with that module)."""


def drop_stale_cache(folder: Path, sources: list[Path], prefix: str) -> bool:
    """Remove the numba cache files `prefix.*.nbi|nbc` in `folder` unless a stamp there says they were built
    from exactly these `sources`; then stamp them. True when files were dropped (module docstring)."""
    STAMPED[(Path(folder), prefix)] = tuple(Path(p) for p in sources)
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in sources)).hexdigest()
    stamp = folder / f"{prefix}.sources"
    try:
        if stamp.read_text() == digest:
            return False
    except OSError:
        pass
    dropped = False
    try:
        for stale in folder.glob(f"{prefix}.*.nb[ic]"):
            stale.unlink(missing_ok=True)
            dropped = True
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=folder, delete=False, suffix=".tmp") as tmp:
            tmp.write(digest)
        os.replace(tmp.name, stamp)
    except OSError:  # an unwritable cache folder: numba cannot have saved anything there either
        pass
    return dropped
