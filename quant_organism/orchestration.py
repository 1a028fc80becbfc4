"""The decisions behind the schedules and sensors, as plain functions (the Dagster layer only calls them).

- Run keys are deterministic (`ingest:{day}:{coin}`, `evolve:{day}:{trigger}`), so a tick that is
  evaluated twice asks for nothing new: Dagster drops a run request whose key it has seen.
- A day is *complete* when every coin's candles for it are materialised and their stored quality
  report passed; each complete day is requested once (the cursor remembers the days requested).
- A re-evolution for decay is due when the deployed set's paper record breaks a threshold, at most
  once per cooldown, so a market that stays bad cannot make the organism loop.
- Failed runs are appended to a JSON-lines file that the evolution report reads back.
"""

from __future__ import annotations

import fcntl
import json
import logging
import math
import os
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Protocol

from quant_organism import settings

log = logging.getLogger(__name__)

DAY_FORMAT = "%Y-%m-%d"
NEW_DATA, NIGHTLY, DECAY = "new-data", "nightly", "decay"
ACTIVE_STATUSES = ("deployed", "decaying")


# --- days and run keys -----------------------------------------------------------------------------
def utc(moment: datetime) -> datetime:
    """`moment` in UTC; a naive datetime is refused (a schedule's day must not depend on the host's zone)."""
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment.isoformat()}: pass a timezone-aware time")
    return moment.astimezone(timezone.utc)


def previous_day(moment: datetime) -> str:
    """The UTC day before `moment`'s UTC day: the last day whose bars have all closed at `moment`."""
    return (utc(moment).date() - timedelta(days=1)).strftime(DAY_FORMAT)


def check_day(day: str) -> str:
    """`day` if it is a YYYY-MM-DD date, else a ValueError naming it."""
    try:
        parsed = date.fromisoformat(day)
    except (TypeError, ValueError):
        raise ValueError(f"day {day!r} is not a YYYY-MM-DD date") from None
    if parsed.strftime(DAY_FORMAT) != day:
        raise ValueError(f"day {day!r} is not a YYYY-MM-DD date")
    return day


def ingest_run_key(day: str, coin: str) -> str:
    return f"ingest:{check_day(day)}:{coin}"


def evolve_run_key(day: str, trigger: str) -> str:
    return f"evolve:{check_day(day)}:{trigger}"


# --- which days are complete -------------------------------------------------------------------------
QualityLookup = Callable[[str, str], "Mapping[str, Any] | None"]  # (coin, day) -> stored quality report


def day_problems(day: str, coins: Sequence[str], materialised: Collection[tuple[str, str]], quality: QualityLookup) -> list[str]:
    """Why `day` is not complete (empty when it is): per coin, not materialised, no report, or failed quality."""
    problems = []
    for coin in coins:
        if (coin, day) not in materialised:
            problems.append(f"{coin} not materialised")
            continue
        report = quality(coin, day)
        if report is None:
            problems.append(f"{coin} has no stored quality report")
        elif not report.get("passed", False):
            score, threshold = report.get("score"), report.get("threshold")
            numbers = all(isinstance(v, (int, float)) for v in (score, threshold))
            figures = f" ({score:.1%} < {threshold:.0%})" if numbers else ""
            problems.append(f"{coin} failed quality{figures}")
    return problems


def complete_days(
    days: Iterable[str], coins: Sequence[str], materialised: Collection[tuple[str, str]], quality: QualityLookup
) -> tuple[list[str], dict[str, list[str]]]:
    """(complete days, oldest first; {incomplete day: its problems}). `coins` must not be empty."""
    if not coins:
        raise ValueError("no coins given: a day is complete only when every coin of the universe is")
    complete, incomplete = [], {}
    for day in sorted(set(days)):
        problems = day_problems(day, coins, materialised, quality)
        if problems:
            incomplete[day] = problems
        else:
            complete.append(day)
    return complete, incomplete


def describe_incomplete(incomplete: Mapping[str, list[str]], limit: int = 3) -> str:
    """The newest incomplete days with their problems, for a skip message."""
    newest = sorted(incomplete, reverse=True)[:limit]
    text = "; ".join(f"{day}: {', '.join(incomplete[day])}" for day in newest)
    more = len(incomplete) - len(newest)
    return text + (f"; and {more} older day(s)" if more > 0 else "")


# --- cursors -----------------------------------------------------------------------------------------
class CursorError(ValueError):
    """A sensor cursor that cannot be read; resetting the sensor's cursor in the UI clears it."""


