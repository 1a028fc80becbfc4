"""Per-date artifacts of the pipeline under a root folder, written atomically, readable with DuckDB.

    evolution/date=D/population.parquet        every evaluated individual
    evolution/date=D/generation_stats.parquet  best/median score per island and generation
    evolution/date=D/batches.parquet           per-island wall time, status and error
    evolution/date=D/run.json                  config, windows, totals
    validation/date=D/verdicts.json            per-candidate stage results
    reports/date=D/report.json, report.md      the evolution report

Later phases read earlier phases from here, so each asset is a function of files on disk and can be
re-materialised alone from the UI.
"""

from __future__ import annotations

import json
import math
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from quant_organism.core.durable import atomic_write


def phase_dir(phase: str, day: str | date, root: Path) -> Path:
    """`{root}/{phase}/date=YYYY-MM-DD`: one folder per phase and evolution date."""
    return Path(root) / phase / f"date={pd.Timestamp(day).strftime('%Y-%m-%d')}"


def write_json(path: Path, payload: Any) -> Path:
    text = json.dumps(payload, indent=2, sort_keys=True, default=str, allow_nan=False)
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))
    return path


def write_text(path: Path, text: str) -> Path:
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))
    return path


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


def write_frame(path: Path, frame: pd.DataFrame) -> Path:
    table = pa.Table.from_pandas(frame.reset_index(drop=True), preserve_index=False)
    atomic_write(path, lambda tmp: pq.write_table(table, tmp, compression="zstd"))
    return path


def read_frame(path: Path) -> pd.DataFrame:
    return pq.read_table(path).to_pandas()


def json_safe(value: Any) -> Any:
    """Strict JSON types, recursively: NaN and inf become None, numpy scalars Python numbers, keys strings."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return finite_or_none(value)
    return value


def finite_or_none(value: Any) -> float | None:
    """A number as a float, or None for a missing, NaN or infinite one (JSON has no NaN)."""
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None
