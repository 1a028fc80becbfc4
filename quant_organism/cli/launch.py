"""Launches the project's jobs on a persistent Dagster instance: what the README's main command runs.

Market data is ingested as one run per coin over a date range (a single-run backfill), so a year of
hourly bars for five coins takes seconds rather than one run per partition. A large universe is ingested
by worker processes side by side (one coin's run each at a time).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import re
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from itertools import repeat
from pathlib import Path

import dagster as dg
import pandas as pd
from pydantic import ValidationError

from quant_organism import settings
from quant_organism.cli import code_location
from quant_organism.core.durable import replace_text
from quant_organism.defs.automation.orphans import worker_tags
from quant_organism.defs.shared.upstream import CLOSED_AT_WEEKENDS, WHY_QUERY, weekend_days_only
from quant_organism.operations.job_names import EVOLVE_JOBS_BY_PRESET, INGEST_JOB, MEMORY_JOB, PAPER_JOB, REGIME_JOB

log = logging.getLogger("quant_organism")

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


@dataclass
class IngestSummary:
    coin: str
    start: str
    end: str
    success: bool
    run_id: str
    failure: str | None = None  # what failed and why, when it failed
    below_gate: tuple[str, ...] = ()  # partitions below the quality gate, "BTC 2025-04-01 (0.0%)"
    gate_only: bool = False  # failed only at the quality gate: the partitions are written, and readers skip those below it
    unreachable: bool = False  # the source gave no answer (SourceUnreachableError): the network, not the data


def default_end_date() -> str:
    """The last complete UTC day."""
    return (pd.Timestamp.now(tz="UTC").floor("D") - pd.Timedelta(days=1)).strftime("%Y-%m-%d")


class LaunchError(ValueError):
    """A request the main command cannot run; the message says what to change."""


def date_window(end: str | None, days: int) -> tuple[str, str]:
    """[first, last] days of a window of `days` days ending on `end`, clipped to the partitions' start."""
    try:
        last = pd.Timestamp(end or default_end_date())
    except ValueError:
        raise LaunchError(f"--end {end!r} is not a date; use YYYY-MM-DD") from None
    start = pd.Timestamp(settings.partitions_start_date())
    if last < start:
        raise LaunchError(
            f"--end {last.date()} is before the first partition {start.date()} "
            "(QUANT_ORGANISM_START_DATE); pick a later --end or an earlier start date"
        )
    if last.normalize() > pd.Timestamp(default_end_date()):
        raise LaunchError(f"--end {last.date()} has not closed yet: the last complete UTC day is {default_end_date()}")
    first = max(last - pd.Timedelta(days=days - 1), start)
    return first.strftime("%Y-%m-%d"), last.strftime("%Y-%m-%d")


QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}  # events still reach the event log


def base_run_config(job: dg.JobDefinition | None = None, day: str | None = None) -> dict:
    """The job's own run config for `day` (a preset's, say) with Dagster's console logger silenced: the
    CLI prints its own lines and writes the event stream to a log file. `QUANT_ORGANISM_VERBOSE=1`
    keeps Dagster's console output."""
    base = dict(job.get_run_config_for_partition_key(day)) if job is not None and day is not None else {}
    if os.environ.get("QUANT_ORGANISM_VERBOSE") != "1":
        base["loggers"] = QUIET["loggers"]
    return base


