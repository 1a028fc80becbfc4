"""Evolution assets: `evolution/population` (DEAP islands on Ray) and `evolution/strategy_configs`."""

import time
from typing import Optional

import dagster as dg
from pydantic import Field

from quant_organism import settings
from quant_organism.core import artifacts as artifact_files
from quant_organism.core.budget import CostLimitExceeded, check_cost, cost_usd, estimate_cpu_seconds, planned_evaluations
from quant_organism.core.faults import fault_point
from quant_organism.defs.automation.conditions import chain_asset, population_condition
from quant_organism.defs.market.assets import CANDLES, FUNDING
from quant_organism.defs.market.regime_assets import REGIME
from quant_organism.defs.shared.history import UNIVERSE_FILE, fit_to_history, listed_days, night_universe_of
from quant_organism.defs.shared.keys import POPULATION
from quant_organism.defs.shared.numbers import rounded
from quant_organism.defs.shared.partitions import all_coins_of_day, lookback_days, partitioned
from quant_organism.defs.shared.resources import (
    ArtifactsResource,
    LakeResource,
    RunBudgetResource,
    StrategyStoreResource,
    correlation_id,
)
from quant_organism.defs.shared.upstream import thin_window, uncovered_days
from quant_organism.evolution.date_windows import evolution_windows
from quant_organism.evolution.evolution_config import EvolutionConfig, load_preset, preset_names, preset_values
from quant_organism.evolution.evolve import run_evolution
from quant_organism.evolution.executors.choice import workers as executor_workers
from quant_organism.evolution.result import TooManyFailedIslands, select_candidates, to_strategy_configs
from quant_organism.market.frames import load_market_frames
from quant_organism.operations.job_names import EVOLVE_JOBS_BY_PRESET
from quant_organism.reporting.memory import run_row, tag_phase
from quant_organism.reporting.plots import fitness_over_generations, markdown_image

CANDIDATES_FILE = "strategy_configs.json"  # the names validation judges, in rank order
STRATEGY_CONFIGS = dg.AssetKey(["evolution", "strategy_configs"])
MIN_COVERAGE = 0.9  # share of the train window's bars that must be present and clean

# Population D reads the trailing lookback of every coin from the lake: candles, funding and the regimes
# joined onto them. The lookback is fitted to the history (fit_to_history): it grows with the lake up to a preset's
# `max_lookback_days`. Its edge to the regimes spans the longest any preset can read (LOOKBACK_EDGE_DAYS), and each
# regime day depends on every coin's candles of that day, so the asset graph and the UI show every day a population
# may read; the lookback it did read is in its metadata (`windows`), which the `lookback_current` check and the
# staleness sensor follow (lookback_check.py). Dagster has no built-in mapping from a daily asset to a window of a
# date x coin asset, hence the edges to candles and funding map D to all coins of D only. The window's coverage is
# still checked at run time (MIN_COVERAGE).
LOOKBACK_EDGE_DAYS = max(
    max(int(preset_values(name).get("lookback_days") or 0), int(preset_values(name).get("max_lookback_days") or 0))
    for name in preset_names()
)
REGIME_LOOKBACK = lookback_days(LOOKBACK_EDGE_DAYS)  # population D -> regimes D-2189 .. D (the production preset's cap)


JOB_PRESET = "job"  # the preset of the job the run belongs to; the production preset under the automation


class EvolutionRunConfig(dg.Config):
    """A packaged preset (test | full, YAML in quant_organism/evolution/presets) plus optional overrides."""

    preset: str = Field(
        default=JOB_PRESET,
        description=f"packaged preset: {' | '.join(preset_names())}, or '{JOB_PRESET}': the job's own (evolve: test, "
        "evolve_full: full), else the production preset (QUANT_ORGANISM_PRESET, default full), as the automation runs it",
    )
    total_strategies: Optional[int] = Field(default=None, description="override: population size")
    batch_size: Optional[int] = Field(default=None, description="override: individuals per island")
    generations: Optional[int] = Field(default=None, description="override: generations per island")
    executor: Optional[str] = Field(default=None, description="override: serial | process | ray | auto (the machine chooses)")
    max_workers: Optional[int] = Field(default=None, description="override: parallel islands")
    lookback_days: Optional[int] = Field(default=None, description="override: days of history (train+validation)")
    max_lookback_days: Optional[int] = Field(
        default=None,
        description="override: the lookback grows with the lake's history up to this many days, the growth held-out "
        "(the production preset: 2190); set it to lookback_days for a fixed lookback",
    )
    random_seed: Optional[int] = Field(default=None, description="override: random seed")
    seed_per_date: Optional[bool] = Field(
        default=None, description="override: mix the random seed with the evolution date (the presets: on)"
    )

    def evolution_config(self, job_preset: str | None = None) -> EvolutionConfig:
        """The preset named here; for `JOB_PRESET`, `job_preset` (the evolution job's own), else the production preset."""
        overrides = {name: value for name, value in self.model_dump().items() if name != "preset" and value is not None}
        overrides.setdefault("ray_address", settings.ray_address())
        named = self.preset if self.preset != JOB_PRESET else (job_preset or settings.production_preset())
        return load_preset(named, **overrides)


