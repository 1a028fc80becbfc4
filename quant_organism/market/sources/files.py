"""Import candles and funding rates from a directory of CSV or Parquet files, one file per coin (or the
pieces of one history): how files are named is file_names.py, how one is read file_tables.py; this module
chooses a coin's files, parses each version once, builds bars from finer files (resample.py) and slices days.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from quant_organism.core.timeutil import utc_timestamp
from quant_organism.market.schema import INTERVALS, MarketDataError, UnknownCoinError, empty_funding, interval_delta
from quant_organism.market.sources.file_names import EXTENSIONS, FileEntry, one_history, parse_file_name
from quant_organism.market.sources.file_tables import read_candle_file, read_candle_rows, read_funding_rows
from quant_organism.market.sources.interface import MarketDataSource
from quant_organism.market.sources.resample import finer_interval, interval_of_token, resample_candles

__all__ = ["FileEntry", "FileSource", "parse_file_name", "read_candle_file", "read_candle_rows", "read_funding_rows"]


@dataclass
class _Parsed:
    stamp: tuple[tuple[int, int], ...]  # (mtime_ns, size) of each file when parsed
    frame: pd.DataFrame
    ascending: bool
    spacing: pd.Timedelta | None
    undated: pd.DataFrame
    grid_offset: tuple[pd.Timedelta, float] | None = None  # most bars' offset from the `spacing` grid, its share
    built_from: str | None = None  # the finer interval these bars were built from (resample.py)
    left_out: int = 0  # bars not built from it: sub-bars missing, duplicated or unsound


class FileSource(MarketDataSource):
    """Candles and funding rates from files in one directory (conventions in the module docstring).

    Each file is parsed once and kept per (path, mtime, size), so slicing many daily partitions out of
    one file costs a lookup, not a CSV read. A coin with candle files but no funding file has no
    funding rates (an empty frame); a funding file that exists but cannot be read raises.
    """

    name = "files"

    def __init__(self, directory: str | os.PathLike[str] | None = None, origin: str | None = None) -> None:
        if directory is None:
            raise MarketDataError("files source needs a directory: pass one or set QUANT_ORGANISM_FILES_DIR")
        resolved = Path(directory).resolve()
        if not resolved.is_dir():
            raise MarketDataError(f"files source directory {resolved} does not exist or is not a directory")
        self.directory = resolved
        self.origin = origin  # only files named '{origin}__...' when set
        self.parses = 0  # files parsed so far (cache misses), for tests and benchmarks
        self._cache: dict[tuple[tuple[Path, ...], str], _Parsed] = {}  # kind: candles, funding, candles@{interval}
        self._listing: tuple[tuple[str, ...], list[FileEntry]] | None = None

    # -- catalogue ---------------------------------------------------------------------------------
    def entries(self) -> list[FileEntry]:
        """Every recognised file in the directory; the names are re-listed on each call, so new files count."""
        with os.scandir(self.directory) as scan:
            names = tuple(sorted(e.name for e in scan if e.is_file()))
        if self._listing is None or self._listing[0] != names:
            found = (parse_file_name(self.directory / name) for name in names)
            entries = [e for e in found if e is not None and (self.origin is None or e.origin == self.origin)]
            self._listing = (names, entries)
        return self._listing[1]

    def coins(self) -> list[str]:
        """Coins that have a candle or funding file."""
        return sorted({e.coin for e in self.entries()}, key=str.upper)

    def candle_files(self, coin: str, interval: str = "1h") -> tuple[Path, ...]:
        """The file holding `coin`'s candles at `interval`, or the pieces of a split history in period order; when
        the coin has none at `interval`, those at the coarsest finer interval that divides it (bars are built from
        them). Raises when none fit, or several that are not pieces of one history."""
        return self._candle_history(coin, interval)[0]

    def _candle_history(self, coin: str, interval: str) -> tuple[tuple[Path, ...], str | None]:
        """(the files, the finer interval they hold when bars must be built from them, else None)."""
        interval_delta(interval)
        files = self._files_of(coin, "candles")
        named = [e for e in files if e.interval == interval]
        chosen = named or [e for e in files if e.interval is None]
        if chosen:
            return one_history(chosen, f"candle files for {coin} at interval {interval} in {self.directory}"), None
        finer = finer_interval((e.interval for e in files if e.interval), interval)
        if finer is not None:
            pieces = [e for e in files if e.interval == finer]
            return one_history(pieces, f"candle files for {coin} at interval {finer} in {self.directory}"), finer
        found = [e.path.name for e in files]
        others = sorted({e.interval for e in files if e.interval}, key=lambda i: interval_of_token(i) or pd.Timedelta(0))
        elsewhere = f"; its files are at {', '.join(others)}: use that interval, or give" if others else " (expected"
        raise MarketDataError(
            f"no candle file for {coin} at interval {interval} (nor at a finer one that divides it) in "
            f"{self.directory}; candle files for {coin}: {found or 'none'}{elsewhere} {coin}_{interval}.csv|parquet "
            f"or {coin}.csv|parquet" + ("" if others else ")")
        )

    def history_note(self, coin: str, interval: str = "1h") -> str | None:
        """Says when the coin's history is read from pieces (monthly or daily files), and when its bars are built
        from a finer file, with how many could not be built; None for one file at the interval."""
        paths = self.candle_files(coin, interval)
        parsed = self._candles_at(coin, interval)
        said = []
        if len(paths) > 1:
            periods = [parse_file_name(path).period for path in paths]
            said.append(f"{len(paths)} files {periods[0]}..{periods[-1]} read as one history")
        if parsed.built_from is not None:
            said.append(f"{interval} bars built from its {parsed.built_from} file(s), {len(parsed.frame)} bars")
            if parsed.left_out:
                said.append(
                    f"{parsed.left_out} {interval} bar(s) not built (a {parsed.built_from} bar in them missing, "
                    "duplicated or unsound): they count as gaps"
                )
        return f"{coin}: {'; '.join(said)}" if said else None

    def funding_files(self, coin: str) -> tuple[Path, ...]:
        """The funding file of `coin` (or the pieces of a split history, in period order); () when it has none."""
        files = self._files_of(coin, "funding")
        return one_history(files, f"funding files for {coin} in {self.directory}") if files else ()

    def _files_of(self, coin: str, kind: str) -> list[FileEntry]:
        entries = self.entries()
        mine = [e for e in entries if e.coin.upper() == str(coin).upper()]
        if not mine:
            unread = [
                n for n in self._listing[0] if str(coin).upper() in n.upper() and parse_file_name(self.directory / n) is None
            ]
            hint = (
                f"; files naming it that are not read: {unread[:5]} (read: {', '.join(EXTENSIONS)}, named as in data.md)"
                if unread
                else ""
            )
            below = self._folders_with(coin)
            if below:
                hint += f"; files for it are in {below[:3]}: point the source at that folder (sub-folders are not read)"
            raise UnknownCoinError(
                f"unknown coin {coin!r}: no file for it in {self.directory}; coins available: {self.coins() or 'none'}{hint}"
            )
        return [e for e in mine if e.kind == kind]

    def _folders_with(self, coin: str) -> list[str]:
        """Sub-folders (two levels down at most, as freqtrade's `data/{exchange}/futures`) holding a file for `coin`:
        pointing the source one folder too high is an easy mistake."""
        found = []
        for folder in sorted(p for pattern in ("*", "*/*") for p in self.directory.glob(pattern) if p.is_dir()):
            with os.scandir(folder) as scan:
                named = (parse_file_name(Path(folder, e.name)) for e in scan if e.is_file())
                if any(e is not None and e.coin.upper() == str(coin).upper() for e in named):
                    found.append(str(folder))
        return found

    # -- MarketDataSource ----------------------------------------------------------------------------
    def candles(self, coin: str, start: pd.Timestamp, end: pd.Timestamp, interval: str = "1h") -> pd.DataFrame:
        return _window(self._candles_at(coin, interval), coin, start, end)

    def _candles_at(self, coin: str, interval: str, on_grid: bool = False) -> _Parsed:
        """The coin's parsed candle file, refused when its bars are not `interval` apart (median spacing), and with
        `on_grid` when most of them are off the UTC grid. Reading a window leaves off-grid bars to the quality
        rules (quarantined with `off_grid`); a run looking at the history first says it once, with the cure."""
        paths, finer = self._candle_history(coin, interval)
        parsed = self._parsed(paths, "candles", coin)
        path, wanted = _named(paths), interval
        if finer is not None:
            interval = finer  # the files' own spacing and grid are checked first
        step = interval_of_token(interval)
        if parsed.spacing is not None and parsed.spacing != step:
            held = next((name for name, delta in INTERVALS.items() if delta == parsed.spacing), None)
            raise MarketDataError(
                f"{path}: bars are {parsed.spacing} apart (median), not the {interval} "
                + ("its name says" if finer else "that was asked for")
                + (f": it holds {held} bars (use that interval, or give a {interval} file)" if held else "")
            )
        off = parsed.grid_offset
        if on_grid and off is not None and off[0] != pd.Timedelta(0) and off[1] > 0.5:
            offset, share = parsed.grid_offset
            said = str(offset).removeprefix("0 days ")
            raise MarketDataError(
                f"{path}: {share:.0%} of the bars are stamped {said} past the {interval} grid, where a bar is stamped "
                f"at its open on UTC {interval} boundaries"
                + (
                    f": these look like close times; use the file's open-time column, or subtract {said} from them"
                    if step - offset <= pd.Timedelta(seconds=1)
                    else ": times in another zone, or a market whose bars do not open on the UTC grid; correct the "
                    "times if they are shifted"
                )
            )
        return parsed if finer is None else self._built(paths, parsed, coin, finer, wanted)

    def _built(self, paths: tuple[Path, ...], finer_bars: _Parsed, coin: str, finer: str, interval: str) -> _Parsed:
        """`interval` bars built from the finer ones (resample.py), once per file version."""
        key = (paths, f"candles@{interval}")
        cached = self._cache.get(key)
        if cached is not None and cached.stamp == finer_bars.stamp:
            return cached
        step = interval_delta(interval)
        out = resample_candles(finer_bars.frame, interval_of_token(finer), step)
        built = _Parsed(finer_bars.stamp, out.frame, True, step if len(out.frame) > 1 else None, finer_bars.undated,
                        (pd.Timedelta(0), 1.0), built_from=finer, left_out=out.left_out)  # fmt: skip
        self._cache[key] = built
        return built

    def funding(self, coin: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
        paths = self.funding_files(coin)
        if not paths:
            return empty_funding()
        return _window(self._parsed(paths, "funding", coin), coin, start, end)

    def history_start(self, coin: str, interval: str = "1h") -> pd.Timestamp | None:
        times = self._candles_at(coin, interval, on_grid=True).frame["timestamp"]
        return times.min() if len(times) else None

    def history_end(self, coin: str, interval: str = "1h") -> pd.Timestamp | None:
        times = self._candles_at(coin, interval, on_grid=True).frame["timestamp"]
        return times.max() if len(times) else None

    def undated_rows(self, coin: str, dataset: str, interval: str = "1h") -> pd.DataFrame | None:
        """Rows of the coin's file whose time falls before 2009 or after tomorrow, with reasons."""
        if dataset == "candles":
            return self._parsed(self.candle_files(coin, interval), "candles", coin).undated
        paths = self.funding_files(coin)
        return self._parsed(paths, "funding", coin).undated if paths else None

    def _parsed(self, paths: tuple[Path, ...], kind: str, coin: str) -> _Parsed:
        """The file (or a split history's pieces, one after another in period order) parsed once per version."""
        infos = [path.stat() for path in paths]
        stamp = tuple((info.st_mtime_ns, info.st_size) for info in infos)
        cached = self._cache.get((paths, kind))
        if cached is not None and cached.stamp == stamp:
            return cached
        read = read_candle_rows if kind == "candles" else read_funding_rows
        pieces = [read(path, coin) for path in paths]
        frame = pieces[0][0] if len(pieces) == 1 else pd.concat([f for f, _ in pieces], ignore_index=True)
        undated = pieces[0][1] if len(pieces) == 1 else pd.concat([u for _, u in pieces], ignore_index=True)
        self.parses += len(paths)
        times = frame["timestamp"]
        spacing, offset = None, None
        if kind == "candles" and times.nunique() > 1:
            spacing = pd.Series(times.drop_duplicates().sort_values()).diff().median()
            if spacing > pd.Timedelta(0):
                offsets = (times - times.dt.floor(spacing)).value_counts()
                offset = (offsets.index[0], float(offsets.iloc[0] / len(times)))
        parsed = _Parsed(stamp, frame, bool(times.is_monotonic_increasing), spacing, undated, offset)
        self._cache[(paths, kind)] = parsed
        return parsed


def _named(paths: tuple[Path, ...]) -> str:
    """How messages name a history: its file, or its pieces' first and last."""
    return str(paths[0]) if len(paths) == 1 else f"{paths[0]} .. {paths[-1].name} ({len(paths)} pieces)"


def _window(parsed: _Parsed, coin: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Rows with start <= time < end, in file order, labelled with the coin as asked for."""
    start, end = utc_timestamp(start), utc_timestamp(end)
    if start > end:
        raise MarketDataError(f"start {start} is after end {end}")
    frame, times = parsed.frame, parsed.frame["timestamp"]
    if parsed.ascending:
        lo, hi = times.searchsorted(start, side="left"), times.searchsorted(end, side="left")
        out = frame.iloc[lo:hi].copy()
    else:
        out = frame[(times >= start) & (times < end)].copy()
    out["coin"] = str(coin)
    return out.reset_index(drop=True)
