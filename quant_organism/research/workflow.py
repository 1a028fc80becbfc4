"""Run one phase of a research workflow (evolution/workflow_spec.py) and keep its result.

Every phase of a workflow sees the same windows, those of its preset for the evolution date: optimization
phases evolve on the train window only; backtest and validation phases judge inherited winners on the
held-out windows after it (never seen by any optimization phase). A phase's result (its winners, summary and
table) is kept under `workflows/<workflow>/run_id=<correlation id>/<phase>.json`, and its population in the
run history (`populations` view, with `workflow` and `phase`), so results can be analysed, and a rerun of
the same correlation id (a resumed run) returns a finished phase from there instead of recomputing it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from quant_organism.core import artifacts
from quant_organism.core.faults import fault_point
from quant_organism.core.metrics import figures, periods_per_year
from quant_organism.core.run_history import archive_table, check_run_id
from quant_organism.evolution.date_windows import EvolutionWindows, evolution_windows
from quant_organism.evolution.evolution_config import OBJECTIVE_COLUMN, load_preset
from quant_organism.evolution.evolve import run_evolution
from quant_organism.evolution.workflow_spec import PhaseSpec, WorkflowSpec, evolution_overrides
from quant_organism.reporting.memory import tag_phase, verdict_rows
from quant_organism.strategies.genes import SeedGenes
from quant_organism.validation.held_out import window_returns
from quant_organism.validation.run import ValidationSettings, validate

WORKFLOW_RESULTS_DIR = "workflows"


@dataclass
class PhaseResult:
    """A finished phase: the winners a later phase inherits, a summary, and its per-strategy table."""

    phase: str
    kind: str
    winners: list[SeedGenes]
    summary: dict[str, Any]
    table: pd.DataFrame = field(default_factory=pd.DataFrame)

    def to_payload(self) -> dict[str, Any]:
        return {
            "phase": self.phase,
            "kind": self.kind,
            "winners": [
                {"seed_type": g.seed_type.value, "name": g.seed_id, "generation": g.generation, "genes": g.gene_values()}
                for g in self.winners
            ],
            "summary": artifacts.json_safe(self.summary),
            "table": artifacts.json_safe(self.table.to_dict("records")),
        }

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> PhaseResult:
        winners = [
            SeedGenes.from_gene_values(w["seed_type"], w["name"], w["genes"], generation=int(w["generation"]), repair=False)
            for w in payload["winners"]
        ]
        return cls(payload["phase"], payload["kind"], winners, dict(payload["summary"]), pd.DataFrame(payload["table"]))


class WorkflowStore:
    """Where one workflow run keeps its phases: `{root}/workflows/<workflow>/run_id=<correlation id>/`."""

    def __init__(self, root: Path, workflow: str, run_id: str, day: str) -> None:
        self.root, self.workflow, self.run_id, self.day = Path(root), workflow, check_run_id(run_id), day
        self.directory = self.root / WORKFLOW_RESULTS_DIR / workflow / f"run_id={self.run_id}"

    def path(self, phase: str) -> Path:
        return self.directory / f"{phase}.json"

    def load(self, phase: str) -> PhaseResult | None:
        path = self.path(phase)
        return PhaseResult.from_payload(json.loads(path.read_text())) if path.exists() else None

    def save(self, result: PhaseResult, population: pd.DataFrame | None = None, generations: pd.DataFrame | None = None) -> Path:
        if population is not None:
            archive_table(
                self.root, "populations", self.day, self.run_id, tag_phase(population, self.workflow, result.phase), result.phase
            )
        if generations is not None and len(generations):
            archive_table(
                self.root, "generations", self.day, self.run_id, tag_phase(generations, self.workflow, result.phase), result.phase
            )
        return artifacts.write_json(self.path(result.phase), result.to_payload())  # last: the checkpoint


def workflow_windows(spec: WorkflowSpec, day: str) -> EvolutionWindows:
    preset = load_preset(spec.preset)
    return evolution_windows(day, preset.lookback_days, preset.split)


def run_phase(
    spec: WorkflowSpec,
    phase: PhaseSpec,
    day: str,
    frames: Mapping[str, pd.DataFrame],
    inherited: PhaseResult | None,
    store: WorkflowStore,
    on_progress: Callable[[dict], None] | None = None,
    interval: str = "1h",
    testnet_env: Mapping[str, str] | None = None,
) -> PhaseResult:
    """The phase's result: the stored one when this run already finished it, else computed and stored.
    `testnet_env`: the testnet credentials the entry layer read, for a validation phase in mode full."""
    done = store.load(phase.name)
    if done is not None:
        done.summary["resumed_from_store"] = True
        return done
    started = time.perf_counter()
    seeds = list(inherited.winners) if inherited is not None else []
    windows = workflow_windows(spec, day)
    if phase.type == "optimization":
        result, population, generations = _optimize(spec, phase, day, frames, seeds, on_progress)
    elif phase.type == "backtest":
        result, population, generations = _backtest(phase, seeds, frames, windows, interval), None, None
    else:
        result, population, generations = _validate(phase, seeds, frames, windows, testnet_env or {}), None, None
    result.summary.update(
        wall_s=round(time.perf_counter() - started, 3),
        inherited=len(seeds),
        inherit_best_from=phase.inherit_best_from,
        workflow=spec.name,
        evolution_date=day,
        run_id=store.run_id,
    )
    fault_point(f"workflow:{phase.name}")  # crash tests: killed with the work done, before it is kept
    store.save(result, population, generations)
    return result


def _optimize(spec, phase, day, frames, seeds, on_progress):
    config = load_preset(spec.preset, **evolution_overrides(spec, phase, tuple(g.seed_type for g in seeds)))
    evolved = run_evolution(frames, config, on_progress, evolution_date=day, inherited=seeds)
    column = OBJECTIVE_COLUMN[config.objective]
    best = evolved.best(phase.optimization.keep_best, by=column)
    winners = [c.genes for c in best]
    table = pd.DataFrame(
        [
            {
                "strategy": c.genes.seed_id,
                "seed_type": c.genes.seed_type.value,
                "objective": float(c.row[column]),
                "score": float(c.row["score"]),
                "sharpe": float(c.row["obj_sharpe"]),
            }
            for c in best
        ]
    )
    totals = evolved.totals()
    summary = {
        "objective": config.objective,
        "evaluations": totals["evaluations"],
        "valid": totals["valid"],
        "seed_types": sorted(s.value for s in config.seed_types),
        "generations": config.generations,
        "population": config.total_strategies,
        "best_objective": float(table["objective"].max()) if len(table) else None,
        "winners": len(winners),
        "batches_by_status": totals["batches_by_status"],
    }
    return PhaseResult(phase.name, phase.type, winners, summary, table), evolved.population, evolved.generation_stats


def _backtest(phase: PhaseSpec, seeds: list[SeedGenes], frames, windows: EvolutionWindows, interval: str) -> PhaseResult:
    """Held-out metrics of the inherited winners, per window and position size (returns scale with it)."""
    rows = []
    per_year = periods_per_year(interval)
    for window in (windows.out_of_sample, windows.walk_forward):
        returns, _ = window_returns(seeds, frames, window) if seeds else (pd.DataFrame(), {})
        for fraction in phase.sizing():
            for genes in seeds:
                rows.append(
                    {
                        "strategy": genes.seed_id,
                        "seed_type": genes.seed_type.value,
                        "window": window.name,
                        "position_pct": fraction * 100.0,
                        **_metrics(returns[genes.seed_id] * fraction, per_year),
                    }
                )
    table = pd.DataFrame(rows)
    both = (table.groupby("strategy")["total_return"].min() > 0) if len(table) else pd.Series(dtype=bool)
    winners = [g for g in seeds if bool(both.get(g.seed_id, False))]
    summary = {
        "strategies": len(seeds),
        "positive_in_both_windows": len(winners),
        "position_pct": [f * 100 for f in phase.sizing()],
        "best_walk_forward_sharpe": float(table.loc[table["window"] == windows.walk_forward.name, "sharpe"].max())
        if len(table)
        else None,
    }
    return PhaseResult(phase.name, phase.type, winners, summary, table)


def _metrics(returns: pd.Series, per_year: float) -> dict[str, float]:
    """Figures of a held-out return series (core/metrics.py); a bar without a return is a flat bar."""
    values = returns.fillna(0.0).to_numpy(np.float64)
    measured = figures(values, per_year)
    return {
        "bars": int(len(values)),
        "total_return": measured["total_return"],
        "sharpe": measured["sharpe"],
        "max_drawdown": measured["max_drawdown"],
        "exposure": float(np.mean(values != 0.0)) if len(values) else 0.0,
    }


def _validate(phase: PhaseSpec, seeds: list[SeedGenes], frames, windows: EvolutionWindows, testnet_env) -> PhaseResult:
    options = ValidationSettings(mode=phase.validation.mode, testnet_env=testnet_env)
    outcome = validate(seeds, frames, windows.out_of_sample, windows.walk_forward, options)
    summary_dict = outcome.to_dict()
    passed = {v.candidate_id for v in outcome.passed}
    table = verdict_rows(summary_dict)
    summary = {
        "candidates": len(seeds),
        "passed": len(passed),
        "mode": phase.validation.mode,
        "spa_pvalue": (summary_dict.get("superiority") or {}).get("spa_pvalue"),
    }
    return PhaseResult(phase.name, phase.type, [g for g in seeds if g.seed_id in passed], summary, table)
