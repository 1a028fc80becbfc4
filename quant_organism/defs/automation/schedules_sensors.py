"""Schedules and sensors: the organism ingests each closed day, evolves on new data or decay, records failures.

Thin by design: which days are complete, what to request given the cursor, whether decay is due and
the failure log live in `quant_organism.automation` (plain Python). Jobs are referenced by name
(`ingest_market_data`, `evolve`), so this module does not import the job definitions; Dagster
resolves the names when `definitions.py` merges these with the jobs.

The nightly chain starts RUNNING as soon as a daemon loads the definitions (`make ui` runs one):
ingest (00:15) -> regimes (sensor, once every coin's day is in) -> evolution (new-data sensor, else
the 02:00 schedule) -> paper trading (00:45, and every closed bar by the hourly schedule), with the
health score hourly and the decay and failure sensors. `QUANT_ORGANISM_AUTOMATION=off` loads them all
STOPPED. Each daily schedule ticks every hour until 05:00, so a failed night is tried again (a new run
key per attempt, at most `attempts.MAX_ATTEMPTS`) and a covered day is never run twice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone

import dagster as dg

from quant_organism import automation as orch
from quant_organism import settings
from quant_organism.automation.attempts import COVERING, Attempt, next_attempt
from quant_organism.automation.job_names import EVOLVE_JOBS_BY_PRESET, INGEST_JOB, PAPER_JOB, REGIME_JOB
from quant_organism.catalog.config import LIVE_STATUSES
from quant_organism.catalog.store import StoreLockedError
from quant_organism.defs.automation.orphans import reap_orphaned_runs
from quant_organism.defs.market.assets import CANDLES
from quant_organism.defs.market.regime import REGIME
from quant_organism.defs.shared.partitions import coin_partitions, daily_partitions, partition_coin_day
from quant_organism.defs.shared.resources import ArtifactsResource, LakeResource, StrategyStoreResource, files_last_days

TRIGGER_TAG = "quant_organism/trigger"
DEFAULT_LOOKBACK_DAYS = 14  # days a sensor tick inspects: a completed day older than this is left to backfills
DEFAULT_KEEP_DAYS = 90  # requested days the new-data cursor remembers

Clock = Callable[[], datetime]


def schedule_status() -> dg.DefaultScheduleStatus:
    """RUNNING unless QUANT_ORGANISM_AUTOMATION=off (settings.automation_on)."""
    return dg.DefaultScheduleStatus.RUNNING if settings.automation_on() else dg.DefaultScheduleStatus.STOPPED


def sensor_status() -> dg.DefaultSensorStatus:
    return dg.DefaultSensorStatus.RUNNING if settings.automation_on() else dg.DefaultSensorStatus.STOPPED


def attempt_for(instance: dg.DagsterInstance, jobs: Sequence[str], partition: str, base_key: str) -> Attempt:
    """The next attempt at `partition` of any of `jobs` (attempts.next_attempt over their earlier runs)."""
    statuses = [
        record.dagster_run.status.value
        for job in jobs
        for record in instance.get_run_records(filters=dg.RunsFilter(job_name=job, tags={"dagster/partition": partition}))
    ]
    return next_attempt(base_key, statuses)


def _paper_started(instance: dg.DagsterInstance) -> str | None:
    """The first day the paper roll-up ran for (None while the book has not started)."""
    records = instance.get_run_records(filters=dg.RunsFilter(job_name=PAPER_JOB), limit=1, ascending=True)
    return records[0].dagster_run.tags.get("dagster/partition") if records else None


def paper_pending(instance: dg.DagsterInstance, day: str) -> str | None:
    """Why the evolution of `day` waits for the day's paper roll-up; None when it need not.

    The deployment decision of `day` reads the paper record up to `day` (decay, the probation looks), and a
    deployment made first would leave that day's roll-up idle (the day is then traded by nothing). So once the
    book has started, evolution waits until the day's roll-up succeeded or gave up."""
    started = _paper_started(instance)
    if started is None or day < started:
        return None
    attempt = attempt_for(instance, [PAPER_JOB], day, f"paper:{day}")
    if not attempt.wanted:
        return None  # done, running, or given up (a person looks at it): evolution goes on
    return f"the paper roll-up of {day} has not run yet (the deployment reads its record)"


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _checked_coins(coins: Sequence[str] | None) -> tuple[str, ...]:
    picked = tuple(settings.coins() if coins is None else coins)
    known = set(coin_partitions.get_partition_keys())
    unknown = [c for c in picked if c not in known]
    if not picked or unknown:
        raise ValueError(f"coins {list(picked)}: each must be one of the coin partitions {sorted(known)} (and at least one)")
    return picked