class StrategyConfigsConfig(dg.Config):
    """Which individuals become configs: the candidates validation will judge (the top share, capped). The
    one place this is decided: validation reads the list this asset writes."""

    top_share: float = Field(default=0.2, description="share of the distinct valid individuals")
    max_strategies: int = Field(default=50)


def _terminal_bar(total: int | None):
    """A tqdm bar on the terminal when the CLI asked for one (QUANT_ORGANISM_PROGRESS=1) and stderr is a TTY."""
    import os
    import sys

    if os.environ.get("QUANT_ORGANISM_PROGRESS") != "1" or not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc="evolve", unit="gen", file=sys.stderr, leave=False)


def _progress_logger(context: dg.AssetExecutionContext, total_generations: int | None = None):
    bar = _terminal_bar(total_generations)

    def log(event: dict) -> None:
        kind = event.get("event")
        if bar is not None and kind == "generation":
            bar.update(1)
            bar.set_postfix_str(f"best {event.get('best_score')}")
        if kind == "batch_finished":
            context.log.info(
                f"island {event.get('batch')} {event.get('status')}: {event.get('evaluations')} evaluations in "
                f"{event.get('wall_s', 0):.1f}s, best score {event.get('best_score')}"
                + (f" — {event.get('error')}" if event.get("error") else "")
            )
        elif kind == "generation":
            context.log.debug(f"island {event.get('batch')} generation {event.get('generation')}: best {event.get('best_score')}")
        else:
            context.log.info(f"{kind}: { {k: v for k, v in event.items() if k != 'event'} }")

    return log


def _death_feedback(artifacts: ArtifactsResource, evolution: EvolutionConfig, day: str, log) -> tuple[EvolutionConfig, dict]:
    """The evolution config with its seed families' sampling weights lowered by their forward failures before `day`
    (evolution/death_feedback.py, from the store's death reports), and what moved them."""
    from datetime import date
    from pathlib import Path

    from quant_organism.catalog.death_reports import read_reports
    from quant_organism.catalog.store import STORE_DIR
    from quant_organism.evolution.death_feedback import family_weights

    reports, unreadable = read_reports(Path(artifacts.root) / STORE_DIR, before=date.fromisoformat(day))
    for problem in unreadable:
        log.warning(f"death report not read (left in place): {problem}")
    feedback = family_weights(evolution.seed_types, reports, date.fromisoformat(day))
    log.info(feedback.describe())
    summary = {"failures": feedback.failures, "reports": len(reports),
               "weights": {s.value: round(w, 6) for s, w in feedback.weights.items()}}  # fmt: skip
    return evolution.model_copy(update={"seed_types": feedback.weights}), summary


def _cost_plan(evolution: EvolutionConfig, windows, clock, budget: RunBudgetResource) -> dict:
    """Planned evaluations and the run's estimated CPU-seconds and cost, before any work."""
    import pandas as pd

    planned = planned_evaluations(evolution.total_strategies, evolution.generations, evolution.elite_ratio)
    train_bars = int((windows.train.end - windows.train.start) / pd.Timedelta(settings.interval()))
    cpu_s = estimate_cpu_seconds(
        planned,
        len(settings.coins()),
        train_bars,
        workers=executor_workers(evolution),
        budget=clock,
        evolution_share=clock.shares.get("evolution", 0.5) or 0.5,
    )
    return {
        "planned_evaluations": planned,
        "estimated_cpu_s": round(cpu_s, 1),
        "estimated_cost_usd": round(cost_usd(cpu_s, budget.cpu_hour_price), 6),
    }