def write_run_log(instance: dg.DagsterInstance, run_id: str, path: Path) -> None:
    """Append the run's whole event stream to `path` (one line per event)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        for entry in instance.all_logs(run_id):
            when = pd.Timestamp(entry.timestamp, unit="s", tz="UTC").strftime("%Y-%m-%d %H:%M:%S")
            level = logging.getLevelName(entry.level)
            step = entry.step_key or "-"
            kind = entry.dagster_event_type.value if entry.is_dagster_event else "LOG"
            text = entry.dagster_event.message if entry.is_dagster_event and entry.dagster_event.message else entry.user_message
            handle.write(f"{when} {level:<7} {run_id[:8]} {step} {kind} {text}\n")


def failure_text(result: dg.JobExecutionResult, limit: int = 500) -> str:
    """The first step failure of a run as "step: error" (what failed and why); a failed quality gate also names
    the partitions below it with their scores, as the materialisation recorded them. A `dagster.Failure` is
    given as its description: the class path says nothing to the person reading it."""
    for event in result.all_events:
        if event.is_step_failure:
            error = event.step_failure_data.error
            cause = CLASS_PATH.sub("", error.cause.message.strip()) if error and error.cause else ""
            stated = DAGSTER_FAILURE.sub("", error.message.strip()) if error else "unknown error"
            if cause and STEP_WRAPPER in stated:  # Dagster's wrapper of a raised exception says only where it was
                message = cause
            else:
                message = stated + (f" (caused by: {cause})" if cause else "")
            below = below_quality_gate(result, event.step_key)
            return f"{event.step_key}: {message[:limit]}" + (f"; {gate_text(below)}" if below else "")
    return "the run failed before any step (see the log file)"


DAGSTER_FAILURE = re.compile(r"^dagster\._core\.definitions\.events\.Failure: ")
CLASS_PATH = re.compile(r"^(?:[a-z_][\w]*\.)+(?=[A-Z]\w*: )")  # `package.module.` before `SomeError: ...`
STEP_WRAPPER = "DagsterExecutionStepExecutionError"
GATE_FAILURE = "DagsterAssetCheckFailedError"  # a blocking check failed after the step wrote its partitions


def below_quality_gate(result: dg.JobExecutionResult, step_key: str) -> list[str]:
    """The partitions below the quality gate as the step's materialisation recorded them (`failing_partitions`,
    "BTC 2025-02-11 (0.0%)"), in order, once: a range run records the same list on each partition's event."""
    failing: dict[str, None] = {}
    for event in result.all_events:
        if event.is_step_materialization and event.step_key == step_key:
            value = event.step_materialization_data.materialization.metadata.get("failing_partitions")
            failing.update(dict.fromkeys(getattr(value, "value", None) or []))
    return list(failing)


def sentiment_gap(result: dg.JobExecutionResult) -> str | None:
    """A line saying how many of a regimes run's days have no Fear & Greed value, and from which source, or None
    when every day has one: the regime gene's sentiment filter lets every such day trade, which a user reading
    the terminal should know without opening the log."""
    from quant_organism.defs.market.regime_assets import SENTIMENT  # the definitions load after the CLI's notices filter

    for event in result.all_events:
        if event.is_step_materialization and event.step_materialization_data.materialization.asset_key == SENTIMENT:
            metadata = event.step_materialization_data.materialization.metadata
            missing = getattr(metadata.get("missing_count"), "value", 0) or 0
            days = getattr(metadata.get("days"), "value", 0) or 0
            source = getattr(metadata.get("source"), "value", metadata.get("source"))
            if not missing:
                return None
            why = {
                "none": "no Fear & Greed source: put a *fear_greed* file beside the candle files or set "
                "QUANT_ORGANISM_SENTIMENT_SOURCE"
            }.get(source, f"source {source}")
            return (
                f"sentiment: {missing}/{days} days without a Fear & Greed value ({why}); the regime gene's "
                "sentiment filter does not act on those days"
            )
    return None


def gate_text(partitions: Sequence[str], shown: int = 5) -> str:
    """The partitions below the gate ("BTC 2025-02-11 (0.0%)"), the first few shown; a set made only of Saturdays
    and Sundays (more than a weekend) is named as a market closed at weekends, which the organism cannot trade."""
    more = f", ... ({len(partitions)} in all)" if len(partitions) > shown else ""
    closed = f" ({CLOSED_AT_WEEKENDS})" if weekend_days_only(p.split()[1] for p in partitions if len(p.split()) > 1) else ""
    return (
        "below the quality threshold (the share of a day's expected bars that are present and clean): "
        f"{', '.join(partitions[:shown])}{more}{closed}; the reasons per partition: {WHY_QUERY}"
    )


def ingest_verdict(summaries: Sequence[IngestSummary]) -> tuple[list[IngestSummary], str | None]:
    """(the coins whose ingest failed, a line naming the partitions left out at the quality gate or None).

    A coin whose run failed only at the blocking quality gate is not among the failures: its partitions are
    written with their verdict, everything that reads the lake leaves those below the gate out, and the coverage
    rules downstream judge what remains (docs/operations.md)."""
    failed = [s for s in summaries if not s.success and not s.gate_only]
    below = [p for s in summaries if s.gate_only for p in s.below_gate]
    return failed, (f"      {len(below)} partition(s) left out of what reads the lake, {gate_text(below)}" if below else None)


