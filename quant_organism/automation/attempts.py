"""How many times a night's run of one job and partition is tried, and whether it is still needed.

Why: the daily schedules tick every hour of the early morning (cron `M 0-5 * * *`), so a night whose run
failed is tried again at the next tick, under a new run key (Dagster never launches a run key twice),
while a day already covered is never run twice. Plain Python: the Dagster layer passes the statuses of
the partition's earlier runs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

MAX_ATTEMPTS = 4  # tries per job and partition: one per hourly tick of the night, then it waits for a person
COVERING = frozenset({"QUEUED", "NOT_STARTED", "STARTING", "STARTED", "SUCCESS"})  # the day is (being) done
FAILED = frozenset({"FAILURE", "CANCELED"})  # an orphaned (killed) run is marked FAILURE: it earns a retry


@dataclass(frozen=True)
class Attempt:
    """The decision for one (job, partition): `run_key` to request, or None with the reason why not."""

    run_key: str | None
    reason: str
    number: int = 0

    @property
    def wanted(self) -> bool:
        return self.run_key is not None


def next_attempt(base_key: str, statuses: Iterable[str], max_attempts: int = MAX_ATTEMPTS) -> Attempt:
    """`base_key` for a first try, `base_key:attempt-N` after N-1 failed runs; none while a run covers the
    partition, and none after `max_attempts` failures (a person looks at it: the failures are in the log)."""
    statuses = [str(s).upper() for s in statuses]
    covering = [s for s in statuses if s in COVERING]
    if covering:
        return Attempt(None, f"already {'done' if 'SUCCESS' in covering else 'running'} ({covering[0].lower()})")
    failed = sum(s in FAILED for s in statuses)
    if failed >= max_attempts:
        return Attempt(None, f"gave up after {failed} failed attempts (see failures/failures.jsonl)")
    number = failed + 1
    return Attempt(base_key if number == 1 else f"{base_key}:attempt-{number}", f"attempt {number} of {max_attempts}", number)