def _cursor_object(text: str | None, sensor: str) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CursorError(f"{sensor} cursor is not JSON ({exc}): {text[:80]!r}; reset the sensor's cursor") from None
    if not isinstance(value, dict):
        raise CursorError(f"{sensor} cursor must be a JSON object, got {text[:80]!r}; reset the sensor's cursor")
    return value


@dataclass(frozen=True)
class NewDataCursor:
    """The days the new-data sensor has requested (newest `keep`, so the cursor stays small)."""

    requested: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, text: str | None) -> NewDataCursor:
        value = _cursor_object(text, "new-data sensor")
        days = value.get("requested", [])
        if not isinstance(days, list) or not all(isinstance(d, str) for d in days):
            raise CursorError(f"new-data sensor cursor: 'requested' must be a list of days, got {days!r}")
        try:
            return cls(tuple(sorted({check_day(d) for d in days})))
        except ValueError as exc:
            raise CursorError(f"new-data sensor cursor: {exc}") from None

    def to_json(self) -> str:
        return json.dumps({"requested": list(self.requested)})

    @property
    def newest(self) -> str | None:
        return self.requested[-1] if self.requested else None

    def add(self, days: Iterable[str], keep: int = 90) -> NewDataCursor:
        """A cursor that also holds `days`, keeping the newest `keep` days."""
        if keep < 1:
            raise ValueError(f"keep must be >= 1, got {keep}")
        merged = sorted(set(self.requested) | {check_day(d) for d in days})
        return NewDataCursor(tuple(merged[-keep:]))


def days_to_request(complete: Iterable[str], cursor: NewDataCursor) -> list[str]:
    """Complete days not requested yet, oldest first (a late day older than the newest requested included)."""
    return sorted(set(complete) - set(cursor.requested))


@dataclass(frozen=True)
class DecayCursor:
    """When the decay sensor last asked for a re-evolution, and for which day."""

    last_requested_at: datetime | None = None
    last_day: str | None = None

    @classmethod
    def from_json(cls, text: str | None) -> DecayCursor:
        value = _cursor_object(text, "decay sensor")
        at, day = value.get("last_requested_at"), value.get("last_day")
        try:
            moment = utc(datetime.fromisoformat(at)) if at is not None else None
            return cls(moment, check_day(day) if day is not None else None)
        except (TypeError, ValueError) as exc:
            raise CursorError(f"decay sensor cursor: {exc} in {text[:120]!r}; reset the sensor's cursor") from None

    def to_json(self) -> str:
        at = self.last_requested_at.isoformat() if self.last_requested_at else None
        return json.dumps({"last_requested_at": at, "last_day": self.last_day})


# --- decay of the deployed set -------------------------------------------------------------------------
class PaperRecord(Protocol):
    """What the decay decision reads of a stored strategy (StrategyConfig has these fields)."""

    name: str
    paper_trading_days: int
    paper_sharpe: float | None
    max_drawdown: float | None
    allocation: float | None

    @property
    def deployment_status(self) -> Any: ...


@dataclass(frozen=True)
class DecayTrigger:
    """When the deployed set's paper record calls for a re-evolution, and how often at most.

    `min_sharpe` applies to the set's allocation-weighted paper Sharpe over strategies with at least
    `min_paper_days` days; `max_drawdown` (a positive fraction) to each strategy at any age.
    """

    min_paper_days: int = 7
    min_sharpe: float = 0.0
    max_drawdown: float = 0.25
    cooldown: timedelta = timedelta(hours=24)

    def __post_init__(self) -> None:
        if self.min_paper_days < 1:
            raise ValueError(f"min_paper_days must be >= 1, got {self.min_paper_days}")
        if not math.isfinite(self.min_sharpe):
            raise ValueError(f"min_sharpe must be finite, got {self.min_sharpe}")
        if not 0.0 < self.max_drawdown <= 1.0:
            raise ValueError(f"max_drawdown must be in (0, 1], got {self.max_drawdown}")
        if self.cooldown < timedelta(0):
            raise ValueError(f"cooldown must not be negative, got {self.cooldown}")


def _status(record: PaperRecord) -> str:
    status = record.deployment_status
    return str(getattr(status, "value", status))


def set_paper_sharpe(records: Sequence[PaperRecord], min_paper_days: int) -> tuple[float, int] | None:
    """(allocation-weighted paper Sharpe, strategies counted) over those with enough paper days, or None.

    Equal weights unless every counted strategy holds a positive allocation.
    """
    seasoned = [r for r in records if r.paper_sharpe is not None and r.paper_trading_days >= min_paper_days]
    if not seasoned:
        return None
    weights = [r.allocation or 0.0 for r in seasoned]
    if not all(w > 0 for w in weights):
        weights = [1.0] * len(seasoned)
    sharpe = sum(w * float(r.paper_sharpe) for w, r in zip(weights, seasoned)) / sum(weights)
    return sharpe, len(seasoned)


