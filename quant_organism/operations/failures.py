"""The failed-run log: one JSON line per failed run, appended under a lock; the report reads it back."""

from __future__ import annotations

import fcntl
import json
import logging
import os
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from quant_organism.core.timeutil import utc

log = logging.getLogger(__name__)


FAILURE_FIELDS = ("run_id", "job", "partition", "time", "error")


FAILURES_FILE = Path("failures") / "failures.jsonl"  # under the data root: one JSON object per failed run


def record_failure(record: Mapping[str, Any], path: Path) -> Path:
    """Append one failed run as a JSON line (under an exclusive lock, in one write, synced); returns the file."""
    missing = [name for name in FAILURE_FIELDS if name not in record]
    if missing:
        raise ValueError(f"failure record lacks {missing}; expected at least {list(FAILURE_FIELDS)}")
    try:  # refuse an unreadable or naive time now, not when reading
        utc(datetime.fromisoformat(record["time"]))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"failure record time {record['time']!r}: {exc}; expected an ISO time with a UTC offset") from None
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(dict(record), sort_keys=True, default=str) + "\n").encode()
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":  # a torn last line: do not glue this record to it
            line = b"\n" + line
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)
    return path


def read_failures(path: Path, since: datetime | str | None = None) -> list[dict[str, Any]]:
    """Recorded failed runs at or after `since`, oldest first; one per run id (the latest record).

    Unreadable lines (e.g. a write cut short by a crash) are skipped with a warning.
    """
    if not path.exists():
        return []
    cutoff = utc(datetime.fromisoformat(since) if isinstance(since, str) else since) if since is not None else None
    by_run: dict[str, tuple[datetime, dict[str, Any]]] = {}
    for number, text in enumerate(path.read_text().splitlines(), start=1):
        if not text.strip():
            continue
        try:
            record = json.loads(text)
            moment = utc(datetime.fromisoformat(record["time"]))
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("%s line %d unreadable (%s); skipped", path, number, exc)
            continue
        if cutoff is None or moment >= cutoff:
            by_run[record.get("run_id", f"line-{number}")] = (moment, record)
    return [record for _, record in sorted(by_run.values(), key=lambda item: item[0])]
