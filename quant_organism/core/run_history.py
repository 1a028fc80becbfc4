"""Run-keyed history: each run's results kept under `history/<table>/evolution_date=D/run_id=R/`.

The per-date folders (`evolution/date=D/`, `validation/date=D/`, ...) hold the *latest* run of a date,
where the assets read their predecessor's work; a second run for the same date replaces them. The
history keeps every run beside them, never overwritten by another run, as Parquet tables that carry
`run_id` and `evolution_date` columns, so DuckDB can query all runs at once (reporting/memory.py).
A run id is the run's correlation id: the Dagster run id of the first run of a chain (a re-executed
run keeps its root's id, so one logical run stays one id).
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pandas as pd

from quant_organism.core import artifacts

HISTORY_DIR = "history"
TABLES = ("populations", "generations", "runs", "verdicts", "deployments", "reports")
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def check_run_id(run_id: str) -> str:
    """A run id usable as a folder name (Dagster's are UUIDs); anything else is refused, not mangled."""
    if not isinstance(run_id, str) or not _SAFE_ID.match(run_id) or ".." in run_id:
        raise ValueError(f"run id {run_id!r}: expected letters, digits, '_', '-' or '.' (at most 128)")
    return run_id


def run_dir(root: Path, table: str, day: str | date, run_id: str) -> Path:
    if table not in TABLES:
        raise ValueError(f"unknown history table {table!r}; expected one of {TABLES}")
    stamp = pd.Timestamp(day).strftime("%Y-%m-%d")
    return Path(root) / HISTORY_DIR / table / f"evolution_date={stamp}" / f"run_id={check_run_id(run_id)}"


def archive_table(root: Path, table: str, day: str | date, run_id: str, frame: pd.DataFrame, part: str | None = None) -> Path:
    """Write `frame` as this run's `table` (or one `part` of it, e.g. a workflow phase), with the keys as columns.

    The same run writing again (a retried step) replaces its own file; another run never touches it."""
    out = frame.reset_index(drop=True).copy()
    for column in ("run_id", "evolution_date"):
        if column in out.columns:
            out = out.drop(columns=column)
    out.insert(0, "run_id", check_run_id(run_id))
    out.insert(1, "evolution_date", pd.Timestamp(day).date())
    name = f"{table}-{part}.parquet" if part else f"{table}.parquet"
    return artifacts.write_frame(run_dir(root, table, day, run_id) / name, out)


def table_glob(root: Path, table: str) -> str:
    """The glob DuckDB reads for one table: every date, every run, every part."""
    return str(Path(root) / HISTORY_DIR / table / "evolution_date=*" / "run_id=*" / "*.parquet")


def has_rows(root: Path, table: str) -> bool:
    base = Path(root) / HISTORY_DIR / table
    return base.is_dir() and next(base.glob("evolution_date=*/run_id=*/*.parquet"), None) is not None
