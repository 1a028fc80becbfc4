"""A simulated week of unattended nights: the project's schedules and sensors, ticked by Dagster's own
test contexts at the hours the daemon would tick them, on one instance.

Ingest and regimes really run (the jobs of the loaded definitions, on the synthetic market); evolution
and paper runs are recorded with the outcome the night calls for (`create_run_for_test`), since the
chain behind them is tested on its own (test_pipeline_chain.py). Night 3 loses one coin's ingest and
night 5 its evolution: each is tried again at the next hourly tick, and no day runs anything twice.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import dagster as dg
import pandas as pd
import pytest
from dagster._core.test_utils import create_run_for_test

from quant_organism import settings
from quant_organism.automation.job_names import EVOLVE_FULL_JOB, INGEST_JOB, PAPER_JOB, REGIME_JOB
from quant_organism.cli.launch import RANGE_END_TAG, RANGE_START_TAG
from quant_organism.defs.automation import schedules_sensors as automation
from quant_organism.defs.shared.resources import project_resources
from quant_organism_tests.support.instance import product_instance

UTC = timezone.utc
WEEK = [d.strftime("%Y-%m-%d") for d in pd.date_range("2024-03-01", periods=7, freq="D")]
HISTORY = ("2024-02-15", "2024-02-29")  # ingested before the week, as `make demo` leaves the lake
FAILED_INGEST = (WEEK[2], "BTC")
FAILED_EVOLUTION = WEEK[4]


class Night:
    """One instance, the project's jobs, and a clock the sensors read."""

    def __init__(self, instance: dg.DagsterInstance, data_dir) -> None:
        from quant_organism.definitions import load_definitions

        self.instance, self.now = instance, datetime(2024, 3, 1, tzinfo=UTC)
        self.defs = load_definitions()
        self.resources = project_resources(data_dir)
        clock = lambda: self.now  # noqa: E731
        self.schedules = {
            "ingest": automation.make_ingest_schedule(),
            "paper": automation.make_paper_trading_schedule(),
            "nightly": automation.make_nightly_evolution_schedule(job_name=EVOLVE_FULL_JOB, min_history_days=14),
        }
        self.sensors = {
            "regime": automation.make_regime_sensor(clock=clock),
            "new_data": automation.make_new_market_data_sensor(
                clock=clock, after_regimes=True, job_name=EVOLVE_FULL_JOB, min_history_days=14
            ),
        }
        self.cursors: dict[str, str | None] = {name: None for name in self.sensors}
        self.repo = dg.Definitions(
            assets=self.defs.assets,
            asset_checks=self.defs.asset_checks,
            jobs=self.defs.jobs,
            resources=self.defs.resources,
            schedules=list(self.schedules.values()),
            sensors=list(self.sensors.values()),
        ).get_repository_def()

    def schedule(self, name: str, at: datetime) -> list[dg.RunRequest]:
        self.now = at
        context = dg.build_schedule_context(instance=self.instance, scheduled_execution_time=at, repository_def=self.repo)
        return list(self.schedules[name].evaluate_tick(context).run_requests or [])

    def sensor(self, name: str, at: datetime) -> list[dg.RunRequest]:
        self.now = at
        with dg.build_sensor_context(
            instance=self.instance, cursor=self.cursors[name], resources=self.resources, repository_def=self.repo
        ) as context:
            data = self.sensors[name].evaluate_tick(context)
        self.cursors[name] = data.cursor if data.cursor is not None else self.cursors[name]
        return list(data.run_requests or [])

    def execute(self, job_name: str, request: dg.RunRequest) -> bool:
        """Run the requested job for real, as the daemon would launch it."""
        job = self.defs.resolve_job_def(job_name)
        tags = {**request.tags, "dagster/run_key": request.run_key}
        result = job.execute_in_process(
            instance=self.instance, partition_key=str(request.partition_key), tags=tags, raise_on_error=False
        )
        return result.success

    def record(self, job_name: str, request: dg.RunRequest, ok: bool) -> None:
        """A run of the evolution or paper job that ended as `ok` says."""
        status = dg.DagsterRunStatus.SUCCESS if ok else dg.DagsterRunStatus.FAILURE
        tags = {**request.tags, "dagster/partition": str(request.partition_key), "dagster/run_key": request.run_key}
        create_run_for_test(self.instance, job_name=job_name, tags=tags, status=status)

    def runs(self, job_name: str, partition: str) -> list[dg.DagsterRun]:
        records = self.instance.get_run_records(filters=dg.RunsFilter(job_name=job_name, tags={"dagster/partition": partition}))
        return [r.dagster_run for r in records]


def keys(requests: list[dg.RunRequest]) -> list[str]:
    return [r.run_key for r in requests]


