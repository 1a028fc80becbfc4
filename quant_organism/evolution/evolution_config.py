"""`EvolutionConfig`: every knob of one evolution run, typed and checked, plus the packaged presets.

The Dagster layer exposes the YAML presets (`presets/*.yaml`) in the launchpad; the same files load
here with `load_preset(name)`, so a run configured in the UI and one started from Python agree.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from quant_organism.evolution.date_windows import split_days
from quant_organism.strategies.genes import TECHNICAL_SEEDS, SeedType, gene_space

PRESETS_DIR = Path(__file__).resolve().parent / "presets"
Executor = Literal["serial", "process", "ray", "auto"]
Objective = Literal["score", "sharpe", "sortino", "total_return", "consistency"]
OBJECTIVE_COLUMN = {
    "score": "score",
    "sharpe": "obj_sharpe",
    "sortino": "sortino",
    "total_return": "total_return",
    "consistency": "obj_consistency",
}
"""The population column each scalar objective ranks by (elitism, winners); `score` is the fitness score."""


class EvolutionConfig(BaseModel):
    """One run: population shape, variation rates, seed-type mix, parallelism, data window, validity.

    The population is `total_strategies / batch_size` islands (batches) of `batch_size` individuals,
    each evolved independently for `generations` generations after the random generation 0; an island
    is the unit of parallel work. Rates:
    - `crossover_rate`: probability that a pair of selected parents of one seed type is recombined;
    - `mutation_rate`: per-gene probability of a mutation (an offspring identical to its parent gets
      one forced mutation, so no evaluation slot is spent on a clone);
    - `mutation_sigma`: Gaussian step as a fraction of each gene's range;
    - `elite_ratio`: share of each generation (best by scalar score) carried over unchanged.
    Parallelism: `executor` runs islands serially, on `max_workers` processes, or on Ray (a local Ray
    with `max_workers` CPUs, or the cluster at QUANT_ORGANISM_RAY_ADDRESS); `auto` (the production preset) asks
    the machine: a cluster when one is configured, a local Ray from 4 CPUs, else one process (evolution/executors/choice.py); an island still running
    `batch_timeout_s` after it started stops after its current generation (and is killed
    `batch_timeout_grace_s` later on process/Ray); an island whose worker process dies is re-run up to
    `max_retries` times. A worker advances up to `lockstep_islands` islands in lockstep (one evaluator
    call per generation for all of them: the per-call cost is paid once); on Ray, with `share_islands`, a worker
    done early takes islands of a busy one between two generations. Same config and data give the identical
    population whatever the executor, the lockstep and the sharing.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    total_strategies: int = Field(default=500, ge=2)
    batch_size: int = Field(default=50, ge=2)
    generations: int = Field(default=20, ge=0)
    mutation_rate: float = Field(default=0.15, ge=0.0, le=1.0)
    mutation_sigma: float = Field(default=0.1, gt=0.0, le=1.0)
    crossover_rate: float = Field(default=0.8, ge=0.0, le=1.0)
    elite_ratio: float = Field(default=0.3, ge=0.0, lt=1.0)
    seed_types: dict[SeedType, float] = Field(default_factory=lambda: {s: 1.0 for s in TECHNICAL_SEEDS})
    random_seed: int = Field(default=42, ge=0)
    seed_per_date: bool = Field(
        default=True,
        description="draw the islands' random streams from (random_seed, evolution date): a rerun of a date is identical, "
        "each night searches afresh instead of repeating the same first generation",
    )
    executor: Executor = "serial"
    max_workers: int | None = Field(default=None, ge=1)
    batch_timeout_s: float | None = Field(default=600.0, gt=0.0)
    batch_timeout_grace_s: float = Field(default=30.0, ge=0.0)
    max_retries: int = Field(default=2, ge=0)
    lockstep_islands: int = Field(
        default=5,
        ge=1,
        description="islands a worker advances in lockstep, so one evaluator call scores a generation of all of them",
    )
    share_islands: bool = Field(
        default=True,
        description="on Ray, a worker done early goes on with islands of a busy one between generations (work stealing)",
    )
    max_failed_island_share: float = Field(
        default=0.2,
        ge=0.0,
        le=1.0,
        description="the run fails when more than this share of its islands failed (a small, biased population otherwise)",
    )
    ray_address: str | None = Field(default=None, description="a Ray cluster to join; None starts a local Ray")
    lookback_days: int = Field(default=365, ge=3)
    min_lookback_days: int = Field(default=120, ge=3, description="shortest history the windows shrink to")
    split: tuple[float, float, float] = (0.6, 0.2, 0.2)
    max_lookback_days: int | None = Field(
        default=None,
        ge=3,
        description="the lookback grows with the history before the date up to this many days, the growth all "
        "held-out (train keeps lookback_days x split[0]); None: a fixed lookback, for users who want recency",
    )
    min_trades: int = Field(default=10, ge=0)
    fitness_folds: int = Field(
        default=1,
        ge=1,
        le=12,
        description="contiguous folds of the train window: above 1, the Sharpe objective is a quantile over them of "
        "the coins' mean fold Sharpe (one lucky episode cannot carry a genome)",
    )
    fold_quantile: float = Field(default=0.5, ge=0.0, le=1.0, description="that quantile: 0.5 the median fold, 0 the worst")
    parsimony: float = Field(
        default=0.0, ge=0.0, description="score taken off per free parameter (a template's genes, a rule tree's nodes and genes)"
    )
    objective: Objective = Field(default="score", description="scalar that elitism and the winners rank by")
    gene_ranges: dict[SeedType, dict[str, tuple[float, float]]] = Field(
        default_factory=dict, description="seed type -> gene -> (low, high): narrower ranges searched"
    )

    @field_validator("gene_ranges")
    @classmethod
    def _ranges(cls, value: dict) -> dict:
        """Every range names a gene of its seed and lies inside that gene's bounds, low < high."""
        for seed_type, genes in value.items():
            space = gene_space(seed_type)
            for name, (low, high) in genes.items():
                if name not in space:
                    raise ValueError(f"gene_ranges[{seed_type.value}]: unknown gene {name!r}; genes: {list(space)}")
                spec = space[name]
                if not (math.isfinite(low) and math.isfinite(high) and spec.low <= low < high <= spec.high):
                    raise ValueError(
                        f"gene_ranges[{seed_type.value}][{name}]: range [{low}, {high}] must satisfy "
                        f"{spec.low} <= low < high <= {spec.high}"
                    )
        return value

    @field_validator("seed_types", mode="before")
    @classmethod
    def _mix(cls, value: Any) -> Any:
        """A list of seed types means equal weights; names are checked against SeedType."""
        if isinstance(value, (list, tuple)):
            value = {item: 1.0 for item in value}
        if not isinstance(value, Mapping) or not value:
            raise ValueError("seed_types must be a non-empty list of seed types or a mapping seed type -> weight")
        known = [s.value for s in SeedType]
        for name, weight in value.items():
            if str(getattr(name, "value", name)) not in known:
                raise ValueError(f"unknown seed type {name!r} in seed_types; expected some of {known}")
            if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight) or weight <= 0:
                raise ValueError(f"seed_types[{name!r}]: weight must be a finite number > 0, got {weight!r}")
        return value

    @field_validator("split")
    @classmethod
    def _split(cls, value: tuple[float, float, float]) -> tuple[float, float, float]:
        if any(not math.isfinite(v) or v <= 0 for v in value) or abs(sum(value) - 1.0) > 1e-9:
            raise ValueError(f"split (train, out_of_sample, walk_forward) must be positive and sum to 1; got {value}")
        return value

    @model_validator(mode="after")
    def _batches(self) -> EvolutionConfig:
        if self.total_strategies % self.batch_size:
            raise ValueError(
                f"total_strategies ({self.total_strategies}) must be a multiple of batch_size ({self.batch_size}): "
                "each batch is one island of batch_size individuals"
            )
        return self

    @property
    def n_batches(self) -> int:
        return self.total_strategies // self.batch_size

    @property
    def shortest_lookback_days(self) -> int:
        """The least history an evolution date needs: `min_lookback_days`, or the lookback when that is shorter
        (the windows shrink to it on a shorter history, never below)."""
        return min(self.lookback_days, self.min_lookback_days)

    def for_history(self, available_days: int, span: str = "before the date") -> EvolutionConfig:
        """This config fitted to `available_days` of history before the evolution date.

        Shorter than the lookback: every window shrinks alike, down to `shortest_lookback_days` (below it a
        ValueError says how much is missing). Longer, with `max_lookback_days` set: the lookback grows to the
        history, capped, and the growth goes to the held-out windows (split between them as `split` splits
        them) while train keeps its days: the gate's power grows with the square root of its years, the search
        costs what it cost. Otherwise the config as it is."""
        if available_days < self.lookback_days:
            if available_days < self.shortest_lookback_days:
                raise ValueError(
                    f"only {max(available_days, 0)} day(s) of history {span}; the preset needs "
                    f"{self.lookback_days} and at least {self.shortest_lookback_days} to evolve and validate: ingest more history"
                )
            return self.model_copy(update={"lookback_days": int(available_days)})
        days = min(available_days, self.max_lookback_days or self.lookback_days)
        if days <= self.lookback_days:
            return self
        train = split_days(self.lookback_days, self.split)[0]
        held_out = days - train
        out_of_sample = int(round(held_out * self.split[1] / (self.split[1] + self.split[2])))
        split = (train / days, out_of_sample / days, (held_out - out_of_sample) / days)
        return self.model_copy(update={"lookback_days": int(days), "split": split})

    @property
    def n_elite(self) -> int:
        """Individuals carried over unchanged each generation (rounded down, at most batch_size - 1)."""
        return min(int(self.elite_ratio * self.batch_size + 1e-9), self.batch_size - 1)

    def seed_type_weights(self) -> list[tuple[SeedType, float]]:
        """The mix in canonical SeedType order (so the allocation never depends on YAML key order)."""
        return [(s, float(self.seed_types[s])) for s in SeedType if s in self.seed_types]


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))


def preset_values(name: str) -> dict[str, Any]:
    """The raw mapping of a packaged preset (what the launchpad shows)."""
    path = PRESETS_DIR / f"{name}.yaml"
    if not path.is_file():
        raise ValueError(f"unknown evolution preset {name!r}; available: {preset_names()}")
    values = yaml.safe_load(path.read_text()) or {}
    if not isinstance(values, dict):
        raise ValueError(f"preset {path} must hold a mapping of EvolutionConfig fields, got {type(values).__name__}")
    return values


def load_preset(name: str, **overrides: Any) -> EvolutionConfig:
    """A packaged preset ('test', 'full') as a validated config, with optional field overrides."""
    return EvolutionConfig.model_validate({**preset_values(name), **overrides})


def date_seed(random_seed: int, evolution_date: date) -> int:
    """The seed of one evolution date: a stable mix of the configured seed and the date (reruns equal, nights differ)."""
    return int(np.random.SeedSequence([int(random_seed), evolution_date.toordinal()]).generate_state(1)[0])