def _checked_days(name: str, value: int) -> int:
    if value < 1:
        raise ValueError(f"{name} must be >= 1 day, got {value}")
    return value


def _partition_exists(day: str, moment: datetime) -> bool:
    first = daily_partitions.get_first_partition_key()
    return first is not None and first <= day <= orch.previous_day(moment)


def _recent_days(now: datetime, lookback_days: int) -> list[str]:
    """The last `lookback_days` complete days that are partitions of the daily partitions definition."""
    return list(daily_partitions.get_partition_keys(current_time=now)[-lookback_days:])


def _candle_coin_days(instance: dg.DagsterInstance) -> set[tuple[str, str]]:
    """Every (coin, day) whose candles are materialised: one query, read once per tick."""
    return {partition_coin_day(key) for key in instance.get_materialized_partitions(CANDLES)}


def _complete_days(
    lake: LakeResource, materialised: set[tuple[str, str]], days: Sequence[str], coins: Sequence[str], interval: str
):
    """Complete days among `days` per the instance (materialised candles) and the lake (stored quality)."""
    store = lake.lake()
    return orch.complete_days(days, coins, materialised, lambda coin, day: store.quality("candles", coin, day, interval))


def _min_history_days(given: int | None) -> int:
    """The history a day needs before it is evolved: the production preset's shortest lookback by default
    (its lookback, or the shortest it shrinks to; 0: no check)."""
    from quant_organism.evolution.config import load_preset

    if given is not None and given < 0:
        raise ValueError(f"min_history_days must be >= 0 (0: no check), got {given}")
    if given is not None:
        return given
    return load_preset(settings.production_preset()).shortest_lookback_days


def _short_history(materialised: set[tuple[str, str]], day: str, coins: Sequence[str], min_days: int) -> str | None:
    return None if min_days == 0 else orch.short_history(day, coins, materialised, min_days)


def _last_hour(cron: str) -> int:
    """The last hour of the day a cron fires in (23 when its hour field is not a plain list or range)."""
    try:
        return max(int(h) for h in cron.split()[1].replace("-", ",").split(","))
    except (IndexError, ValueError):
        return 23


def _evolve_request(day: str, trigger: str, attempt: int = 1) -> dg.RunRequest:
    key = orch.evolve_run_key(day, trigger) + (f":attempt-{attempt}" if attempt > 1 else "")
    return dg.RunRequest(run_key=key, partition_key=day, tags={TRIGGER_TAG: trigger})


def _scheduled_time(context: dg.ScheduleEvaluationContext) -> datetime:
    moment = context.scheduled_execution_time
    return _utc_now() if moment is None else orch.utc(moment)


# --- schedules -------------------------------------------------------------------------------------
CATCH_UP_DAYS = 3  # nights a schedule looks back: a machine asleep or a clock jump loses no day


def _catch_up_days(moment: datetime, days: int = CATCH_UP_DAYS) -> list[str]:
    """The last `days` closed days that are partitions, oldest first."""
    last = orch.previous_day(moment)
    wanted = [(datetime.fromisoformat(last) - timedelta(days=n)).strftime("%Y-%m-%d") for n in range(days - 1, -1, -1)]
    return [day for day in wanted if _partition_exists(day, moment)]


