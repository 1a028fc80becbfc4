"""Market frames carried from one run to the next: a paper run reads only the lake days that are new or rewritten.

The paper asset trades one day (or one bar) at a time, but each strategy's signals are computed on its
whole anchored history, and reading that history from the lake costs a Parquet file and a quality footer
per coin and day: most of a paper day, and more every day as the history grows. A `FrameCache` keeps the
frames of its last read in one Parquet file per history anchor, with a fingerprint of every lake file each
day's rows came from (device, inode, size, modification time: a rewrite is an atomic rename, so a new
inode). The next read of the same anchor, coins and interval stats those files, keeps the rows of the days
whose inputs are unchanged and reads the lake again from the first day that is new or rewritten.

Rows of day D depend on the candles and funding of D, on funding stamped after the previous bar opened
(which can sit on an earlier day) and on the regime row of D-1 (core/bars.py). So the lake is re-read from
the day of the last cached bar before D, and only its rows from D on are taken. The result equals a fresh
`load_market_frames` over the whole span, which the tests prove for appended, rewritten and removed days.

The cache is a copy of what the lake holds, never a source: one that cannot be read is reported and
rebuilt, and one written is replaced atomically (two paper runs never see half a cache).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from quant_organism.core.timeutil import utc_timestamp
from quant_organism.market.frames import MarketFrames, load_market_frames
from quant_organism.market.lake import DATA_FILE, MarketLake

CACHE_VERSION = 1
"""Raised whenever what a cached row holds changes (columns, their meaning): an older cache is then rebuilt."""
_META = b"quant_organism.frame_cache"


@dataclass(frozen=True)
class CachedRead:
    """Frames over [start, end) and how they were obtained: `read_from` the first day read from the lake
    (None: every row came from the cache; the span's start: nothing usable was cached), `note` why a cache was
    not used (unreadable, or written for another span), for the run's log."""

    frames: MarketFrames
    read_from: pd.Timestamp | None
    cached_days: int
    note: str | None = None


def _fingerprint(path: str) -> tuple[int, ...] | None:
    try:
        st = os.stat(path, follow_symlinks=False)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


class FrameCache:
    """Carried market frames, one file per (history anchor, interval, coins) under `folder`."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def path(self, start: pd.Timestamp, interval: str, coins: Iterable[str]) -> Path:
        coins_key = hashlib.sha1(",".join(coins).encode()).hexdigest()[:10]
        return self.folder / f"from={start:%Y-%m-%dT%H%M}_interval={interval}_coins={coins_key}.parquet"

    def load(
        self, lake: MarketLake, coins: Iterable[str], start: str | pd.Timestamp, end: str | pd.Timestamp, interval: str = "1h"
    ) -> CachedRead:
        """`load_market_frames(lake, coins, start, end, interval)`, reading the lake only where the cache lacks a
        day or holds a day whose lake files changed since; the cache is then updated to the new end."""
        start, end = utc_timestamp(start, "start"), utc_timestamp(end, "end")
        coins = list(coins)
        path = self.path(start, interval, coins)
        days = list(pd.date_range(start.floor("D"), (end - pd.Timedelta(1, "ns")).floor("D"), freq="D"))
        prints = _day_prints(lake, coins, days, interval)
        cached, note = _read(path)
        if cached is not None and (cached.meta.get("coins") != coins or cached.meta.get("interval") != interval):
            cached, note = None, "the cache holds other coins or another interval"
        first_dirty = _first_dirty(days, prints, cached)
        if first_dirty is None:  # every day of the span is cached and unchanged
            frames = {c: f.loc[f.index < end] for c, f in cached.frames.items()}
            frames = {c: f for c, f in frames.items() if len(f)}
            return CachedRead(MarketFrames(frames, start, end, interval, _skipped_before(cached, end)), None, len(days), note)
        kept = _rows_before(cached, first_dirty) if cached is not None else {}
        # Re-read from the day of each coin's last kept bar: funding stamped after it opened lands on the coin's
        # first new bar. A coin with no kept bar gathers every stamp since the start on its first bar.
        last_kept = [kept[c].index[-1] if len(kept.get(c, ())) else None for c in coins]
        read_from = start if any(t is None for t in last_kept) else max(start, min(last_kept).floor("D"))
        fresh = load_market_frames(lake, coins, read_from, end, interval)
        frames = {}
        for coin in coins:
            old, new = kept.get(coin), fresh.frames.get(coin)
            new = new.loc[new.index >= first_dirty] if new is not None else None
            parts = [p for p in (old, new) if p is not None and len(p)]
            if parts:
                frames[coin] = pd.concat(parts) if len(parts) > 1 else parts[0]
        skipped = (_skipped_before(cached, first_dirty) if cached is not None else []) + [
            s for s in fresh.skipped if _skip_day(s) >= f"{first_dirty:%Y-%m-%d}"
        ]
        loaded = MarketFrames(frames, start, end, interval, skipped)
        complete = {k: v for k, v in prints.items() if pd.Timestamp(k, tz="UTC") + pd.Timedelta(days=1) <= end}
        previous_end = pd.Timestamp(cached.meta["end"]) if cached is not None else None
        if previous_end is None or end >= previous_end:  # a rerun of an earlier span leaves the longer cache in place
            note = _write(path, loaded, complete, coins, interval) or note
        cached_days = sum(1 for d in days if d < first_dirty)
        return CachedRead(loaded, first_dirty.floor("D"), cached_days, note)

    def prune_unused(self, max_age: pd.Timedelta) -> list[Path]:
        """Remove the caches no run has written for `max_age` (each paper day appends to the caches in use; one
        left behind belongs to a history anchor no deployment trades any more). Returns what was removed."""
        cutoff = pd.Timestamp.now(tz="UTC").timestamp() - max_age.total_seconds()
        removed = []
        for path in sorted(self.folder.glob("from=*.parquet")) if self.folder.is_dir() else []:
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed.append(path)
            except FileNotFoundError:  # another run removed it first
                continue
        return removed


def _day_prints(lake: MarketLake, coins: list[str], days: list[pd.Timestamp], interval: str) -> dict[str, str]:
    """Each day's inputs as a short hash: its candle and funding files per coin and its regime row. The paths are
    built as text from each coin's folder (a long history stats thousands of files; pathlib would cost more)."""
    folders = [str(lake.partition_path("candles", c, "_", interval).parent.parent) for c in coins]
    folders += [str(lake.partition_path("funding_rates", c, "_").parent.parent) for c in coins]
    regimes = str(lake.day_path("regimes", "_").parent.parent)
    prints = {}
    for day in days:
        key = f"{day:%Y-%m-%d}"
        parts = [_fingerprint(f"{folder}/date={key}/{DATA_FILE}") for folder in (*folders, regimes)]
        prints[key] = hashlib.sha1(repr(parts).encode()).hexdigest()[:16]
    return prints


@dataclass
class _Cached:
    frames: dict[str, pd.DataFrame]
    meta: dict


def _read(path: Path) -> tuple[_Cached | None, str | None]:
    if not path.exists():
        return None, None
    try:
        table = pq.read_table(path)
        meta = json.loads(table.schema.metadata[_META])
        if meta.get("version") != CACHE_VERSION:
            return None, f"the frame cache {path.name} is of version {meta.get('version')}, not {CACHE_VERSION}: rebuilt"
        whole = table.to_pandas()
    except (OSError, KeyError, ValueError, pa.ArrowException) as exc:
        return None, f"the frame cache {path.name} could not be read ({exc}): rebuilt from the lake"
    frames = {str(c): f.drop(columns="coin") for c, f in whole.groupby("coin", sort=False)}
    return _Cached(frames, meta), None


def _first_dirty(days: list[pd.Timestamp], prints: dict[str, str], cached: _Cached | None) -> pd.Timestamp | None:
    """The first day of the span that is not cached or whose lake files changed (None: all cached and unchanged)."""
    known = cached.meta["days"] if cached is not None else {}
    for day in days:
        key = f"{day:%Y-%m-%d}"
        if known.get(key) != prints[key]:
            return day
    return None


def _rows_before(cached: _Cached, day: pd.Timestamp) -> dict[str, pd.DataFrame]:
    return {c: f.loc[f.index < day] for c, f in cached.frames.items()}


def _skip_day(message: str) -> str:
    """The day of a `load_market_frames` skip message ("dataset/coin/YYYY-MM-DD: why")."""
    return message.split(":", 1)[0].rsplit("/", 1)[-1]


def _skipped_before(cached: _Cached, day: pd.Timestamp) -> list[str]:
    return [s for s in cached.meta.get("skipped", []) if _skip_day(s) < f"{day:%Y-%m-%d}"]


def _write(path: Path, loaded: MarketFrames, days: dict[str, str], coins: list[str], interval: str) -> str | None:
    """Replace the cache atomically; a failure is reported (the run goes on from the lake's rows)."""
    parts = [f.assign(coin=c) for c, f in loaded.frames.items() if len(f)]
    if not parts:
        return None
    meta = {"version": CACHE_VERSION, "coins": coins, "interval": interval, "end": str(loaded.end), "days": days,
            "skipped": loaded.skipped}  # fmt: skip
    table = pa.Table.from_pandas(pd.concat(parts), preserve_index=True)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), _META: json.dumps(meta).encode()})
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, tmp)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        return f"the frame cache {path.name} could not be written ({exc}): the next run reads the lake again"
    return None
