"""A harness that runs the organism's automation as Dagster's daemon would, over simulated nights.

One Dagster instance, the project's real definitions and resources (the market through the Hyperliquid SDK
from the local replay server), and a simulated clock. Each simulated tick:
- evaluates the assets' automation conditions with Dagster's own evaluator (`evaluate_automation_conditions`,
  the project's cursor carried from tick to tick), as the automation-condition sensor does;
- launches every run request as the sensor would, with its run tags, each run in a fresh process state (the
  market source's cache cleared), executed in process, oldest partition first;
- retries failed runs as Dagster's run-retry daemon does: its own `auto_reexecution_should_retry_run` decides,
  the retry re-executes from failure (the assets the failed run did not materialise) in the same run group;
- ticks the project's remaining sensors where the month needs them (the orphaned-run reaper) and feeds every
  failed run to the project's `run_failure_recorder`, as the daemon's run-status sensor would.
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
from dagster._core.definitions.automation_tick_evaluation_context import build_run_requests
from dagster._core.storage.tags import AUTO_RETRY_RUN_ID_TAG

from quant_organism.defs.automation import sensors
from quant_organism.defs.automation.conditions import automation_sensor
from quant_organism.defs.automation.health_asset import HEALTH
from quant_organism.defs.runtime.intraday import PAPER_BARS
from quant_organism.defs.shared import resources as shared_resources
from quant_organism.defs.shared.resources import SentimentSourceResource, project_resources
from quant_organism.operations.job_names import INGEST_JOB, REGIME_JOB

UTC = timezone.utc
ORIGIN_TAG = "quant_organism/sim_origin"  # who launched the run: the automation, a retry, a person
PARTITION_TAG = "dagster/partition"
ROOT_TAG = "quant_organism/sim_root_run"  # the run group (in-process runs cannot carry Dagster's root run id)
# A night's ticks (hour, minute): after the ingest cron, after the paper cron, after the evolution cron, and
# hourly until 05:00 (the reaper, late inputs). Each tick evaluates again until nothing more is requested,
# as the sensor's 60-second interval would within minutes.
NIGHT_TICKS = ((0, 16), (0, 46), (1, 16), (2, 1), (3, 1), (4, 1), (5, 1))


@dataclass
class Launch:
    """One run as the simulated daemon launched it."""

    at: datetime
    origin: str
    assets: tuple[str, ...]
    partition: str
    status: str  # SUCCESS | FAILURE | KILLED
    error: str = ""
    wall_s: float = 0.0
    run_id: str = ""


@dataclass
class Month:
    """The project's automation on one instance, driven by a simulated clock."""

    instance: dg.DagsterInstance
    data_dir: Path
    market_url: str | None  # the Hyperliquid SDK against this replay server; None: the synthetic market
    instance_dir: Path
    now: datetime = field(default_factory=lambda: datetime(2024, 1, 1, tzinfo=UTC))
    launches: list[Launch] = field(default_factory=list)
    recorded_failures: set[str] = field(default_factory=set)
    tick_s: float = 0.0  # wall time spent evaluating conditions and sensors
    cursor: object = None  # the automation sensor's cursor (Dagster's AssetDaemonCursor)

    def __post_init__(self) -> None:
        from quant_organism.definitions import load_definitions

        self.defs = load_definitions()
        self.resources = project_resources(
            self.data_dir,
            sentiment=SentimentSourceResource(source="synthetic"),
            source="hyperliquid" if self.market_url else "synthetic",
            base_url=self.market_url,
        )
        self.definitions = dg.Definitions(
            assets=self.defs.assets,
            asset_checks=self.defs.asset_checks,
            jobs=self.defs.jobs,
            resources=self.resources,
            executor=dg.in_process_executor,
        )
        self.asset_graph = self.definitions.resolve_asset_graph()
        # the hourly paper book and the health score are ticked by their own tests
        self.selection = dg.AssetSelection.all() - dg.AssetSelection.assets(PAPER_BARS, HEALTH)
        self.killer: tuple[dg.AssetKey, str] | None = None  # (asset, partition) whose next run is SIGKILLed mid-run
        self.observers: list = []  # callables given each Launch as its run ends

    # --- ticks ---------------------------------------------------------------------------------
    def evaluate(self, at: datetime, cursor: object = None, keep_cursor: bool = True) -> list[dg.RunRequest]:
        """One evaluation of the automation conditions at `at`; the requests, oldest partition first."""
        self.now, started = at, time.perf_counter()
        result = dg.evaluate_automation_conditions(
            defs=self.definitions,
            instance=self.instance,
            asset_selection=self.selection,
            evaluation_time=at,
            cursor=cursor if cursor is not None else self.cursor,
        )
        if keep_cursor:
            self.cursor = result.cursor
        # the requests as the sensor builds them from what the conditions selected (one run per partition)
        requests = build_run_requests(
            result._requested_subsets, self.asset_graph, automation_sensor.run_tags, emit_backfills=False
        )
        self.tick_s += time.perf_counter() - started
        return sorted(requests, key=lambda r: (str(r.partition_key or ""), str(r.asset_selection)))

    def tick(self, at: datetime, origin: str = "automation") -> None:
        """The daemon at `at`: the reaper, then the conditions evaluated (again, a minute on, until they ask for
        nothing more), each request launched and its failures retried."""
        self.now = at
        with dg.build_sensor_context(instance=self.instance) as context:
            sensors.orphaned_run_reaper.evaluate_tick(context)  # the project's reaper sensor
        self.retry_failed()
        for step in range(10):
            requests = self.evaluate(at + timedelta(seconds=60 * step))
            if not requests:
                break
            for request in requests:
                self.launch(origin, request)
        self.record_failures()

    def night(self, day_start: datetime, ticks=NIGHT_TICKS) -> None:
        for hour, minute in ticks:
            self.tick(day_start + timedelta(hours=hour, minutes=minute))

    # --- launching -----------------------------------------------------------------------------
    def launch(self, origin: str, request: dg.RunRequest) -> Launch:
        tags = {**automation_sensor.run_tags, **request.tags, ORIGIN_TAG: origin}
        launch = self._execute(origin, tuple(request.asset_selection), str(request.partition_key), tags)
        self.retry_failed()
        return launch

    def _execute(self, origin, keys, partition: str, tags: dict[str, str]) -> Launch:
        started = time.perf_counter()
        names = tuple(k.to_user_string() for k in keys)
        if self.killer is not None and self.killer[0] in keys and self.killer[1] == partition:
            self.killer = None
            run_id, status, error = self._killed_run(keys, partition, tags), "KILLED", "SIGKILL after the population"
        else:
            shared_resources._cached_source.cache_clear()  # a run is a fresh process: no breaker state carried over
            job = self.definitions.resolve_implicit_job_def_def_for_assets(list(keys))  # with the assets' checks
            result = job.execute_in_process(
                instance=self.instance, partition_key=partition, tags=tags, asset_selection=list(keys), raise_on_error=False
            )
            run_id, status = result.run_id, "SUCCESS" if result.success else "FAILURE"
            error = "" if result.success else _first_error(result)
        launch = Launch(self.now, origin, names, partition, status, error, time.perf_counter() - started, run_id)
        for observe in self.observers:  # what a test looks at as the run ends, before any retry
            observe(launch)
        self.launches.append(launch)
        return launch

    def retry_failed(self) -> None:
        """Dagster's run-retry daemon: every failed run it would retry, re-executed from failure."""
        while True:
            failed = self.instance.get_run_records(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE]))
            due = [
                r.dagster_run
                for r in failed
                if AUTO_RETRY_RUN_ID_TAG not in r.dagster_run.tags and self._will_retry(r.dagster_run)
            ]
            if not due:
                return
            for run in sorted(due, key=lambda r: r.tags.get(PARTITION_TAG, "")):
                self.reexecute(run, "run retry")

    def _will_retry(self, run: dg.DagsterRun) -> bool:
        """Dagster's rule (`auto_reexecution_should_retry_run`): a failed run is retried while its run group (the root
        run and its re-executions) holds at most `dagster/max_retries` runs. In-process runs cannot carry Dagster's root
        run id, so the group is counted on a tag of the harness's own that the re-executions carry."""
        limit = int(run.tags.get("dagster/max_retries", self.instance.run_retries_max_retries))
        return run.status == dg.DagsterRunStatus.FAILURE and self._group_size(run) <= limit

    def _group_size(self, run: dg.DagsterRun) -> int:
        root = run.tags.get(ROOT_TAG, run.run_id)
        return 1 + len(self.instance.get_run_records(filters=dg.RunsFilter(tags={ROOT_TAG: root})))

    def reexecute(self, run: dg.DagsterRun, origin: str) -> Launch:
        """Re-execute `run` from failure (its assets that did not materialise), in its run group."""
        done = {
            record.event_log_entry.dagster_event.asset_key
            for record in self.instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION).records
        }
        selected = sorted(run.asset_selection or _job_assets(self.definitions, run))
        keys = tuple(k for k in selected if k not in done) or tuple(selected)
        assert keys, f"run {run.run_id} of {run.job_name} targets no asset: {run.tags}"
        root, number = run.tags.get(ROOT_TAG, run.run_id), self._group_size(run)
        user_tags = {k: v for k, v in run.tags.items() if not k.startswith("dagster/") or k in ("dagster/max_retries",)}
        tags = {
            **user_tags,
            ORIGIN_TAG: origin,
            "quant_organism/sim_parent_run": run.run_id,
            ROOT_TAG: root,
            "dagster/retry_number": str(number),
        }
        self.instance.add_run_tags(run.run_id, {AUTO_RETRY_RUN_ID_TAG: "pending"})
        launch = self._execute(origin, keys, run.tags[PARTITION_TAG], tags)
        self.instance.add_run_tags(run.run_id, {AUTO_RETRY_RUN_ID_TAG: launch.run_id or "killed"})
        return launch

    def timing(self) -> str:
        """Where the wall time went: runs per asset group, and the evaluations."""
        per: dict[str, list[float]] = {}
        for launch in self.launches:
            per.setdefault("+".join(sorted({name.split("/")[0] for name in launch.assets})), []).append(launch.wall_s)
        parts = [f"{group} {len(t)} runs {sum(t):.0f} s" for group, t in sorted(per.items())]
        return "wall time: " + "; ".join(parts) + f"; condition evaluations {self.tick_s:.0f} s"

    def _killed_run(self, keys, partition: str, tags: dict[str, str]) -> str:
        """The run in a child process that SIGKILLs itself after saving the population (a real `kill -9`)."""
        env = {**os.environ, "QUANT_ORGANISM_FAULT": "evolution:population", "QUANT_ORGANISM_DATA_DIR": str(self.data_dir)}
        assets = json.dumps([k.to_user_string() for k in keys])
        args = [
            sys.executable,
            "-c",
            _KILLED_RUN,
            str(self.instance_dir),
            str(self.data_dir),
            self.market_url,
            assets,
            partition,
            json.dumps(tags),
        ]
        root = Path(__file__).resolve().parents[2]  # where quant_organism_tests imports from
        done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300, cwd=root)
        assert done.returncode == -9, f"the run was meant to be killed: rc {done.returncode}\n{done.stderr[-3000:]}"
        runs = self.instance.get_run_records(filters=dg.RunsFilter(tags={PARTITION_TAG: partition}), limit=1)
        return runs[0].dagster_run.run_id

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
            sensors.run_failure_recorder(context)
            self.recorded_failures.add(run.run_id)

    # --- what happened -------------------------------------------------------------------------
    def runs(self, key: dg.AssetKey, partition: str) -> list[dg.DagsterRun]:
        """Every run that targeted `key`'s `partition`, oldest first."""
        records = self.instance.get_run_records(filters=dg.RunsFilter(tags={PARTITION_TAG: partition}), ascending=True)
        return [
            r.dagster_run
            for r in records
            if key in (r.dagster_run.asset_selection or _job_assets(self.definitions, r.dagster_run))
        ]

    def succeeded(self, key: dg.AssetKey, partition: str) -> bool:
        return any(r.status == dg.DagsterRunStatus.SUCCESS for r in self.runs(key, partition))

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

    def successful_days(self, key: dg.AssetKey) -> list[str]:
        """The partitions of `key` each successful run materialised, in run order (a day twice shows twice)."""
        records = self.instance.get_run_records(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.SUCCESS]), ascending=True)
        return [
            r.dagster_run.tags[PARTITION_TAG]
            for r in records
            if key in (r.dagster_run.asset_selection or ()) and PARTITION_TAG in r.dagster_run.tags
        ]


def _job_assets(definitions: dg.Definitions, run: dg.DagsterRun) -> set[dg.AssetKey]:
    try:
        return set(definitions.resolve_job_def(run.job_name).asset_layer.executable_asset_keys)
    except Exception:  # noqa: BLE001 - a run of a job these definitions do not hold targets nothing here
        return set()


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
from quant_organism_tests.support.faults import arm_from_environment
arm_from_environment()
instance_dir, data_dir, url, assets, partition, tags = sys.argv[1:7]
instance = dg.DagsterInstance.from_ref(InstanceRef.from_dir(instance_dir))
defs = load_definitions()
resources = project_resources(data_dir, sentiment=SentimentSourceResource(source="synthetic"), source="hyperliquid", base_url=url)
keys = [dg.AssetKey.from_user_string(a) for a in json.loads(assets)]
definitions = dg.Definitions(assets=defs.assets, asset_checks=defs.asset_checks, jobs=defs.jobs, resources=resources, executor=dg.in_process_executor)
job = definitions.resolve_implicit_job_def_def_for_assets(keys)
job.execute_in_process(instance=instance, partition_key=partition, tags={**json.loads(tags), **worker_tags()}, asset_selection=keys)
"""