def make_ingest_schedule(
    coins: Sequence[str] | None = None,
    cron: str = "15 0-5 * * *",
    name: str = "ingest_daily_schedule",
    default_status: dg.DefaultScheduleStatus | None = None,
    catch_up_days: int = CATCH_UP_DAYS,
):
    """After each UTC day closes: one ingest run per coin for that day's partition (a failed coin again at the
    next hourly tick; a coin already ingested or ingesting is left alone). The `catch_up_days` nights before are
    looked at too, so a night the daemon missed (machine asleep, a clock jump) is ingested at the next one."""
    coins = _checked_coins(coins)
    catch_up_days = _checked_days("catch_up_days", catch_up_days)

    @dg.schedule(
        cron_schedule=cron,
        job_name=INGEST_JOB,
        execution_timezone="UTC",
        name=name,
        default_status=default_status or schedule_status(),
        description=f"Ingests the previous UTC day's candles and funding for {', '.join(coins)} (one run per coin; "
        "hourly until 05:00, retrying a failed coin).",
    )
    def _ingest(context: dg.ScheduleEvaluationContext):
        moment = _scheduled_time(context)
        days = _catch_up_days(moment, catch_up_days)
        if not days:
            return dg.SkipReason(
                f"{orch.previous_day(moment)} is not a partition (partitions start {daily_partitions.get_first_partition_key()})"
            )
        materialised = _candle_coin_days(context.instance)
        first = {coin: min((d for c, d in materialised if c == coin), default=None) for coin in coins}
        files_end = files_last_days() or {}
        requests, skipped = [], []
        for day in days:
            for coin in coins:
                if day != days[-1] and ((coin, day) in materialised or first[coin] is None or first[coin] > day):
                    continue  # done already, or before this coin's lake began: not a night that was missed
                end = files_end.get(coin)
                if end is not None and day > end.isoformat():  # files of the past: nothing to ingest, no failure
                    if day == days[-1]:
                        skipped.append(f"{coin}: its files end {end} (new days arrive with newer files)")
                    continue
                key = dg.MultiPartitionKey({"date": day, "coin": coin})
                attempt = attempt_for(context.instance, [INGEST_JOB], str(key), orch.ingest_run_key(day, coin))
                if not attempt.wanted:
                    if day == days[-1]:
                        skipped.append(f"{coin}: {attempt.reason}")
                    continue
                requests.append(dg.RunRequest(run_key=attempt.run_key, partition_key=key, tags={TRIGGER_TAG: "schedule"}))
        return requests or dg.SkipReason(f"{days[-1]}: " + "; ".join(skipped))

    return _ingest


# An evolve run in one of these states already covers its day; failed or cancelled ones do not.
COVERING_STATUSES = [dg.DagsterRunStatus(status) for status in sorted(COVERING)]  # one definition: attempts.py


def production_evolve_job() -> str:
    """The evolution job of the production preset (QUANT_ORGANISM_PRESET, default full: the real search)."""
    return EVOLVE_JOBS_BY_PRESET[settings.production_preset()]


def _covering_evolve_run(instance: dg.DagsterInstance, day: str) -> dg.DagsterRun | None:
    """A queued, running or successful evolution of `day`, whichever preset ran it."""
    for job in EVOLVE_JOBS_BY_PRESET.values():
        records = instance.get_run_records(
            filters=dg.RunsFilter(job_name=job, tags={"dagster/partition": day}, statuses=COVERING_STATUSES), limit=1
        )
        if records:
            return records[0].dagster_run
    return None


