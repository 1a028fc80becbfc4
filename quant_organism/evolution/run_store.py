"""An evolution run on disk: `evolution/date=D/` under the artifacts root (population, generation stats,
island batches, run.json). The population asset writes it; later assets read it back.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from quant_organism.core import artifacts
from quant_organism.core.artifacts import json_safe
from quant_organism.evolution.date_windows import evolution_windows
from quant_organism.evolution.evolution_config import EvolutionConfig
from quant_organism.evolution.result import EvolutionResult


def save_evolution(result, root: Path, extra: dict | None = None) -> Path:
    """Write an EvolutionResult's tables and summary (plus `extra`: run id, budget) to the date's latest folder."""
    directory = artifacts.phase_dir("evolution", result.windows.evolution_date, root)
    artifacts.write_frame(directory / "population.parquet", result.population)
    artifacts.write_frame(directory / "generation_stats.parquet", result.generation_stats)
    artifacts.write_frame(directory / "batches.parquet", result.batches)
    artifacts.write_json(
        directory / "run.json",
        {"config": json.loads(result.config.model_dump_json()), "totals": json_safe(result.totals()), **json_safe(extra or {})},
    )
    return directory


def load_evolution(day: str | date, root: Path):
    """The EvolutionResult saved for `day` (raises FileNotFoundError naming what to materialise)."""
    directory = artifacts.phase_dir("evolution", day, root)
    if not (directory / "run.json").exists():
        raise FileNotFoundError(f"no evolution for {day} under {directory}: materialise evolution/population first")
    run = artifacts.read_json(directory / "run.json")
    config = EvolutionConfig.model_validate(run["config"])
    totals = run["totals"]
    return EvolutionResult(
        population=artifacts.read_frame(directory / "population.parquet"),
        generation_stats=artifacts.read_frame(directory / "generation_stats.parquet"),
        batches=artifacts.read_frame(directory / "batches.parquet"),
        config=config,
        windows=evolution_windows(day, config.lookback_days, config.split),
        coins=tuple(totals["coins"]),
        interval=totals["interval"],
        executor=totals["executor"],
        executor_reason=totals.get("executor_reason", ""),
        workers=int(totals["workers"]),
        wall_s=float(totals["wall_s"]),
        train_bars=dict(totals["train_bars"]),
        ray_resources=totals.get("ray_resources"),
    )


def load_run_info(day: str | date, root: Path) -> dict:
    """The date's run.json: config, totals, and the run id and budget the population asset recorded."""
    path = artifacts.phase_dir("evolution", day, root) / "run.json"
    return artifacts.read_json(path) if path.exists() else {}
