"""A harness that runs the organism's automation as Dagster's daemon would, over simulated nights.

One Dagster instance, the project's real definitions and resources (the market through the Hyperliquid SDK
from the local replay server), and a simulated clock. Each simulated hour evaluates the schedules whose cron
fires then and ticks the sensors, with Dagster's own test contexts; every run request is launched the way the
daemon launches it: never a run key twice, each run in a fresh process state (the market source's cache
cleared), executed in process. Runs that end failed are fed to the project's `run_failure_recorder`, as the
daemon's run-status sensor would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import dagster as dg

from quant_organism.automation.job_names import INGEST_JOB, PAPER_JOB, REGIME_JOB
from quant_organism.defs.automation import schedules_sensors as automation
from quant_organism.defs.shared import resources as shared_resources
from quant_organism.defs.shared.resources import SentimentSourceResource, project_resources

UTC = timezone.utc


RUN_KEY_TAG = "dagster/run_key"
ORIGIN_TAG = "quant_organism/sim_origin"  # the schedule or sensor that requested the run


@dataclass
class Launch:
    """One run request as the simulated daemon handled it."""

    at: datetime
    origin: str
    job: str
    partition: str
    run_key: str
    status: str  # SUCCESS | FAILURE | KILLED | DUPLICATE (a run key already launched: not run again)
    error: str = ""
    wall_s: float = 0.0


@dataclass
class Month:
    """The project's automation on one instance, driven by a simulated clock."""

    instance: dg.DagsterInstance
    data_dir: Path
    market_url: str
    instance_dir: Path
    now: datetime = field(default_factory=lambda: datetime(2024, 1, 1, tzinfo=UTC))
    launches: list[Launch] = field(default_factory=list)
    recorded_failures: set[str] = field(default_factory=set)
    tick_s: float = 0.0  # wall time spent evaluating schedules and sensors

    def __post_init__(self) -> None:
        from quant_organism.definitions import load_definitions

        self.defs = load_definitions()
        self.resources = project_resources(
            self.data_dir, sentiment=SentimentSourceResource(source="synthetic"), source="hyperliquid", base_url=self.market_url
        )
        clock = lambda: self.now  # noqa: E731
        self.schedules = {
            "ingest": (automation.make_ingest_schedule(), {0, 1, 2, 3, 4, 5}, 15),
            "paper": (automation.make_paper_trading_schedule(), {0, 1, 2, 3, 4, 5}, 45),
            "nightly": (automation.make_nightly_evolution_schedule(), {2, 3, 4, 5}, 0),
        }
        self.sensors = {
            "regime": automation.make_regime_sensor(clock=clock),
            "new_data": automation.make_new_market_data_sensor(clock=clock, after_regimes=True),
        }
        self.cursors: dict[str, str | None] = {name: None for name in self.sensors}
        self.definitions = dg.Definitions(
            assets=self.defs.assets, asset_checks=self.defs.asset_checks, jobs=self.defs.jobs, resources=self.resources
        )
        self.repo = dg.Definitions(
            assets=self.defs.assets,
            asset_checks=self.defs.asset_checks,
            jobs=self.defs.jobs,
            resources=self.resources,
            schedules=[s for s, _, _ in self.schedules.values()],
            sensors=list(self.sensors.values()),
        ).get_repository_def()
        self.killer: tuple[str, str] | None = None  # (job, partition) whose next run is SIGKILLed mid-run

    # --- ticks ---------------------------------------------------------------------------------
    def schedule(self, name: str, at: datetime) -> list[dg.RunRequest]:
        self.now, started = at, time.perf_counter()
        schedule = self.schedules[name][0]
        context = dg.build_schedule_context(instance=self.instance, scheduled_execution_time=at, repository_def=self.repo)
        requests = list(schedule.evaluate_tick(context).run_requests or [])
        self.tick_s += time.perf_counter() - started
        return requests

    def sensor(self, name: str, at: datetime, cursor: str | None = None, keep_cursor: bool = True) -> list[dg.RunRequest]:
        self.now, started = at, time.perf_counter()
        with dg.build_sensor_context(
            instance=self.instance,
            cursor=cursor if cursor is not None else self.cursors[name],
            resources=self.resources,
            repository_def=self.repo,
        ) as context:
            data = self.sensors[name].evaluate_tick(context)
        if keep_cursor and data.cursor is not None:
            self.cursors[name] = data.cursor
        self.tick_s += time.perf_counter() - started
        return list(data.run_requests or [])

    def hour(self, day_start: datetime, hour: int) -> None:
        """Every tick of one hour of the night, in the order the crons fire, and each request launched."""
        for name, (schedule, hours, minute) in sorted(self.schedules.items(), key=lambda item: item[1][2]):
            if hour in hours:
                at = day_start + timedelta(hours=hour, minutes=minute)
                for request in self.schedule(name, at):
                    self.launch(f"schedule:{name}", schedule.job_name, request)
            if name == "ingest":  # the sensors run between the ingest and the paper ticks
                for sensor in ("regime", "new_data"):
                    at = day_start + timedelta(hours=hour, minutes=30)
                    for request in self.sensor(sensor, at):
                        self.launch(f"sensor:{sensor}", self.sensors[sensor].job_name, request)
        self.record_failures()

    def night(self, day_start: datetime, hours: tuple[int, ...] = (0, 1, 2, 3, 4, 5)) -> None:
        for hour in hours:
            self.hour(day_start, hour)

    # --- launching -----------------------------------------------------------------------------
    def launch(self, origin: str, job_name: str, request: dg.RunRequest) -> Launch:
        partition = str(request.partition_key)
        existing = self.instance.get_run_records(filters=dg.RunsFilter(tags={RUN_KEY_TAG: request.run_key}), limit=1)
        if existing:  # the daemon never launches a run key twice
            launch = Launch(self.now, origin, job_name, partition, request.run_key, "DUPLICATE")
            self.launches.append(launch)
            return launch
        tags = {**request.tags, RUN_KEY_TAG: request.run_key, ORIGIN_TAG: origin}
        started = time.perf_counter()
        if self.killer == (job_name, partition):
            self.killer = None
            status, error = self._killed_run(job_name, partition, tags), "SIGKILL at evolution:population"
        else:
            shared_resources._cached_source.cache_clear()  # a run is a fresh process: no breaker state carried over
            result = self.definitions.resolve_job_def(job_name).execute_in_process(
                instance=self.instance, partition_key=partition, tags=tags, raise_on_error=False
            )
            status = "SUCCESS" if result.success else "FAILURE"
            error = "" if result.success else _first_error(result)
        launch = Launch(self.now, origin, job_name, partition, request.run_key, status, error, time.perf_counter() - started)
        self.launches.append(launch)
        return launch

    def timing(self) -> str:
        """Where the wall time went: runs per job, and the ticks."""
        per_job: dict[str, list[float]] = {}
        for launch in self.launches:
            per_job.setdefault(launch.job, []).append(launch.wall_s)
        parts = [f"{job} {len(t)} runs {sum(t):.0f} s" for job, t in sorted(per_job.items())]
        return "wall time: " + "; ".join(parts) + f"; schedule and sensor ticks {self.tick_s:.0f} s"

    def _killed_run(self, job_name: str, partition: str, tags: dict[str, str]) -> str:
        """The run in a child process that SIGKILLs itself after saving the population (a real `kill -9`)."""
        env = {**os.environ, "QUANT_ORGANISM_FAULT": "evolution:population", "QUANT_ORGANISM_DATA_DIR": str(self.data_dir)}
        args = [
            sys.executable,
            "-c",
            _KILLED_RUN,
            str(self.instance_dir),
            str(self.data_dir),
            self.market_url,
            job_name,
            partition,
            json.dumps(tags),
        ]
        done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == -9, f"the run was meant to be killed: rc {done.returncode}\n{done.stderr[-3000:]}"
        return "KILLED"

    def record_failures(self) -> None:
        """Feed every run that ended FAILURE (reaped orphans included) to the project's failure recorder once."""
        failed = self.instance.get_run_records(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE]))
        for record in failed:
            run = record.dagster_run
            if run.run_id in self.recorded_failures:
                continue
            events = self.instance.all_logs(run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
            if not events:
                continue
            context = dg.build_run_status_sensor_context(
                sensor_name="run_failure_recorder",
                dagster_event=events[-1].dagster_event,
                dagster_instance=self.instance,
                dagster_run=run,
                resources={"artifacts": self.resources["artifacts"]},
            )
            automation.run_failure_recorder(context)
            self.recorded_failures.add(run.run_id)

    # --- what happened -------------------------------------------------------------------------
    def runs(self, job: str, partition: str) -> list[dg.DagsterRun]:
        records = self.instance.get_run_records(filters=dg.RunsFilter(job_name=job, tags={"dagster/partition": partition}))
        return [r.dagster_run for r in records]

    def succeeded(self, job: str, partition: str) -> bool:
        return any(r.status == dg.DagsterRunStatus.SUCCESS for r in self.runs(job, partition))

    def ingest_history(self, coins, first: str, last: str) -> None:
        ingest = self.definitions.resolve_job_def(INGEST_JOB)
        for coin in coins:
            tags = {
                "dagster/asset_partition_range_start": f"{coin}|{first}",
                "dagster/asset_partition_range_end": f"{coin}|{last}",
            }
            assert ingest.execute_in_process(instance=self.instance, tags=tags).success
        tags = {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}
        assert self.definitions.resolve_job_def(REGIME_JOB).execute_in_process(instance=self.instance, tags=tags).success

    def paper_days(self) -> list[str]:
        records = self.instance.get_run_records(filters=dg.RunsFilter(job_name=PAPER_JOB, statuses=[dg.DagsterRunStatus.SUCCESS]))
        return sorted(r.dagster_run.tags["dagster/partition"] for r in records)


def _first_error(result: dg.ExecuteInProcessResult) -> str:
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data.error is not None:
            return event.step_failure_data.error.message.strip().splitlines()[0][:300]
    failure = result.get_run_failure_event()
    return failure.message if failure is not None else "run failed"


_KILLED_RUN = """
import json, sys
import dagster as dg
from dagster._core.instance.ref import InstanceRef
from quant_organism.definitions import load_definitions
from quant_organism.defs.automation.orphans import worker_tags
from quant_organism.defs.shared.resources import SentimentSourceResource, project_resources
instance_dir, data_dir, url, job, partition, tags = sys.argv[1:7]
instance = dg.DagsterInstance.from_ref(InstanceRef.from_dir(instance_dir))
defs = load_definitions()
resources = project_resources(data_dir, sentiment=SentimentSourceResource(source="synthetic"), source="hyperliquid", base_url=url)
job_def = dg.Definitions(assets=defs.assets, asset_checks=defs.asset_checks, jobs=defs.jobs, resources=resources).resolve_job_def(job)
job_def.execute_in_process(instance=instance, partition_key=partition, tags={**json.loads(tags), **worker_tags()})
"""