def make_nightly_evolution_schedule(
    cron: str = "0 2-5 * * *",
    name: str = "nightly_evolution_schedule",
    job_name: str | None = None,
    default_status: dg.DefaultScheduleStatus | None = None,
    coins: Sequence[str] | None = None,
    min_history_days: int | None = None,
):
    """Every night: the evolution chain for the previous day (data up to that day's close).

    It is the fallback: when the new-data (or decay) sensor already evolved that day, or such a run is
    queued or running, the tick skips instead of evolving the same day twice. A failed (or killed) night
    is tried again at the next hourly tick, up to `attempts.MAX_ATTEMPTS` times. A day whose lake lacks the
    shortest lookback before it is skipped with the command that ingests it, instead of failing every night.
    """
    coins = _checked_coins(coins)
    history_days = _min_history_days(min_history_days)
    last_hour = _last_hour(cron)

    @dg.schedule(
        cron_schedule=cron,
        job_name=job_name or production_evolve_job(),
        execution_timezone="UTC",
        name=name,
        default_status=default_status or schedule_status(),
        description="Evolves, converts and validates strategies on data up to the previous UTC day "
        "(hourly 02:00-05:00: a failed night is retried, a covered one skipped).",
    )
    def _nightly(context: dg.ScheduleEvaluationContext):
        moment = _scheduled_time(context)
        day = orch.previous_day(moment)
        if not _partition_exists(day, moment):
            return dg.SkipReason(f"{day} is not a partition (partitions start {daily_partitions.get_first_partition_key()})")
        for run_id, reason in reap_orphaned_runs(context.instance, heartbeat_timeout=settings.run_heartbeat_timeout()):
            context.log.warning(f"run {run_id} marked failed as orphaned: {reason}")
        covering = _covering_evolve_run(context.instance, day)
        if covering is not None:
            return dg.SkipReason(
                f"{day} is already evolved or evolving: run {covering.run_id} ({covering.status.value}, "
                f"trigger {covering.tags.get(TRIGGER_TAG, 'manual')})"
            )
        attempt = attempt_for(context.instance, list(EVOLVE_JOBS_BY_PRESET.values()), day, orch.evolve_run_key(day, orch.NIGHTLY))
        if not attempt.wanted:
            return dg.SkipReason(f"{day}: {attempt.reason}")
        short = _short_history(_candle_coin_days(context.instance), day, coins, history_days)
        if short:
            return dg.SkipReason(f"{day}: {short}")
        waiting = paper_pending(context.instance, day)
        if waiting and moment.hour < last_hour:
            return dg.SkipReason(f"{day}: {waiting}; evolving at the latest at {last_hour:02d}:00")
        return dg.RunRequest(run_key=attempt.run_key, partition_key=day, tags={TRIGGER_TAG: orch.NIGHTLY})

    return _nightly