def _evolution_spending(result, clock, driver_cpu_s: float, price: float) -> dict:
    """Time and CPU the evolution used: the driver's CPU plus what its workers' processes spent on the islands
    (not the islands' walls: the islands of a gang run interleaved, so their walls overlap)."""
    islands = float(result.batches["cpu_s"].sum()) if result.executor != "serial" and len(result.batches) else 0.0
    cpu_s = driver_cpu_s + islands
    return {
        "evolution_used_s": round(clock.elapsed(), 3),
        "evolution_cpu_s": round(cpu_s, 3),
        "evolution_cost_usd": round(cost_usd(cpu_s, price), 6),
        "stopped_by_budget": result.stopped_by_budget,
    }


def _island_metadata(result) -> dict[str, dg.MetadataValue]:
    """How many islands failed, why, and each failed island's record."""
    return {
        "islands_failed": dg.MetadataValue.int(len(result.failed_batches)),
        "island_failure_reasons": dg.MetadataValue.json(result.failure_reasons()),
        "failed_batches": dg.MetadataValue.json(artifact_files.json_safe(result.failed_batches.to_dict("records"))),
    }


@partitioned(
    dg.asset,
    "daily",
    key=POPULATION,
    automation_condition=population_condition(),
    deps=[
        dg.AssetDep(CANDLES, partition_mapping=all_coins_of_day),
        dg.AssetDep(FUNDING, partition_mapping=all_coins_of_day),
        dg.AssetDep(REGIME, partition_mapping=REGIME_LOOKBACK),
    ],
    group_name="evolution",
    kinds={"python", "parquet"},
)
def population(
    context: dg.AssetExecutionContext,
    config: EvolutionRunConfig,
    lake: LakeResource,
    artifacts: ArtifactsResource,
    budget: RunBudgetResource,
) -> dg.MaterializeResult:
    """Every individual evaluated by the day's evolution (DEAP islands, serial/process/Ray), trained on the window
    strictly before the validation windows."""
    day = context.partition_key
    job_preset = {job: preset for preset, job in EVOLVE_JOBS_BY_PRESET.items()}.get(context.job_name)
    evolution = fit_to_history(context, config.evolution_config(job_preset), lake, day)
    windows = evolution_windows(day, evolution.lookback_days, evolution.split)
    clock = budget.budget(context)
    plan = _cost_plan(evolution, windows, clock, budget)
    context.log.info(
        f"budget: {'unbounded' if clock.total_s is None else f'{clock.total_s:g} s'}; planned {plan['planned_evaluations']} "
        f"evaluations, estimated {plan['estimated_cpu_s']:.0f} CPU-s = ${plan['estimated_cost_usd']:.4f}"
        + (f" (limit ${budget.cost_limit:g})" if budget.cost_limit is not None else "")
    )
    try:
        check_cost(plan["estimated_cost_usd"], budget.cost_limit)
    except CostLimitExceeded as exc:
        raise dg.Failure(description=str(exc), metadata={"cost_plan": dg.MetadataValue.json(plan)}) from None
    universe = night_universe_of(lake, day, evolution.lookback_days)
    coins = settings.coins() if universe is None else universe.seen
    if universe is not None:
        context.log.info(f"{universe.describe()}; train {windows.train.start.date()} .. {windows.train.end.date()}")
    loaded = load_market_frames(lake.lake(), coins, windows.train.start, windows.train.end, settings.interval())
    coverage = loaded.coverage(listed_days(lake, coins))
    if coverage < MIN_COVERAGE:
        raise thin_window(
            uncovered_days(loaded.frames, coins, windows.train.start, windows.train.end)
            or [windows.train.start.strftime("%Y-%m-%d")],
            f"only {coverage:.0%} of the train window {windows.train.start.date()} .. {windows.train.end.date()} "
            f"is in the lake (need {MIN_COVERAGE:.0%})",
            loaded.skipped,
            {"missing_or_failing": dg.MetadataValue.json(loaded.skipped[:100])},
        )
    evolution, deaths = _death_feedback(artifacts, evolution, day, context.log)
    context.log.info(
        f"evolving {evolution.total_strategies} strategies ({evolution.n_batches} islands x {evolution.generations} "
        f"generations, {evolution.executor}) on {list(loaded.frames)} train {windows.train.start} .. {windows.train.end}"
    )
    cpu_started = time.process_time()
    try:
        result = run_evolution(
            loaded.frames,
            evolution,
            on_progress=_progress_logger(context, evolution.n_batches * evolution.generations),
            evolution_date=day,
            deadline=clock.deadline("evolution"),
        )
    except TooManyFailedIslands as failed:
        raise dg.Failure(description=str(failed), metadata=_island_metadata(failed.result)) from None
    run_id = correlation_id(context)
    spent = _evolution_spending(result, clock, time.process_time() - cpu_started, budget.cpu_hour_price)
    if result.stopped_by_budget:
        context.log.warning(
            f"evolution stopped at its budget share ({clock.share_s('evolution'):.1f} s): {result.stopped_by_budget} of "
            f"{len(result.batches)} islands cut, {result.evaluations} of {plan['planned_evaluations']} planned evaluations"
        )
    budget_info = {**clock.to_dict(), **plan, **spent, "cost_limit": budget.cost_limit, "cpu_hour_price": budget.cpu_hour_price}
    directory = artifacts.save_evolution(result, {"run_id": run_id, "budget": budget_info})
    if universe is not None:
        artifact_files.write_json(directory / UNIVERSE_FILE, {"top_n": universe.top_n, "members": list(universe.members),
                                  "seen": list(universe.seen), "train": windows.train.to_dict()})  # fmt: skip
    artifacts.archive("populations", day, run_id, tag_phase(result.population, None, "evolution"))
    artifacts.archive("generations", day, run_id, tag_phase(result.generation_stats, None, "evolution"))
    artifacts.archive("runs", day, run_id, run_row(result.totals(), result.config.model_dump(mode="json"), budget_info))
    fault_point("evolution:population")
    totals = result.totals()
    batches = result.batches
    return dg.MaterializeResult(
        metadata={
            "evaluations": dg.MetadataValue.int(totals["evaluations"]),
            "backtests": dg.MetadataValue.int(totals["backtests"]),
            "evaluations_per_s": rounded(totals["evaluations_per_s"], 1),
            "wall_s": rounded(totals["wall_s"], 1),
            "best_score": rounded(totals["best_score"]),
            "valid": dg.MetadataValue.int(totals["valid"]),
            "executor": totals["executor"],
            "executor_reason": totals["executor_reason"],
            "workers": dg.MetadataValue.int(totals["workers"]),
            "ray_resources": dg.MetadataValue.json(totals["ray_resources"] or {}),
            **_island_metadata(result),
            "run_id": run_id,
            "budget": dg.MetadataValue.json(artifact_files.json_safe(budget_info)),
            "stopped_by_budget": dg.MetadataValue.int(result.stopped_by_budget),
            "death_feedback": dg.MetadataValue.json(deaths),
            "batch_wall_s": dg.MetadataValue.md(batches.to_markdown(index=False)),
            "windows": dg.MetadataValue.json(windows.as_dict()),
            "universe": universe.describe() if universe is not None else f"the configured coins: {', '.join(coins)}",
            "skipped_partitions": dg.MetadataValue.json(loaded.skipped[:100]),
            "fitness_plot": dg.MetadataValue.md(markdown_image(fitness_over_generations(result.generation_stats), "fitness")),
            "path": dg.MetadataValue.path(str(directory)),
        }
    )


