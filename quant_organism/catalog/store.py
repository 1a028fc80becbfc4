"""`StrategyStore`: the strategy config store, one JSON file per strategy in a directory.

Layout (under the data root's `strategies/` by default):

    {name}.json               live configs (any status but retired)
    archive/{name}__{UTC timestamp}[-k].json   retired configs; never overwritten
    .txn-*/                   staging of a commit in progress (ignored by loads)

Every write is a transaction: configs are staged in memory, written into a fresh `.txn-*` folder
inside the store, synced once (one `os.sync()` for a batch, fsync for a few files), then a commit
manifest is written atomically (the commit point), then each file is renamed into place and the
staging folder removed. Guarantees:
- An exception before the commit point (inside a `with loader.transaction()` block, or while staging)
  leaves the store's files byte-identical to before.
- A crash before the commit point leaves only an unreferenced `.txn-*` folder, discarded by the next
  writer. A crash after it leaves a manifest that the next reader or writer replays (roll forward);
  until then a reader without the lock could see some renames done and others not, but never a torn
  file, because each file appears by one atomic rename.
- Durability assumes a POSIX filesystem that honours fsync/rename (local ext4, xfs, apfs; not
  eventually consistent object stores).
- Writers take an exclusive `flock` on the store directory, readers a shared one, so concurrent
  processes (e.g. parallel Dagster partitions) do not interleave. One loader instance per thread.

Files the store does not understand (bad JSON, another schema, a name that does not match the file)
are reported in `problems` (and logged) and skipped; the store never deletes, moves or overwrites them.
Links are never followed: a symlinked config is reported (kind `link`) and skipped, and a symlinked
`archive/` stops every write. A commit manifest is trusted only as far as its names are plain strategy
names inside the store: one naming anything else (`../x`, an absolute path) is set aside as
`.rejected-txn-*` with an error, never replayed.
"""

from __future__ import annotations

import errno
import json
import logging
import math
import os
import re
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from quant_organism.core.durable import create_new, fsync_path, sync_files
from quant_organism.core.faults import fault_point

from .config import _KEEP, NAME_PATTERN, DeploymentStatus, MetricValue, StrategyConfig

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: no inter-process locking
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

ARCHIVE_DIR = "archive"
SUFFIX = ".json"
_TXN_PREFIX = ".txn-"
_MANIFEST = "COMMIT.json"
_REJECTED_PREFIX = ".rejected-txn-"
_ARCHIVE_FILE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}__[0-9]{8}T[0-9]{12}Z(?:-[0-9]+)?\.json")

STORE_DIR = "strategies"  # the store's folder under the data root (the Dagster layer supplies the root)


class ConfigStoreError(Exception):
    """The store cannot do what was asked; the message says why."""


class CorruptConfigError(ConfigStoreError):
    """A file in the store is not a readable strategy config (and so will not be overwritten)."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = path, reason


class StoreLockedError(ConfigStoreError, TimeoutError):
    """Another process held the store's lock for longer than the loader's `lock_timeout`."""


class UnknownStrategyError(ConfigStoreError, KeyError):
    """No live config of that name (a KeyError, so `except KeyError` works)."""

    def __str__(self) -> str:  # KeyError would print the message quoted
        return str(self.args[0])


ProblemKind = Literal["corrupt", "foreign", "misnamed", "unreadable", "link"]


@dataclass(frozen=True)
class StoreProblem:
    """A file the store skipped, and why; it is left exactly as it is."""

    path: Path
    kind: ProblemKind
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"path": str(self.path), "kind": self.kind, "reason": self.reason}


def _validation_summary(exc: ValidationError, limit: int = 3) -> str:
    parts = [f"{'.'.join(map(str, e['loc'])) or '<root>'}: {e['msg']}" for e in exc.errors()[:limit]]
    more = exc.error_count() - limit
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")


def read_config(path: Path, expect_name: bool = True) -> StrategyConfig:
    """Parse one stored config; raises CorruptConfigError saying whether it is corrupt or foreign."""
    try:
        raw = _read_no_follow(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise CorruptConfigError(path, "link: a symbolic link, not followed (the store reads only its own files)") from None
        raise CorruptConfigError(path, f"unreadable: {exc}") from None
    try:
        config = StrategyConfig.model_validate_json(raw)
    except ValidationError as exc:
        if any(e["type"] == "json_invalid" for e in exc.errors()):
            raise CorruptConfigError(path, f"corrupt: not valid JSON ({exc.errors()[0]['msg']})") from None
        reason = f"foreign: valid JSON but not a strategy config ({_validation_summary(exc)})"
        raise CorruptConfigError(path, reason) from None
    if expect_name and path.name != f"{config.name}{SUFFIX}":
        raise CorruptConfigError(path, f"misnamed: holds strategy {config.name!r}, expected file {config.name}{SUFFIX}")
    return config


def _read_no_follow(path: Path) -> bytes:
    """The file's bytes; ELOOP when `path` is a symbolic link (O_NOFOLLOW), so no link leads outside."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb") as handle:
        return handle.read()