# --- sensors ---------------------------------------------------------------------------------------
def make_new_market_data_sensor(
    coins: Sequence[str] | None = None,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    keep_days: int = DEFAULT_KEEP_DAYS,
    interval: str | None = None,
    clock: Clock = _utc_now,
    minimum_interval_seconds: int = 120,
    name: str = "new_market_data_sensor",
    job_name: str | None = None,
    after_regimes: bool = False,
    default_status: dg.DefaultSensorStatus | None = None,
    min_history_days: int | None = None,
    after_paper: bool = True,
):
    """Requests the production evolution job (`evolve_full` by default) for each day on which every coin's candles
    are in and passed quality (and, with `after_regimes`, the day's `market/regime` is materialised), once per day;
    with `after_paper` (default) once the book has started, only after the day's paper roll-up (`paper_pending`)."""
    coins = _checked_coins(coins)
    lookback_days = _checked_days("lookback_days", lookback_days)
    if keep_days < lookback_days:
        raise ValueError(f"keep_days ({keep_days}) must be >= lookback_days ({lookback_days}), or days would repeat")
    history_days = _min_history_days(min_history_days)

    @dg.sensor(
        job_name=job_name or production_evolve_job(),
        name=name,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=default_status or sensor_status(),
        description=f"Evolves on each day (last {lookback_days}) whose candles for {', '.join(coins)} are all "
        f"materialised with passing quality{' and whose regimes are in' if after_regimes else ''}; each day once.",
    )
    def _new_data(context: dg.SensorEvaluationContext, lake: LakeResource):
        cursor = orch.NewDataCursor.from_json(context.cursor)
        days = _recent_days(orch.utc(clock()), lookback_days)
        pending = [d for d in days if d not in cursor.requested]
        if not pending:
            return dg.SkipReason(f"every complete day of the last {lookback_days} has been requested already")
        materialised = _candle_coin_days(context.instance)
        complete, incomplete = _complete_days(lake, materialised, pending, coins, interval or settings.interval())
        if after_regimes:
            regimes = set(context.instance.get_materialized_partitions(REGIME))
            incomplete.update({day: ["market/regime not materialised yet"] for day in complete if day not in regimes})
            complete = [day for day in complete if day in regimes]
        short = {day: why for day in complete if (why := _short_history(materialised, day, coins, history_days))}
        if after_paper:
            short.update({day: why for day in complete if day not in short and (why := paper_pending(context.instance, day))})
        incomplete.update({day: [why] for day, why in short.items()})
        complete = [day for day in complete if day not in short]
        candidates = orch.days_to_request(complete, cursor)
        covered = [day for day in candidates if _covering_evolve_run(context.instance, day)]
        new = [day for day in candidates if day not in covered]
        if covered:  # evolved already (the nightly schedule went first): remembered, never evolved twice
            cursor = cursor.add(covered, keep_days)
        if not new:
            skip = f"no new complete day; {orch.describe_incomplete(incomplete)}"
            if covered:
                return dg.SensorResult(skip_reason=skip + f"; {covered} evolved already", cursor=cursor.to_json())
            return dg.SkipReason(skip)
        context.log.info(f"requesting evolution for {new}")
        return dg.SensorResult(
            run_requests=[_evolve_request(day, orch.NEW_DATA) for day in new],
            cursor=cursor.add(new, keep_days).to_json(),
        )

    return _new_data


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

    Unlike the nightly schedule it runs even for a day already evolved: the chain ends in deployment,
    which then sees the decaying strategies and can replace them.
    """
    coins = _checked_coins(coins)
    lookback_days = _checked_days("lookback_days", lookback_days)

    @dg.sensor(
        job_name=job_name or production_evolve_job(),
        name=name,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=default_status or sensor_status(),
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
            days = _recent_days(now, lookback_days)
            complete, _ = _complete_days(lake, _candle_coin_days(context.instance), days, coins, interval or settings.interval())
            return complete[-1] if complete else None

        decision = orch.decide_decay(records, cursor, now, latest_complete_day, trigger)
        if not decision.request:
            return dg.SkipReason(decision.message)
        context.log.warning(decision.message)
        day = decision.cursor.last_day
        return dg.SensorResult(
            run_requests=[_evolve_request(day, orch.DECAY)],
            cursor=decision.cursor.to_json(),
        )

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
    """What is kept of a failed run: id, job, partition, when, and the failing steps' errors."""
    run = context.dagster_run
    record = context.instance.get_run_record_by_id(run.run_id)
    ended = record.end_time if record is not None and record.end_time else None
    moment = datetime.fromtimestamp(ended, timezone.utc) if ended else _utc_now()
    steps = [{"step": e.step_key, "error": _error_text(e)} for e in context.get_step_failure_events()]
    return {
        "run_id": run.run_id,
        "job": run.job_name,
        "partition": run.tags.get("dagster/partition"),
        "time": moment.isoformat(),
        "error": "; ".join(f"{s['step']}: {s['error']}" for s in steps) or context.failure_event.message or "run failed",
        "steps": steps,
        "message": context.failure_event.message,
    }


@dg.run_failure_sensor(
    name="run_failure_recorder",
    description="Appends each failed run (id, job, partition, time, error) to failures/failures.jsonl under the data root.",
    minimum_interval_seconds=30,
    default_status=sensor_status(),
)
def run_failure_recorder(context: dg.RunFailureSensorContext, artifacts: ArtifactsResource):
    record = failure_record(context)
    path = orch.record_failure(record, artifacts.failures_path)
    artifacts.alert("run_failure", f"run {record.get('run_id')} of {record.get('job')} failed", record)
    context.log.info(f"recorded failed run {context.dagster_run.run_id} in {path}")