@pytest.mark.timeout(600)
def test_a_simulated_week_of_nights_runs_each_day_once_and_retries_the_failed_night(data_dir):
    coins = settings.coins()
    with product_instance() as instance:
        night = Night(instance, data_dir)
        ingest = night.defs.resolve_job_def(INGEST_JOB)
        for coin in coins:  # the history before the week, one range run per coin
            tags = {RANGE_START_TAG: f"{coin}|{HISTORY[0]}", RANGE_END_TAG: f"{coin}|{HISTORY[1]}"}
            assert ingest.execute_in_process(instance=instance, tags=tags, raise_on_error=False).success
        tags = {RANGE_START_TAG: HISTORY[0], RANGE_END_TAG: HISTORY[1]}
        assert night.defs.resolve_job_def(REGIME_JOB).execute_in_process(instance=instance, tags=tags).success
        for request in night.sensor("new_data", datetime(2024, 3, 1, 0, 5, tzinfo=UTC)):  # the history's days, once
            night.record(EVOLVE_FULL_JOB, request, ok=True)

        for day in WEEK:
            midnight = datetime.fromisoformat(day).replace(tzinfo=UTC) + timedelta(days=1)
            at = lambda hour, minute, midnight=midnight: midnight + timedelta(hours=hour, minutes=minute)  # noqa: E731

            # 00:15 ingest: one run per coin for the day that closed; 01:15 retries only what failed.
            requests = night.schedule("ingest", at(0, 15))
            assert keys(requests) == [f"ingest:{day}:{coin}" for coin in coins]
            for request in requests:
                failing = (day, request.partition_key.keys_by_dimension["coin"]) == FAILED_INGEST
                if failing:
                    night.record(INGEST_JOB, request, ok=False)
                else:
                    assert night.execute(INGEST_JOB, request)
            retry = night.schedule("ingest", at(1, 15))
            if day == FAILED_INGEST[0]:
                assert keys(retry) == [f"ingest:{day}:{FAILED_INGEST[1]}:attempt-2"]
                # before the retry the day is incomplete: no regimes, no evolution for it
                assert night.sensor("regime", at(1, 20)) == []
                assert night.execute(INGEST_JOB, retry[0])
            else:
                assert retry == []

            # 00:45 paper: the day's roll-up once (before the day's evolution: its deployment reads the record)
            paper = night.schedule("paper", at(0, 45))
            assert keys(paper) == [f"paper:{day}"]
            if day != WEEK[0]:  # once the book has started, the day's evolution waits for its roll-up
                assert "paper roll-up of" in automation.paper_pending(instance, day)
            night.record(PAPER_JOB, paper[0], ok=True)
            assert automation.paper_pending(instance, day) is None
            assert night.schedule("paper", at(1, 45)) == []

            # regimes once every coin's day is in, then the new-data sensor evolves the day
            regimes = night.sensor("regime", at(1, 30))
            assert keys(regimes) == [f"regime:{day}"] and night.execute(REGIME_JOB, regimes[0])
            assert night.sensor("regime", at(1, 35)) == []
            evolutions = night.sensor("new_data", at(1, 40))
            assert keys(evolutions) == [f"evolve:{day}:new-data"]
            night.record(EVOLVE_FULL_JOB, evolutions[0], ok=day != FAILED_EVOLUTION)
            assert night.sensor("new_data", at(1, 45)) == []

            # 02:00 the nightly schedule is the fallback: it retries a failed night and skips a covered one
            nightly = night.schedule("nightly", at(2, 0))
            if day == FAILED_EVOLUTION:
                assert keys(nightly) == [f"evolve:{day}:nightly:attempt-2"]
                night.record(EVOLVE_FULL_JOB, nightly[0], ok=True)
            else:
                assert nightly == []
            assert night.schedule("nightly", at(3, 0)) == []

        # Afterwards: every day evolved, rolled up, ingested and regimed exactly once successfully.
        for day in WEEK:
            evolve_runs = night.runs(EVOLVE_FULL_JOB, day)
            assert [r.status for r in evolve_runs].count(dg.DagsterRunStatus.SUCCESS) == 1
            assert len(evolve_runs) == (2 if day == FAILED_EVOLUTION else 1)
            assert [r.status for r in night.runs(PAPER_JOB, day)] == [dg.DagsterRunStatus.SUCCESS]
            assert [r.status for r in night.runs(REGIME_JOB, day)] == [dg.DagsterRunStatus.SUCCESS]
            for coin in coins:
                statuses = [r.status for r in night.runs(INGEST_JOB, f"{coin}|{day}")]
                assert statuses.count(dg.DagsterRunStatus.SUCCESS) == 1
                assert len(statuses) == (2 if (day, coin) == FAILED_INGEST else 1)


def test_the_nightly_chain_loads_running_unless_switched_off(monkeypatch):
    from quant_organism.definitions import load_definitions

    defs = load_definitions()
    assert "operator_policy" in defs.resources and defs.resolve_job_def("paper_trade_bars") is not None
    repo = defs.get_repository_def()
    running = {s.name for s in [*repo.schedule_defs, *repo.sensor_defs]
               if s.default_status.value == "RUNNING"}  # fmt: skip
    assert {"ingest_daily_schedule", "nightly_evolution_schedule", "daily_paper_trading_schedule",
            "hourly_paper_trading_schedule", "health_check_schedule", "regime_after_ingest_sensor",
            "new_market_data_sensor", "strategy_decay_sensor", "run_failure_recorder"} <= running  # fmt: skip

    monkeypatch.setenv("QUANT_ORGANISM_AUTOMATION", "off")
    assert automation.make_nightly_evolution_schedule().default_status == dg.DefaultScheduleStatus.STOPPED
    assert automation.make_regime_sensor().default_status == dg.DefaultSensorStatus.STOPPED
    monkeypatch.setenv("QUANT_ORGANISM_AUTOMATION", "sometimes")
    with pytest.raises(ValueError, match="QUANT_ORGANISM_AUTOMATION"):
        automation.make_ingest_schedule()
