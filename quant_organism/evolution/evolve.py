"""`run_evolution`: cut the market to the train window, evolve the islands on an executor, collect.

Progress goes to `on_progress(event)` from the driver process only (workers cannot call back), as
dicts with an `event` key:
- `run_started`: executor, batches, workers, windows, coins, train_bars;
- `generation`: one per (batch, generation) when the batch returns: best/median/mean score, evaluations;
- `batch_finished`: batch, status (ok / failed / timeout), error, wall_s, evaluations, done, total;
- `run_finished`: the result's totals.
The same events are logged at INFO (failed batches at WARNING) on this module's logger.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from typing import Any

import pandas as pd

from quant_organism.evolution.date_windows import WindowLeakError, evolution_windows, guard_train_frames, slice_frames
from quant_organism.evolution.evolution_config import EvolutionConfig, date_seed
from quant_organism.evolution.executors.choice import with_executor_chosen
from quant_organism.evolution.executors.choice import workers as executor_workers
from quant_organism.evolution.executors.runners import EXECUTORS
from quant_organism.evolution.island import STATUS_LEAK, Evaluator, IslandHook, IslandOutcome, IslandTask
from quant_organism.evolution.result import (
    BATCH_COLUMNS,
    GENERATION_COLUMNS,
    POPULATION_COLUMNS,
    EvolutionResult,
    TooManyFailedIslands,
)
from quant_organism.evolution.traded_frames import infer_interval, prepare_frames
from quant_organism.strategies.genes import SeedGenes, SeedType

log = logging.getLogger(__name__)
ProgressCallback = Callable[[dict[str, Any]], None]


def run_evolution(
    frames: Mapping[str, pd.DataFrame],
    config: EvolutionConfig | None = None,
    on_progress: ProgressCallback | None = None,
    *,
    evolution_date: date | str | None = None,
    evaluator: Evaluator | None = None,
    batch_hook: IslandHook | None = None,
    deadline: float | None = None,
    inherited: Sequence[SeedGenes] = (),
) -> EvolutionResult:
    """Evolve `config.n_batches` islands on the train window of `evolution_date` and collect them.

    `frames`: coin -> OHLCV frame (UTC DatetimeIndex, `funding_rate` column; see traded_frames.py), covering
    at least the train window [D+1-L, D+1-L+train_days). `evolution_date` defaults to the UTC day
    of the last bar. `evaluator` replaces the universal fitness (default `evaluate_universe`) and
    `batch_hook(batch)` runs in the worker before each batch: both must be picklable for the
    process and Ray executors (module-level functions or instances of module-level classes).
    `deadline` (epoch seconds, the run's evolution budget) stops islands cleanly between generations; an
    island not started by then evaluates nothing (status `budget`). `inherited`: inherited winners that every
    island starts from (at most half of it; the rest is random), as a workflow's `inherit_best_from` asks.

    Raises `WindowLeakError` when any island's leak guard fired, and `TooManyFailedIslands` when more than
    `config.max_failed_island_share` of the islands failed: either would publish a small or tainted population.
    """
    config, executor_reason = with_executor_chosen(config or EvolutionConfig())
    started = time.perf_counter()
    emit = on_progress or (lambda event: None)
    frames = prepare_frames(frames, need_funding=SeedType.FUNDING_CARRY in config.seed_types)
    if evolution_date is None:
        evolution_date = max(frame.index.max() for frame in frames.values() if len(frame)).date()
    windows = evolution_windows(evolution_date, config.lookback_days, config.split)
    if config.seed_per_date:
        config = config.model_copy(
            update={"random_seed": date_seed(config.random_seed, windows.evolution_date), "seed_per_date": False}
        )
    train = slice_frames(frames, windows.train, ragged=True)  # a coin listed late in the train window trains nothing
    guard_train_frames(train, windows.train, windows.validation)
    train_bars = {coin: len(frame) for coin, frame in train.items()}
    inherited = tuple(inherited)
    tasks = [
        IslandTask(b, config.batch_size, config, windows.train, windows.validation, deadline, inherited)
        for b in range(config.n_batches)
    ]
    workers = executor_workers(config)

    _announce(emit, config, executor_reason, len(tasks), workers, train_bars, windows, deadline, len(inherited))
    outcomes: dict[int, IslandOutcome] = {}
    on_outcome = _reporter(emit, outcomes, len(tasks))

    run = EXECUTORS[config.executor]
    if config.executor == "serial":
        info = run(tasks, train, on_outcome, evaluator, batch_hook)
    else:
        info = run(tasks, train, on_outcome, workers, evaluator, batch_hook)
    missing = [t.batch for t in tasks if t.batch not in outcomes]
    for batch in missing:  # defensive: an executor bug must show up as a failed batch, not vanish
        on_outcome(IslandOutcome.failed(batch, "executor returned no outcome for this batch"))

    ordered = [outcomes[t.batch] for t in tasks]
    result = EvolutionResult(
        population=_concat([o.population for o in ordered], POPULATION_COLUMNS),
        generation_stats=_concat([o.generations for o in ordered], GENERATION_COLUMNS),
        batches=_batches_frame(ordered),
        config=config,
        windows=windows,
        coins=tuple(train),
        interval=infer_interval(train),
        executor=config.executor,
        executor_reason=executor_reason,
        workers=int(info.get("workers", workers)),
        wall_s=time.perf_counter() - started,
        train_bars=train_bars,
        ray_resources=info.get("ray_resources"),
    )
    totals = result.totals()
    emit({"event": "run_finished", **totals})
    leaks = [o for o in ordered if o.status == STATUS_LEAK]
    if leaks:
        raise WindowLeakError(f"island(s) {[o.batch for o in leaks]} evaluated outside the train window: {leaks[0].error}")
    if len(result.failed_batches) > config.max_failed_island_share * len(tasks):
        raise TooManyFailedIslands(result)
    log.info(
        "evolution done: %d evaluations in %.1f s (%.1f/s), batches %s",
        totals["evaluations"],
        totals["wall_s"],
        totals["evaluations_per_s"],
        totals["batches_by_status"],
    )
    return result


def _announce(emit, config, executor_reason, batches, workers, train_bars, windows, deadline, inherited) -> None:
    """The run's start, as a progress event and a log line."""
    emit({"event": "run_started", "executor": config.executor, "executor_reason": executor_reason, "batches": batches,
          "batch_size": config.batch_size, "generations": config.generations, "workers": workers,
          "coins": list(train_bars), "train_bars": train_bars, "windows": windows.as_dict(), "deadline": deadline,
          "inherited": inherited})  # fmt: skip
    log.info("evolution %s (%s): %d batches x %d x %d generations on %s, train %s .. %s", config.executor, executor_reason,
             batches, config.batch_size, config.generations, list(train_bars), windows.train.start, windows.train.end)  # fmt: skip


def _reporter(emit, outcomes: dict[int, IslandOutcome], total: int):
    """What the executors call with each island's outcome: kept, its generations and its end reported."""

    def on_outcome(outcome: IslandOutcome) -> None:
        outcomes[outcome.batch] = outcome
        for stats in outcome.generations.to_dict("records"):
            emit({"event": "generation", **stats})
        best = float(outcome.population["score"].max()) if len(outcome.population) else None
        emit({"event": "batch_finished", "batch": outcome.batch, "status": outcome.status, "error": outcome.error,
              "wall_s": round(outcome.wall_s, 3), "evaluations": outcome.evaluations, "best_score": best,
              "done": len(outcomes), "total": total})  # fmt: skip
        error = f": {outcome.error.splitlines()[0]}" if outcome.error else ""
        log.log(logging.INFO if outcome.status == "ok" else logging.WARNING, "batch %d %s in %.1f s, %d evaluations%s (%d/%d)",
                outcome.batch, outcome.status, outcome.wall_s, outcome.evaluations, error, len(outcomes), total)  # fmt: skip

    return on_outcome


def _batches_frame(ordered: list[IslandOutcome]) -> pd.DataFrame:
    """One row per island: its status, time, evaluations, error and where it ran."""
    return pd.DataFrame([{f: getattr(o, f) for f in BATCH_COLUMNS} for o in ordered], columns=list(BATCH_COLUMNS))


def _concat(parts: list[pd.DataFrame], columns: tuple[str, ...]) -> pd.DataFrame:
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame(columns=list(columns))
    frame = pd.concat(parts, ignore_index=True)
    return frame.loc[:, [c for c in columns if c in frame.columns]]