@chain_asset(key=STRATEGY_CONFIGS, deps=[POPULATION], group_name="evolution", kinds={"json"})
def strategy_configs(
    context: dg.AssetExecutionContext, config: StrategyConfigsConfig, artifacts: ArtifactsResource, catalog: StrategyStoreResource
) -> dg.MaterializeResult:
    """The population's best distinct individuals as versioned JSON strategy configs (status evolved), tagged with the
    evolution date and the data window they saw."""
    day = context.partition_key
    result = artifacts.load_evolution(day)
    configs = to_strategy_configs(result, len(select_candidates(result, config.top_share, config.max_strategies)))
    loader = catalog.store()
    paths = loader.save_evolved_strategies(configs)
    artifact_files.write_json(artifacts.phase_dir("evolution", day) / CANDIDATES_FILE, [c.name for c in configs])
    context.log.info(f"saved {len(paths)} evolved strategy configs to {loader.directory}")
    fault_point("evolution:strategy_configs")
    table = "\n".join(
        ["| name | seed | score | sharpe |", "|---|---|---|---|"]
        + [f"| {c.name} | {c.seed_type.value} | {c.fitness_score:.3f} | {c.backtest_sharpe:.2f} |" for c in configs]
    )
    return dg.MaterializeResult(
        metadata={
            "strategies": dg.MetadataValue.int(len(configs)),
            "best_score": rounded(configs[0].fitness_score if configs else None),
            "configs": dg.MetadataValue.md(table),
            "store": dg.MetadataValue.path(str(loader.directory)),
            "store_problems": dg.MetadataValue.json([str(p) for p in loader.problems]),
        }
    )