INSTANCE_YAML = """\
# Written by quant_organism. A consolidated SQLite event log: per-run shard databases cost a new
# connection and fsync per event, which made a year-long ingest minutes instead of seconds; the pooled
# subclass keeps one engine per process and a WAL with synchronous=NORMAL (defs/shared/event_log.py).
event_log_storage:
  module: quant_organism.defs.shared.event_log
  class: PooledSqliteEventLogStorage
  config:
    base_dir: {home}/history
telemetry:
  enabled: false
# Dagster retries a failed run (the automation sensor's runs carry dagster/max_retries), and notices a run
# whose worker died; the project's own conditions never re-request a failed partition.
run_retries:
  enabled: true
  max_retries: 0
run_monitoring:
  enabled: true
"""


def prepare_dagster_home() -> str:
    """Create DAGSTER_HOME under the data root with the project's instance settings; export it.

    The instance file is re-derived from where the data root is now on every start, so a data root
    that was moved or copied keeps one event log (its own) instead of writing to the old location."""
    home = settings.dagster_home().resolve()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    wanted = INSTANCE_YAML.format(home=home)
    if not config.exists() or config.read_text() != wanted:
        replace_text(config, wanted)
    os.environ["DAGSTER_HOME"] = str(home)
    # Store a step's materialisation events in batches (one transaction per 500): a range run of a year of
    # partitions writes two events per partition and asset (planned, materialised).
    os.environ.setdefault("DAGSTER_EVENT_BATCH_SIZE", "500")
    # And plan a range run's partitions with one event per asset (the run's partition subset), not one per
    # partition: Dagster's own switch. The price, as Dagster documents it: when such a run fails, its
    # partitions show as missing rather than failed; the run itself shows failed, and `run` names the coin
    # and days that failed and how to rerun them.
    os.environ.setdefault("DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS", "true")
    return str(home)


def persistent_instance() -> dg.DagsterInstance:
    """The Dagster instance under the data root (the UI command uses the same DAGSTER_HOME)."""
    prepare_dagster_home()
    return dg.DagsterInstance.get()


def _definitions() -> dg.Definitions:
    """The project's definitions, loaded again only when the environment their partitions are built from changed
    (another data root or universe, or `reaching` moved the end). A lake that grew under an open end needs none."""
    key = (str(settings.data_dir()), settings.partitions_start_date(), tuple(settings.coins()), settings.partitions_end_date())
    return _definitions_for(key)


@lru_cache(maxsize=1)
def _definitions_for(built_for: tuple) -> dg.Definitions:
    from quant_organism.definitions import load_definitions

    return load_definitions()


def reaching(last: str) -> None:
    """Make the partitions reach `last`: a command that ingests or runs days past the lake's end moves their end
    to its own last day (`QUANT_ORGANISM_END_DATE`, which its worker processes inherit). Without it the
    synthetic market's and the files' partitions end where the lake does (`defs/shared/partitions.py`). An end
    already set that covers `last` answers without reading the lake (a paper day is a call)."""
    from quant_organism.defs.shared.partitions import partitions_end

    fixed = settings.partitions_end_date()
    if fixed is not None and fixed >= last:
        return
    end = partitions_end()
    if end is not None and end < last:
        os.environ["QUANT_ORGANISM_END_DATE"] = last


PARALLEL_INGEST_MIN_COIN_DAYS = 5_000
"""Below this many coin-days, starting worker processes costs more than running the coins one after the
other saves. Measured on 2 cores: a coin-day costs about 4 ms in a run, and two spawned workers starting
side by side (imports, definitions, instance) about 7-8 s before their first coin, so two workers break
even near 3,800 coin-days (the real files' 324 days x 5 coins: 12.5 s serial, 16.6 s in two workers)."""