def _problem(error: CorruptConfigError) -> StoreProblem:
    kind = error.reason.split(":", 1)[0]
    known = kind if kind in ("corrupt", "foreign", "misnamed", "link") else "unreadable"
    return StoreProblem(error.path, known, error.reason)  # type: ignore[arg-type]


class StoreTransaction:
    """Staged changes to the store, applied together when the `with` block ends without an exception.

    Reads through the transaction (`get`) see its own staged changes; each name may be saved any
    number of times, but a name archived in the transaction cannot be saved again in it.
    """

    def __init__(self, store: StrategyStore) -> None:
        self._store = store
        self._puts: dict[str, StrategyConfig] = {}
        self._archives: dict[str, tuple[StrategyConfig, str]] = {}  # name -> (retired config, archive file name)
        self._open = True
        self.fault_label = "store:committed"  # the crash tests' name for this commit's point (core/faults.py)

    def _check_open(self) -> None:
        if not self._open:
            raise ConfigStoreError("this transaction has ended; open a new one with loader.transaction()")

    def current(self, name: str) -> StrategyConfig | None:
        """The config as this transaction sees it, None if absent; CorruptConfigError if unreadable."""
        self._check_open()
        if name in self._archives:
            return None
        if name in self._puts:
            return self._puts[name]
        path = self._store.path_for(name)
        return read_config(path) if os.path.lexists(path) else None

    def existing(self, name: str) -> StrategyConfig | None:
        """Like `current`, but an unreadable file raises the "refusing to overwrite" error writers need."""
        try:
            return self.current(name)
        except CorruptConfigError as exc:
            reason = f"{exc.reason}; refusing to overwrite it (move or fix it by hand)"
            raise CorruptConfigError(exc.path, reason) from None

    def get(self, name: str) -> StrategyConfig:
        config = self.current(name)
        if config is None:
            raise self._store._unknown(name)
        return config

    def save(self, config: StrategyConfig) -> Path:
        """Stage `config` as `{name}.json`; refuses to replace a file that is not a readable config."""
        self._check_open()
        if not isinstance(config, StrategyConfig):
            raise TypeError(
                f"expected a StrategyConfig, got {type(config).__name__}; build one with StrategyConfig.from_genes(...)"
            )
        if config.name in self._archives:
            raise ConfigStoreError(f"{config.name!r} was archived in this transaction; it cannot be saved again in it")
        if config.deployment_status is DeploymentStatus.RETIRED:
            raise ConfigStoreError(f"{config.name!r} is retired: use archive(name, reason) to retire a strategy")
        self.existing(config.name)
        self._puts[config.name] = config
        return self._store.path_for(config.name)

    def update_performance(
        self,
        name: str,
        *,
        paper_trading_days: int | None = None,
        paper_sharpe: float | None = None,
        max_drawdown: float | None = None,
        metrics: Mapping[str, MetricValue] | None = None,
    ) -> StrategyConfig:
        config = self.get(name).with_performance(
            paper_trading_days=paper_trading_days, paper_sharpe=paper_sharpe, max_drawdown=max_drawdown, metrics=metrics
        )
        self.save(config)
        return config

    def transition(
        self, name: str, status: DeploymentStatus | str, note: str, *, allocation: float | None | Any = _KEEP
    ) -> StrategyConfig:
        """Move a stored strategy along its lifecycle (not to retired: use `archive`)."""
        if DeploymentStatus(status) is DeploymentStatus.RETIRED:
            raise ConfigStoreError(f"retire {name!r} with archive(name, reason), which also moves it to the archive")
        config = self.get(name).transition(status, note, allocation=allocation)
        self.save(config)
        return config

    def reallocate(self, name: str, allocation: float | None, note: str) -> StrategyConfig:
        config = self.get(name).reallocate(allocation, note)
        self.save(config)
        return config

    def archive(self, name: str, reason: str) -> Path:
        """Stage retirement: the config (status retired, reason in its history) moves to `archive/`."""
        config = self.get(name)
        if config.deployment_status is not DeploymentStatus.RETIRED:
            config = config.transition(DeploymentStatus.RETIRED, reason)
        self._puts.pop(name, None)
        taken = {file for _, file in self._archives.values()}
        filename = self._store._archive_name(config, taken)
        self._archives[name] = (config, filename)
        return self._store.archive_dir / filename