def decay_reasons(records: Iterable[PaperRecord], trigger: DecayTrigger = DecayTrigger()) -> list[str]:
    """Why the deployed set needs a re-evolution (empty when it is healthy). Only deployed/decaying count."""
    active = sorted((r for r in records if _status(r) in ACTIVE_STATUSES), key=lambda r: r.name)
    reasons = [f"{r.name} is decaying" for r in active if _status(r) == "decaying"]
    reasons += [
        f"{r.name} paper drawdown {r.max_drawdown:.1%} > {trigger.max_drawdown:.1%}"
        for r in active
        if r.max_drawdown is not None and r.max_drawdown > trigger.max_drawdown
    ]
    aggregate = set_paper_sharpe(active, trigger.min_paper_days)
    if aggregate is not None and aggregate[0] < trigger.min_sharpe:
        sharpe, counted = aggregate
        reasons.append(
            f"deployed set paper Sharpe {sharpe:.2f} < {trigger.min_sharpe:g} "
            f"(weighted over {counted} strategies with >= {trigger.min_paper_days} paper days)"
        )
    return reasons


@dataclass(frozen=True)
class DecayDecision:
    request: bool
    message: str
    reasons: tuple[str, ...] = ()
    cursor: DecayCursor = field(default_factory=DecayCursor)


def decide_decay(
    records: Sequence[PaperRecord],
    cursor: DecayCursor,
    now: datetime,
    latest_complete_day: Callable[[], str | None],
    trigger: DecayTrigger = DecayTrigger(),
) -> DecayDecision:
    """Whether to request a re-evolution now; the returned cursor is the one to store.

    `latest_complete_day` is only called when a request is otherwise due (it reads the market data).
    """
    now = utc(now)
    active = [r for r in records if _status(r) in ACTIVE_STATUSES]
    if not active:
        return DecayDecision(False, "no deployed or decaying strategies in the store", (), cursor)
    reasons = tuple(decay_reasons(active, trigger))
    if not reasons:
        aggregate = set_paper_sharpe(active, trigger.min_paper_days)
        figure = f"paper Sharpe {aggregate[0]:.2f} over {aggregate[1]}" if aggregate else "no strategy seasoned yet"
        return DecayDecision(False, f"deployed set healthy ({len(active)} strategies; {figure})", (), cursor)
    why = "; ".join(reasons)
    if cursor.last_requested_at is not None and now < cursor.last_requested_at + trigger.cooldown:
        until = cursor.last_requested_at + trigger.cooldown
        return DecayDecision(
            False,
            f"decay ({why}) but a re-evolution was requested at {cursor.last_requested_at.isoformat()}; "
            f"cooling down until {until.isoformat()}",
            reasons,
            cursor,
        )
    day = latest_complete_day()
    if day is None:
        message = f"decay ({why}) but no recent day has complete, passing market data to evolve on"
        return DecayDecision(False, message, reasons, cursor)
    return DecayDecision(True, f"re-evolving on {day}: {why}", reasons, DecayCursor(now, check_day(day)))


# --- failed runs -------------------------------------------------------------------------------------------
FAILURE_FIELDS = ("run_id", "job", "partition", "time", "error")


def failures_path() -> Path:
    """`failures/failures.jsonl` under the data root: one JSON object per failed run."""
    return settings.data_dir() / "failures" / "failures.jsonl"


def record_failure(record: Mapping[str, Any], path: Path | None = None) -> Path:
    """Append one failed run as a JSON line (under an exclusive lock, in one write, synced); returns the file."""
    missing = [name for name in FAILURE_FIELDS if name not in record]
    if missing:
        raise ValueError(f"failure record lacks {missing}; expected at least {list(FAILURE_FIELDS)}")
    try:  # refuse an unreadable or naive time now, not when reading
        utc(datetime.fromisoformat(record["time"]))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"failure record time {record['time']!r}: {exc}; expected an ISO time with a UTC offset") from None
    path = path or failures_path()
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


def read_failures(since: datetime | str | None = None, path: Path | None = None) -> list[dict[str, Any]]:
    """Recorded failed runs at or after `since`, oldest first; one per run id (the latest record).

    Unreadable lines (e.g. a write cut short by a crash) are skipped with a warning.
    """
    path = path or failures_path()
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