def ingest(
    instance: dg.DagsterInstance,
    first: str,
    last: str,
    coins: tuple[str, ...] | None = None,
    parallel: bool | None = None,
    listed: Mapping[str, str] | None = None,
) -> list[IngestSummary]:
    """Materialise candles and funding rates for every coin over [first, last], one run per coin: in this
    process, or in `settings.ingest_workers()` processes side by side (`parallel`; by default when the
    universe has at least `PARALLEL_INGEST_MIN_COIN_DAYS`). Every coin writes its own partition files; the
    event log and the catalogue are safe for concurrent writers. `listed[coin]`: the coin's first day of history
    (a point-in-time universe), where its range starts instead of `first` when later: no day before a coin listed
    is asked of the source."""
    coins = tuple(coins or settings.coins())
    reaching(last)
    firsts = [max(first, (listed or {}).get(coin) or first) for coin in coins]
    days = (pd.Timestamp(last) - pd.Timestamp(first)).days + 1
    workers = min(settings.ingest_workers(), len(coins))
    if parallel is None:
        parallel = len(coins) * days >= PARALLEL_INGEST_MIN_COIN_DAYS
    if parallel and workers > 1:
        context = multiprocessing.get_context("spawn")  # never fork a process holding Dagster's and SQLite's state
        with ProcessPoolExecutor(workers, mp_context=context, initializer=_worker_setup) as pool:
            summaries = list(pool.map(_ingest_coin_in_worker, coins, firsts, repeat(last)))
    else:
        summaries = [_ingest_coin(instance, coin, start, last) for coin, start in zip(coins, firsts)]
    for s in summaries:
        log.info("ingest %s %s..%s: %s (run %s)", s.coin, s.start, last, "ok" if s.success else "FAILED", s.run_id)
    return summaries


def _ingest_coin(instance: dg.DagsterInstance, coin: str, first: str, last: str) -> IngestSummary:
    job = _definitions().resolve_job_def(INGEST_JOB)
    tags = {RANGE_START_TAG: f"{coin}|{first}", RANGE_END_TAG: f"{coin}|{last}", **worker_tags()}
    result = code_location.execute(instance, job, tags=tags, run_config=base_run_config())
    if result.success:
        return IngestSummary(coin, first, last, True, result.run_id)
    steps = [e for e in result.all_events if e.is_step_failure]
    gate_only = bool(steps) and all(getattr(e.step_failure_data.error, "cls_name", None) == GATE_FAILURE for e in steps)
    below = tuple(p for e in steps for p in below_quality_gate(result, e.step_key))
    from quant_organism.defs.market.assets import SOURCE_UNREACHABLE  # the definitions load after the CLI's notices filter

    unreachable = any(_failure_metadata(e).get(SOURCE_UNREACHABLE) for e in steps)
    return IngestSummary(coin, first, last, False, result.run_id, failure_text(result), below, gate_only, unreachable)


def _failure_metadata(event) -> dict:
    """The metadata a `dagster.Failure` raised by the step carried, as plain values ({} for any other error)."""
    data = event.step_failure_data.user_failure_data
    return {key: getattr(value, "value", value) for key, value in (data.metadata if data else {}).items()}


def _worker_setup() -> None:
    logging.getLogger("quant_organism").setLevel(logging.WARNING)  # the parent prints the lines


@lru_cache(maxsize=1)
def _worker_instance() -> dg.DagsterInstance:
    return persistent_instance()


def _ingest_coin_in_worker(coin: str, first: str, last: str) -> IngestSummary:
    return _ingest_coin(_worker_instance(), coin, first, last)


def regimes(instance: dg.DagsterInstance, first: str, last: str) -> dg.JobExecutionResult:
    """Materialise sentiment and regimes over [first, last] in one run (the regime model refits monthly)."""
    reaching(last)
    job = _definitions().resolve_job_def(REGIME_JOB)
    tags = {RANGE_START_TAG: first, RANGE_END_TAG: last, **worker_tags()}
    result = code_location.execute(instance, job, tags=tags, run_config=base_run_config())
    log.info("regimes %s..%s: %s (run %s)", first, last, "ok" if result.success else "FAILED", result.run_id)
    return result