def make_paper_trading_schedule(
    cron: str = "45 0-5 * * *",
    name: str = "daily_paper_trading_schedule",
    default_status: dg.DefaultScheduleStatus | None = None,
    catch_up_days: int = CATCH_UP_DAYS,
):
    """After the day's ingest: the day's paper roll-up of the deployed set on the previous UTC day's bars
    (the hourly schedule traded them as they closed; this one fills any gap and reports the day). A day a
    missed night left out (of the `catch_up_days` before) comes first: one day per tick, in order, since
    each day's book starts where the day before ended."""
    catch_up_days = _checked_days("catch_up_days", catch_up_days)

    @dg.schedule(
        cron_schedule=cron,
        job_name=PAPER_JOB,
        execution_timezone="UTC",
        name=name,
        default_status=default_status or schedule_status(),
        description="The previous UTC day's paper roll-up of the deployed strategies (hourly until 05:00, "
        "retrying a failed day).",
    )
    def _paper(context: dg.ScheduleEvaluationContext):
        moment = _scheduled_time(context)
        days = _catch_up_days(moment, catch_up_days)
        if not days:
            return dg.SkipReason(f"{orch.previous_day(moment)} is not a partition")
        started = _paper_started(context.instance)
        days = [d for d in days[:-1] if started is not None and started < d] + days[-1:]  # a missed night, not a new book
        reasons = []
        for day in days:
            attempt = attempt_for(context.instance, [PAPER_JOB], day, f"paper:{day}")
            if attempt.wanted:
                return dg.RunRequest(run_key=attempt.run_key, partition_key=day)
            reasons.append(f"{day}: {attempt.reason}")
        return dg.SkipReason("; ".join(reasons[-1:]))

    return _paper


def make_regime_sensor(
    coins: Sequence[str] | None = None,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    interval: str | None = None,
    clock: Clock = _utc_now,
    minimum_interval_seconds: int = 120,
    name: str = "regime_after_ingest_sensor",
    default_status: dg.DefaultSensorStatus | None = None,
):
    """Requests sentiment and regimes (`market_regime` job) for each recent day whose candles are all in and
    passed quality but whose `market/regime` is not materialised: the chain's step between ingest and evolution."""
    coins = _checked_coins(coins)
    lookback_days = _checked_days("lookback_days", lookback_days)

    @dg.sensor(
        job_name=REGIME_JOB,
        name=name,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=default_status or sensor_status(),
        description=f"Sentiment and regimes for each day (last {lookback_days}) once every coin's candles are in; "
        "a failed day is retried, a materialised one left alone.",
    )
    def _regimes(context: dg.SensorEvaluationContext, lake: LakeResource):
        done = set(context.instance.get_materialized_partitions(REGIME))
        pending = [d for d in _recent_days(orch.utc(clock()), lookback_days) if d not in done]
        if not pending:
            return dg.SkipReason(f"regimes of the last {lookback_days} days are all materialised")
        complete, incomplete = _complete_days(
            lake, _candle_coin_days(context.instance), pending, coins, interval or settings.interval()
        )
        requests, waiting = [], []
        for day in complete:
            attempt = attempt_for(context.instance, [REGIME_JOB], day, f"regime:{day}")
            if attempt.wanted:
                requests.append(dg.RunRequest(run_key=attempt.run_key, partition_key=day, tags={TRIGGER_TAG: "new-data"}))
            else:
                waiting.append(f"{day}: {attempt.reason}")
        if requests:
            return requests
        return dg.SkipReason("; ".join(waiting) or f"no day with all candles in; {orch.describe_incomplete(incomplete)}")

    return _regimes


ingest_daily_schedule = make_ingest_schedule()
paper_trading_schedule = make_paper_trading_schedule()
nightly_evolution_schedule = make_nightly_evolution_schedule()
regime_after_ingest_sensor = make_regime_sensor()
new_market_data_sensor = make_new_market_data_sensor(after_regimes=True)
strategy_decay_sensor = make_strategy_decay_sensor()