class StrategyStore:
    """The strategy config store over `directory` (the Dagster layer passes the data root's `strategies/`)."""

    def __init__(self, directory: str | os.PathLike[str], *, lock_timeout: float = 60.0) -> None:
        self.directory = Path(directory)
        self.archive_dir = self.directory / ARCHIVE_DIR
        self.lock_timeout = lock_timeout
        self.problems: list[StoreProblem] = []  # from the most recent scan of the directory
        self._lock_fd: int | None = None
        self._lock_exclusive = False
        self._in_transaction = False

    def __repr__(self) -> str:
        return f"StrategyStore({str(self.directory)!r})"

    def path_for(self, name: str) -> Path:
        if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
            raise ConfigStoreError(f"{name!r} is not a strategy name ({NAME_PATTERN.pattern}): no path outside the store")
        return self.directory / f"{name}{SUFFIX}"

    # --- reading ---------------------------------------------------------------------------
    def load_strategies(
        self,
        min_fitness: float | None = None,
        max_strategies: int | None = None,
        active_only: bool = False,
        status: DeploymentStatus | str | Iterable[DeploymentStatus | str] | None = None,
    ) -> list[StrategyConfig]:
        """Live configs, best fitness first (ties by name), filtered, at most `max_strategies`.

        `min_fitness` is inclusive; `status` keeps only the given lifecycle state(s). Unreadable files
        are skipped and listed in `self.problems`.
        """
        if min_fitness is not None and not (isinstance(min_fitness, (int, float)) and math.isfinite(min_fitness)):
            raise ValueError(f"min_fitness must be a finite number or None, got {min_fitness!r}")
        if max_strategies is not None and (
            isinstance(max_strategies, bool) or not isinstance(max_strategies, int) or max_strategies < 0
        ):
            raise ValueError(f"max_strategies must be a non-negative int or None, got {max_strategies!r}")
        wanted = self._statuses(status)
        configs = [
            c
            for c in self._scan()
            if (min_fitness is None or c.fitness_score >= min_fitness)
            and (not active_only or c.is_active)
            and (wanted is None or c.deployment_status in wanted)
        ]
        configs.sort(key=lambda c: (-c.fitness_score, c.name))
        return configs if max_strategies is None else configs[:max_strategies]

    def load_strategy(self, name: str) -> StrategyConfig:
        """One live config; UnknownStrategyError (a KeyError) if absent, CorruptConfigError if unreadable."""
        path = self.path_for(name)
        with self._reading():
            if not os.path.lexists(path):
                raise self._unknown(name)
            return read_config(path)

    def known_names(self) -> set[str]:
        """Every strategy name the store holds, live or archived: what an operator's lists may name."""
        return {c.name for c in self.load_strategies()} | {c.name for c in self.load_archived()}

    def load_archived(self) -> list[StrategyConfig]:
        """Every archived (retired) config, oldest retirement first; unreadable files go to `problems`."""
        found: list[tuple[StrategyConfig, str]] = []
        self.problems = []
        with self._reading():
            for path in self._json_files(self.archive_dir):
                try:
                    found.append((read_config(path, expect_name=False), path.name))
                except CorruptConfigError as exc:
                    self._report(exc)
        found.sort(key=lambda item: (item[0].last_updated, item[0].name, len(item[1]), item[1]))
        return [config for config, _ in found]

    # --- writing ---------------------------------------------------------------------------
    def save_evolved_strategies(self, strategies: Iterable[StrategyConfig]) -> list[Path]:
        """Write evolution's configs (status `evolved`) in one transaction; returns the paths written.

        Re-running evolution replaces an `evolved` file of the same name, but a strategy that has
        moved on (validated, deployed, ...) keeps its file: that one is skipped (and logged), so a
        rerun cannot reset a live strategy's lifecycle.
        """
        configs = list(strategies)
        for config in configs:
            if not isinstance(config, StrategyConfig):
                raise TypeError(
                    f"save_evolved_strategies takes StrategyConfig objects, got {type(config).__name__}; "
                    "build them with StrategyConfig.from_genes(genes, fitness_score=..., backtest_sharpe=...)"
                )
            if config.deployment_status is not DeploymentStatus.EVOLVED:
                raise ValueError(f"{config.name!r} is {config.deployment_status.value}, not evolved; use save_strategy")
        names = Counter(c.name for c in configs)
        duplicates = sorted(n for n, k in names.items() if k > 1)
        if duplicates:
            raise ValueError(f"duplicate strategy names in one save: {duplicates}")
        written: list[Path] = []
        with self.transaction() as tx:
            for config in configs:
                existing = tx.existing(config.name)
                if existing is not None and existing.deployment_status is not DeploymentStatus.EVOLVED:
                    log.info("kept %s: already %s", config.name, existing.deployment_status.value)
                    continue
                written.append(tx.save(config))
        return written

    def save_strategy(self, config: StrategyConfig) -> Path:
        """Write one config (any status but retired), replacing its previous version atomically."""
        with self.transaction() as tx:
            return tx.save(config)

    def update_strategy_performance(
        self,
        name: str,
        *,
        paper_trading_days: int | None = None,
        paper_sharpe: float | None = None,
        max_drawdown: float | None = None,
        **metrics: MetricValue,
    ) -> StrategyConfig:
        """Update forward-performance figures (None keeps a field), merge `metrics`, bump `last_updated`."""
        with self.transaction() as tx:
            return tx.update_performance(
                name,
                paper_trading_days=paper_trading_days,
                paper_sharpe=paper_sharpe,
                max_drawdown=max_drawdown,
                metrics=metrics,
            )

    def transition_strategy(
        self, name: str, status: DeploymentStatus | str, note: str, *, allocation: float | None | Any = _KEEP
    ) -> StrategyConfig:
        """Move a stored strategy along its lifecycle (IllegalTransitionError on a bad move)."""
        with self.transaction() as tx:
            return tx.transition(name, status, note, allocation=allocation)

    def archive_strategy(self, name: str, reason: str) -> Path:
        """Retire `name` (reason recorded in its history) and move it to `archive/`; returns the archived path."""
        with self.transaction() as tx:
            return tx.archive(name, reason)

    @contextmanager
    def transaction(self) -> Iterator[StoreTransaction]:
        """Stage several changes and apply them together; an exception in the block applies none.

        The store's lock is held for the whole block (other writers and readers wait), so compute
        first and keep the block to the staging calls.
        """
        if self._in_transaction:
            raise ConfigStoreError("store transactions do not nest: inside one, use the transaction's own methods")
        self.directory.mkdir(parents=True, exist_ok=True)
        with self._lock(exclusive=True):
            self._recover()
            tx = StoreTransaction(self)
            self._in_transaction = True
            try:
                yield tx
                tx._open = False
                self._commit(tx)
            finally:
                tx._open = False
                self._in_transaction = False

    # --- internals: scanning -----------------------------------------------------------------
    def _json_files(self, folder: Path) -> list[Path]:
        """`*.json` entries directly in `folder` (links included, so that reading reports them);
        dot-files (temps, staging) are not configs."""
        if folder.is_symlink():
            return []
        try:
            entries = list(os.scandir(folder))
        except FileNotFoundError:
            return []
        return sorted(
            Path(e.path)
            for e in entries
            if e.name.endswith(SUFFIX) and not e.name.startswith(".") and (e.is_symlink() or e.is_file())
        )

    def _scan(self) -> list[StrategyConfig]:
        configs: list[StrategyConfig] = []
        self.problems = []
        with self._reading():
            for path in self._json_files(self.directory):
                try:
                    configs.append(read_config(path))
                except CorruptConfigError as exc:
                    self._report(exc)
        return configs

    def _report(self, exc: CorruptConfigError) -> None:
        problem = _problem(exc)
        self.problems.append(problem)
        log.warning("strategy store: skipped %s (%s); the file is left untouched", problem.path, problem.reason)

    @staticmethod
    def _statuses(status: Any) -> frozenset[DeploymentStatus] | None:
        if status is None:
            return None
        if isinstance(status, (str, DeploymentStatus)):
            status = [status]
        try:
            return frozenset(DeploymentStatus(s) for s in status)
        except ValueError:
            raise ValueError(f"unknown status in {status!r}; expected {[s.value for s in DeploymentStatus]}") from None

    def _unknown(self, name: str) -> UnknownStrategyError:
        stored = [p.name[: -len(SUFFIX)] for p in self._json_files(self.directory)]
        shown = ", ".join(stored[:10]) + (", ..." if len(stored) > 10 else "")
        where = f"{self.directory} ({len(stored)} stored: {shown or 'none'})"
        return UnknownStrategyError(f"no strategy {name!r} in {where}")

    def _archive_name(self, config: StrategyConfig, taken: set[str]) -> str:
        """`{name}__{retired-at}.json`, with `-k` appended while that name exists: never overwrite an archive."""
        stamp = config.deployment_history[-1].timestamp.strftime("%Y%m%dT%H%M%S%fZ")
        base, k = f"{config.name}__{stamp}", 0
        while True:
            candidate = f"{base}{SUFFIX}" if k == 0 else f"{base}-{k}{SUFFIX}"
            if candidate not in taken and not (self.archive_dir / candidate).exists():
                return candidate
            k += 1

    # --- coordination with other writers of the store folder (the deployment manifest) ----------
    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the store's write lock across several steps; `transaction()` inside joins it.

        The deployment manifest is written under this lock, so it and the configs change together.
        """
        self.directory.mkdir(parents=True, exist_ok=True)
        with self._lock(exclusive=True):
            yield

    def has_pending_commit(self) -> bool:
        """True when a transaction passed its commit point and awaits being applied (see `_recover`)."""
        return self._pending_commits()

    # --- internals: locking ------------------------------------------------------------------
    @contextmanager
    def _lock(self, exclusive: bool) -> Iterator[None]:
        """flock on the store directory: shared for reads, exclusive for writes; re-entrant per instance."""
        if self._lock_fd is not None:
            if exclusive and not self._lock_exclusive:
                raise ConfigStoreError("internal: cannot take the write lock while holding the read lock")
            yield
            return
        if fcntl is None or not self.directory.is_dir():
            yield
            return
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            mode = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
            deadline = time.monotonic() + self.lock_timeout
            while True:
                try:
                    fcntl.flock(fd, mode | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise StoreLockedError(
                            f"{self.directory} stayed locked by another writer for {self.lock_timeout:g} s"
                        ) from None
                    time.sleep(0.01)
            self._lock_fd, self._lock_exclusive = fd, exclusive
            try:
                yield
            finally:
                self._lock_fd, self._lock_exclusive = None, False
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    @contextmanager
    def _reading(self) -> Iterator[None]:
        """Shared lock for a consistent read; first completes any committed-but-unapplied transaction."""
        if self._lock_fd is None and self._pending_commits():
            with self._lock(exclusive=True):
                self._recover()
        with self._lock(exclusive=False):
            yield

    # --- internals: commit and recovery ------------------------------------------------------
    def _staging_dirs(self) -> list[Path]:
        try:
            entries = list(os.scandir(self.directory))
        except FileNotFoundError:
            return []
        return sorted(Path(e.path) for e in entries if e.name.startswith(_TXN_PREFIX) and e.is_dir(follow_symlinks=False))

    def _pending_commits(self) -> bool:
        return any((d / _MANIFEST).exists() for d in self._staging_dirs())

    def _commit(self, tx: StoreTransaction) -> None:
        if not tx._puts and not tx._archives:
            return
        if tx._archives:
            self._check_archive_dir()  # before the commit point: a refused write changes nothing
        staging = Path(tempfile.mkdtemp(prefix=_TXN_PREFIX, dir=self.directory))
        try:
            manifest = self._stage(tx, staging)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        fault_point(tx.fault_label)  # crash tests: a kill right after the commit point
        try:
            self._apply(staging, manifest)
        except Exception as exc:
            raise ConfigStoreError(
                f"commit {staging.name} failed while applying ({exc}); it is recorded and will be completed "
                "by the next read or write of this store"
            ) from exc

    def _stage(self, tx: StoreTransaction, staging: Path) -> dict[str, Any]:
        """Write and sync every staged file, then the manifest: once it exists, the commit happened."""
        written: list[Path] = []
        for name, config in tx._puts.items():
            path = staging / f"{name}{SUFFIX}"
            create_new(path, config.to_json().encode(), sync=False)
            written.append(path)
        if tx._archives:
            (staging / ARCHIVE_DIR).mkdir()
            for config, filename in tx._archives.values():
                path = staging / ARCHIVE_DIR / filename
                create_new(path, config.to_json().encode(), sync=False)
                written.append(path)
        sync_files(written)
        if tx._archives:
            fsync_path(staging / ARCHIVE_DIR)
        fsync_path(staging)
        manifest = {"puts": sorted(tx._puts), "archives": sorted([n, f] for n, (_, f) in tx._archives.items())}
        pending = staging / f".{_MANIFEST}.tmp"
        create_new(pending, json.dumps(manifest).encode(), sync=False)
        fsync_path(pending)
        os.replace(pending, staging / _MANIFEST)
        fsync_path(staging)
        fsync_path(self.directory)
        return manifest

    def _apply(self, staging: Path, manifest: Mapping[str, Any]) -> None:
        """Rename staged files into place; idempotent, so a crashed commit can simply be replayed."""
        if manifest["archives"]:
            self._check_archive_dir()
        for name in manifest["puts"]:
            self._apply_put(staging, name)
        for name, filename in manifest["archives"]:
            self._apply_archive(staging, name, filename)
        fsync_path(self.directory)
        if manifest["archives"] and self.archive_dir.is_dir():
            fsync_path(self.archive_dir)
        shutil.rmtree(staging)

    def _check_archive_dir(self) -> None:
        if self.archive_dir.is_symlink():
            raise ConfigStoreError(
                f"{self.archive_dir} is a symbolic link; the store does not write through links (replace it with a real folder)"
            )

    def _apply_put(self, staging: Path, name: str) -> None:
        source = staging / f"{name}{SUFFIX}"
        if source.exists():
            os.replace(source, self.path_for(name))

    def _apply_archive(self, staging: Path, name: str, filename: str) -> None:
        source = staging / ARCHIVE_DIR / filename
        if source.exists():
            self.archive_dir.mkdir(exist_ok=True)
            target = self.archive_dir / filename
            if target.exists():  # only if someone wrote there behind the lock: keep theirs, pick a new name
                target = self.archive_dir / self._archive_name(read_config(source, expect_name=False), set())
            os.rename(source, target)
        live = self.path_for(name)
        if live.exists():
            live.unlink()

    def _recover(self) -> None:
        """Under the write lock: replay committed staging folders, discard uncommitted ones.

        A manifest that is not one this store wrote (unreadable, or naming anything but plain strategy
        names and archive files) is never replayed: its folder is renamed `.rejected-txn-*` and kept."""
        for staging in self._staging_dirs():
            manifest_path = staging / _MANIFEST
            if os.path.lexists(manifest_path):
                manifest, why = _trusted_manifest(manifest_path)
                if manifest is None:
                    rejected = staging.with_name(_REJECTED_PREFIX + staging.name[len(_TXN_PREFIX) :])
                    os.rename(staging, rejected)
                    log.error("strategy store: commit %s not replayed (%s); set aside as %s", staging.name, why, rejected.name)
                    continue
                log.warning("strategy store: completing interrupted commit %s", staging.name)
                self._apply(staging, manifest)
            else:
                log.warning("strategy store: discarding uncommitted staging %s", staging.name)
                shutil.rmtree(staging)


def _trusted_manifest(path: Path) -> tuple[dict[str, Any] | None, str]:
    """(manifest, "") when it is a commit this store could have written, else (None, why not)."""
    try:
        manifest = json.loads(_read_no_follow(path))
    except (OSError, ValueError) as exc:
        return None, f"unreadable manifest: {exc}"
    if not isinstance(manifest, dict) or set(manifest) != {"puts", "archives"}:
        return None, "manifest is not {puts, archives}"
    puts, archives = manifest["puts"], manifest["archives"]
    if not isinstance(puts, list) or not all(isinstance(n, str) and NAME_PATTERN.fullmatch(n) for n in puts):
        return None, f"'puts' names something other than strategy names: {str(puts)[:200]}"
    if not isinstance(archives, list) or not all(
        isinstance(a, list)
        and len(a) == 2
        and isinstance(a[0], str)
        and NAME_PATTERN.fullmatch(a[0])
        and isinstance(a[1], str)
        and _ARCHIVE_FILE.fullmatch(a[1])
        for a in archives
    ):
        return None, f"'archives' names something other than archive files: {str(archives)[:200]}"
    return manifest, ""