def evolve(
    instance: dg.DagsterInstance, day: str, preset: str = "full", ops: dict | None = None, resources: dict | None = None
) -> dg.JobExecutionResult:
    """Run the evolution chain (population -> configs -> validated -> deployed -> report) for `day`;
    `ops` and `resources` add op and resource config (as the launchpad would), e.g. a gate or a budget."""
    reaching(day)
    job = _definitions().resolve_job_def(EVOLVE_JOBS_BY_PRESET[preset])
    run_config = base_run_config(job, day)
    run_config["ops"] = {**run_config.get("ops", {}), **(ops or {})}
    if resources:
        run_config["resources"] = {**run_config.get("resources", {}), **resources}
    result = code_location.execute(instance, job, partition_key=day, tags=worker_tags(), run_config=run_config)
    log.info("evolve %s (%s preset): %s (run %s)", day, preset, "ok" if result.success else "FAILED", result.run_id)
    return result


def paper_trade(instance: dg.DagsterInstance, day: str) -> dg.JobExecutionResult:
    """Paper-trade the deployed set on `day`'s bars (the `paper_trade` job for that partition)."""
    reaching(day)
    job = _definitions().resolve_job_def(PAPER_JOB)
    result = code_location.execute(instance, job, partition_key=day, tags=worker_tags(), run_config=base_run_config(job, day))
    log.info("paper %s: %s (run %s)", day, "ok" if result.success else "FAILED", result.run_id)
    return result


def remember(instance: dg.DagsterInstance) -> dg.JobExecutionResult:
    """Refresh `reporting/research_memory` (views in the catalogue, cross-run plots) after a run."""
    job = _definitions().resolve_job_def(MEMORY_JOB)
    return code_location.execute(instance, job, tags=worker_tags(), run_config=base_run_config())


def in_flags_words(exc: ValidationError, flag: Callable[[str], str], note: Callable[[str], str] = lambda field: "") -> str:
    """Pydantic's refusal as the command line's: `--flag value: what is wrong` per error (`flag` maps a field to
    its flag, `note` adds a hint), without the help links a person at a terminal cannot use."""
    return "; ".join(
        f"{flag(str(e['loc'][0])) if e['loc'] else 'input'} {e.get('input')!r}: {e['msg'][:1].lower()}{e['msg'][1:]}"
        + note(str(e["loc"][0]) if e["loc"] else "")
        for e in exc.errors()
    )


FLAGS = {"total_strategies": "--strategies", "batch_size": "--strategies", "generations": "--generations",
         "executor": "--executor"}  # fmt: skip
"""The main command's flag for each evolution config field it sets."""


def run_overrides(
    preset: str,
    strategies: int | None = None,
    generations: int | None = None,
    hours: float | None = None,
    validation_mode: str | None = None,
    cost_limit: float | None = None,
    executor: str | None = None,
) -> tuple[dict, dict]:
    """The plan's flags as the launchpad's run config: (ops config, resources config). Checked here, before any
    work, so a bad value fails with the field named (a population not a multiple of the island size, say)."""
    from quant_organism.evolution.evolution_config import load_preset

    evolution = {"preset": preset}
    if strategies is not None:
        evolution["total_strategies"] = strategies
        batch = load_preset(preset).batch_size
        divisor = next((b for b in range(min(batch, strategies), 1, -1) if strategies % b == 0), None)
        if strategies % batch and divisor:  # keep the preset's island size when it divides, else islands of a divisor
            evolution["batch_size"] = divisor
    if generations is not None:
        evolution["generations"] = generations
    if executor is not None:
        evolution["executor"] = executor
    try:
        load_preset(preset, **{k: v for k, v in evolution.items() if k != "preset"})
    except ValidationError as exc:
        raise ValueError(in_flags_words(exc, lambda field: FLAGS.get(field, field))) from None
    ops = {"evolution__population": {"config": evolution}}
    if validation_mode is not None:
        ops["validation__validated_strategies"] = {"config": {"mode": validation_mode}}
    budget = {}
    if hours is not None:
        if not hours > 0:
            raise ValueError(f"--hours must be > 0, got {hours}")
        budget["total_s"] = float(hours) * 3600.0
    if cost_limit is not None:
        if not cost_limit >= 0:
            raise ValueError(f"--cost-limit must be >= 0 USD, got {cost_limit}")
        budget["cost_limit"] = float(cost_limit)
    return ops, ({"budget": {"config": budget}} if budget else {})
