"""Per-date artifacts of the pipeline under the data root, written atomically, readable with DuckDB.

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
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from quant_organism import settings
from quant_organism.market.lake import atomic_write_bytes


def phase_dir(phase: str, day: str | date, root: Path | None = None) -> Path:
    return (root or settings.data_dir()) / phase / f"date={pd.Timestamp(day).strftime('%Y-%m-%d')}"


def write_json(path: Path, payload: Any) -> Path:
    text = json.dumps(payload, indent=2, sort_keys=True, default=str, allow_nan=False)
    atomic_write_bytes(path, lambda tmp: Path(tmp).write_text(text))
    return path


def write_text(path: Path, text: str) -> Path:
    atomic_write_bytes(path, lambda tmp: Path(tmp).write_text(text))
    return path


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


def write_frame(path: Path, frame: pd.DataFrame) -> Path:
    table = pa.Table.from_pandas(frame.reset_index(drop=True), preserve_index=False)
    atomic_write_bytes(path, lambda tmp: pq.write_table(table, tmp, compression="zstd"))
    return path


def read_frame(path: Path) -> pd.DataFrame:
    return pq.read_table(path).to_pandas()


def save_evolution(result, root: Path | None = None) -> Path:
    """Write an EvolutionResult's tables and summary; returns the directory."""
    directory = phase_dir("evolution", result.windows.evolution_date, root)
    write_frame(directory / "population.parquet", result.population)
    write_frame(directory / "generation_stats.parquet", result.generation_stats)
    write_frame(directory / "batches.parquet", result.batches)
    write_json(
        directory / "run.json",
        {"config": json.loads(result.config.model_dump_json()), "totals": _json_safe(result.totals())},
    )
    return directory


def load_evolution(day: str | date, root: Path | None = None):
    """The EvolutionResult saved for `day` (raises FileNotFoundError naming what to materialise)."""
    from quant_organism.evolution.config import EvolutionConfig
    from quant_organism.evolution.result import EvolutionResult
    from quant_organism.evolution.windows import evolution_windows

    directory = phase_dir("evolution", day, root)
    if not (directory / "run.json").exists():
        raise FileNotFoundError(f"no evolution for {day} under {directory}: materialise evolution/population first")
    run = read_json(directory / "run.json")
    config = EvolutionConfig.model_validate(run["config"])
    totals = run["totals"]
    return EvolutionResult(
        population=read_frame(directory / "population.parquet"),
        generation_stats=read_frame(directory / "generation_stats.parquet"),
        batches=read_frame(directory / "batches.parquet"),
        config=config,
        windows=evolution_windows(day, config.lookback_days, config.split),
        coins=tuple(totals["coins"]),
        interval=totals["interval"],
        executor=totals["executor"],
        workers=int(totals["workers"]),
        wall_s=float(totals["wall_s"]),
        train_bars=dict(totals["train_bars"]),
        ray_resources=totals.get("ray_resources"),
    )


def _json_safe(value: Any) -> Any:
    """Replace NaN/inf by None so the summary is strict JSON."""
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None
    return value
