"""The sensors that remain beside the assets' automation conditions, each for what no condition expresses.

- `strategy_decay_sensor`: reads the paper record of the deployed set (the ledger, outside Dagster's event
  log) and asks for a re-evolution of a day already evolved when the set decays;
- `run_failure_recorder`: a run-status side effect, the failure log and the alert of every failed run
  (retried ones included);
- `orphaned_run_reaper`: a run whose process was killed stays STARTED in Dagster's storage, and an
  in-progress partition is never requested again; it is marked failed so Dagster's run retries take it.

All load RUNNING unless QUANT_ORGANISM_AUTOMATION=off. Jobs are referenced by name, so this module does not
import the job definitions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timezone

import dagster as dg

from quant_organism import operations as orch
from quant_organism import settings
from quant_organism.catalog.config import LIVE_STATUSES
from quant_organism.catalog.store import StoreLockedError
from quant_organism.defs.automation.conditions import RETRY_TAGS, automation_status, complete_days
from quant_organism.defs.automation.orphans import reap_orphaned_runs
from quant_organism.defs.shared.keys import POPULATION
from quant_organism.defs.shared.resources import ArtifactsResource, LakeResource, StrategyStoreResource
from quant_organism.operations.job_names import EVOLVE_JOBS_BY_PRESET

TRIGGER_TAG = "quant_organism/trigger"
DEFAULT_LOOKBACK_DAYS = 14  # days the decay sensor looks back for the latest complete day

Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _checked_coins(coins: Sequence[str] | None) -> tuple[str, ...]:
    picked = tuple(settings.coins() if coins is None else coins)
    known = set(settings.coins())
    unknown = [c for c in picked if c not in known]
    if not picked or unknown:
        raise ValueError(f"coins {list(picked)}: each must be one of the universe's {sorted(known)} (and at least one)")
    return picked


def production_evolve_job() -> str:
    """The evolution job of the production preset (QUANT_ORGANISM_PRESET, default full: the real search)."""
    return EVOLVE_JOBS_BY_PRESET[settings.production_preset()]


def make_strategy_decay_sensor(
    coins: Sequence[str] | None = None,
    trigger: orch.DecayTrigger = orch.DecayTrigger(),
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    interval: str | None = None,
    clock: Clock = _utc_now,
    minimum_interval_seconds: int = 900,
    name: str = "strategy_decay_sensor",
    job_name: str | None = None,
    default_status: dg.DefaultSensorStatus | None = None,
):
    """Requests a re-evolution (latest complete day) when the deployed set decays; at most once per cooldown.

    Unlike the population's condition it runs even for a day already evolved: the chain ends in deployment,
    which then sees the decaying strategies and can replace them.
    """
    coins = _checked_coins(coins)
    if lookback_days < 1:
        raise ValueError(f"lookback_days must be >= 1 day, got {lookback_days}")

    @dg.sensor(
        job_name=job_name or production_evolve_job(),
        name=name,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=default_status or automation_status(),
        description=f"Re-evolves when a deployed strategy decays, the set's paper Sharpe < {trigger.min_sharpe:g} "
        f"(>= {trigger.min_paper_days} days) or a drawdown > {trigger.max_drawdown:.0%}; "
        f"cooldown {trigger.cooldown}.",
    )
    def _decay(context: dg.SensorEvaluationContext, lake: LakeResource, catalog: StrategyStoreResource):
        cursor = orch.DecayCursor.from_json(context.cursor)
        now = orch.utc(clock())
        loader = catalog.store(lock_timeout_s=5.0)
        try:
            records = loader.load_strategies(status=LIVE_STATUSES)
        except StoreLockedError as exc:
            return dg.SkipReason(f"strategy store busy: {exc}")
        for problem in loader.problems:
            context.log.warning(f"strategy store: {problem.as_dict()}")

        def latest_complete_day() -> str | None:
            daily = context.repository_def.asset_graph.get(POPULATION).partitions_def
            days = daily.get_partition_keys(current_time=now)[-lookback_days:]
            complete = complete_days(context.instance, lake.lake(), days, coins, interval or settings.interval())
            return complete[-1] if complete else None

        decision = orch.decide_decay(records, cursor, now, latest_complete_day, trigger)
        if not decision.request:
            return dg.SkipReason(decision.message)
        context.log.warning(decision.message)
        day = decision.cursor.last_day
        request = dg.RunRequest(
            run_key=orch.evolve_run_key(day, orch.DECAY), partition_key=day, tags={TRIGGER_TAG: orch.DECAY, **RETRY_TAGS}
        )
        return dg.SensorResult(run_requests=[request], cursor=decision.cursor.to_json())

    return _decay


def _error_text(event: dg.DagsterEvent) -> str:
    """The user-facing error of a failed step: a Failure's description, else the innermost cause."""
    data = event.step_failure_data
    if data.user_failure_data is not None and data.user_failure_data.description:
        return f"Failure: {data.user_failure_data.description}"
    error = data.error
    if error is None:
        return "unknown error"
    while error.cause is not None:
        error = error.cause
    return error.message.strip()


def failure_record(context: dg.RunFailureSensorContext) -> dict:
    """What is kept of a failed run: id, job, partition, assets, when, and the failing steps' errors."""
    run = context.dagster_run
    record = context.instance.get_run_record_by_id(run.run_id)
    ended = record.end_time if record is not None and record.end_time else None
    moment = datetime.fromtimestamp(ended, timezone.utc) if ended else _utc_now()
    steps = [{"step": e.step_key, "error": _error_text(e)} for e in context.get_step_failure_events()]
    return {
        "run_id": run.run_id,
        "job": run.job_name,
        "partition": run.tags.get("dagster/partition"),
        "assets": sorted(key.to_user_string() for key in run.asset_selection or ()),
        "retry": int(run.tags.get("dagster/retry_number", 0)),
        "time": moment.isoformat(),
        "error": "; ".join(f"{s['step']}: {s['error']}" for s in steps) or context.failure_event.message or "run failed",
        "steps": steps,
        "message": context.failure_event.message,
    }


@dg.run_failure_sensor(
    name="run_failure_recorder",
    description="Appends each failed run (id, job, partition, time, error) to failures/failures.jsonl under the data root "
    "and raises an alert; Dagster's run retries then try the run again.",
    minimum_interval_seconds=30,
    default_status=automation_status(),
)
def run_failure_recorder(context: dg.RunFailureSensorContext, artifacts: ArtifactsResource):
    record = failure_record(context)
    path = orch.record_failure(record, artifacts.failures_path)
    artifacts.alert("run_failure", f"run {record.get('run_id')} of {record.get('job')} failed", record)
    context.log.info(f"recorded failed run {context.dagster_run.run_id} in {path}")


def make_orphaned_run_reaper(name: str = "orphaned_run_reaper", minimum_interval_seconds: int = 300):
    @dg.sensor(
        name=name,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=automation_status(),
        description="Marks failed a run whose process is gone (killed, crashed) or that went silent past the heartbeat "
        "timeout, so its partition is no longer in progress and Dagster's run retries take it.",
    )
    def _reaper(context: dg.SensorEvaluationContext):
        reaped = reap_orphaned_runs(context.instance, heartbeat_timeout=settings.run_heartbeat_timeout())
        for run_id, reason in reaped:
            context.log.warning(f"run {run_id} marked failed as orphaned: {reason}")
        return dg.SkipReason(f"{len(reaped)} orphaned run(s) marked failed" if reaped else "no orphaned run")

    return _reaper


strategy_decay_sensor = make_strategy_decay_sensor()
orphaned_run_reaper = make_orphaned_run_reaper()
