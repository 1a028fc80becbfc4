"""Durable file writes: the one place that knows how to make a write survive a crash.

Every writer of the project (lake partitions, run artifacts, the strategy store, the deployment
manifest) goes through these, so "written" always means: complete, synced, and visible under its
final name only once whole (temp file beside the target, fsync, rename, fsync of the folder).
"""

from __future__ import annotations

import itertools
import os
import re
import time
from collections.abc import Callable, Iterable
from pathlib import Path

BATCH_SYNC_THRESHOLD = 8  # above this many files one os.sync() beats one fsync per file
_TMP_COUNTER = itertools.count()


def temp_path(path: Path) -> Path:
    """A temp name beside `path`, unique to this process and call, hidden from globs of `*.ext`."""
    return path.parent / f".{path.name}.{os.getpid()}.{next(_TMP_COUNTER)}.tmp"


def fsync_path(path: Path) -> None:
    """fsync a file or (on POSIX) a directory, so a rename or a new entry in it is durable."""
    if os.name != "posix" and path.is_dir():  # pragma: no cover - directories cannot be fsynced there
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sync_files(paths: Iterable[Path]) -> None:
    """Make file contents durable: one system-wide sync for a large batch, else one fsync per file."""
    paths = list(paths)
    if len(paths) > BATCH_SYNC_THRESHOLD and hasattr(os, "sync"):
        os.sync()
    else:
        for path in paths:
            fsync_path(path)


def create_new(path: Path, data: bytes, *, sync: bool = True) -> None:
    """Create `path` with `data`, never replacing an existing file (O_EXCL)."""
    with open(path, "xb") as handle:
        handle.write(data)
        if sync:
            handle.flush()
            os.fsync(handle.fileno())


def discard(path: Path | str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def atomic_write(path: Path, writer: Callable[[str], object]) -> None:
    """Write through `writer(tmp_path)` into a temp file beside `path`, sync it, rename it over `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    try:
        writer(str(tmp))
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        discard(tmp)
        raise


def replace_bytes(path: Path, data: bytes) -> None:
    """Replace `path` atomically with `data`."""
    atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))


def replace_text(path: Path, text: str) -> None:
    """Replace `path` atomically with `text` (UTF-8)."""
    replace_bytes(path, text.encode())


_TEMP_NAME = re.compile(r"^\..+\.(\d+)\.\d+\.tmp$")  # what temp_path() makes: .{name}.{pid}.{n}.tmp


def process_alive(pid: int) -> bool:
    """Whether process `pid` runs on this machine (a zombie, exited but not yet reaped, counts as dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def sweep_stale_temps(root: Path, min_age_s: float = 60.0) -> list[Path]:
    """Remove temp files left under `root` by writers that died (kill -9) before their rename.

    Only names `temp_path` makes are touched, and only when their writer's process is gone and the file
    is older than `min_age_s`; links are never followed. Returns what was removed."""
    removed: list[Path] = []
    if not root.is_dir():
        return removed
    cutoff = time.time() - min_age_s
    for folder, _dirs, files in os.walk(root, followlinks=False):
        for name in files:
            match = _TEMP_NAME.match(name)
            if match is None or int(match.group(1)) == os.getpid() or process_alive(int(match.group(1))):
                continue
            path = Path(folder) / name
            try:
                if path.lstat().st_mtime < cutoff:
                    path.unlink()
                    removed.append(path)
            except FileNotFoundError:
                pass
    return removed


def append_json_line(path: Path, record: dict, keep: int | None = None) -> Path:
    """Append one JSON record to a JSON-lines file, atomically (keeping the last `keep` lines when given)."""
    import json

    lines = path.read_text().splitlines() if path.exists() else []
    lines.append(json.dumps(record, sort_keys=True, default=str))
    if keep is not None:
        lines = lines[-keep:]
    path.parent.mkdir(parents=True, exist_ok=True)
    replace_text(path, "\n".join(lines) + "\n")
    return path


def read_json_lines(path: Path) -> list:
    """The records of a JSON-lines file; a torn or foreign line is skipped, the rest still read."""
    import json

    if not path.exists():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            continue
    return records
