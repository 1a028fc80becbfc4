"""Schedules and sensors evaluated with Dagster's own test contexts against real materialisations.

The new-data and decay sensors read a test instance in which the real `market/candles` asset was
materialised (files source: synthetic bars written as CSV, one coin with a half-empty day so that its
quality fails), and the lake those runs wrote. Cursors are carried from tick to tick as the daemon would.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.test_utils import create_run_for_test

from quant_organism import automation as orch
from quant_organism.catalog import StrategyStore
from quant_organism.defs.automation import schedules_sensors as automation
from quant_organism.defs.jobs.jobs import ingest_job
from quant_organism.defs.market.assets import CANDLES, candles, funding_rates
from quant_organism.defs.shared.resources import ArtifactsResource, project_resources
from quant_organism.market.sources.synthetic import SyntheticSource
from quant_organism.runtime.decay import DecayRules
from quant_organism_tests.support.paper_book import deployed_config as strategy

UTC = timezone.utc
NOW = datetime(2024, 3, 6, 1, 0, tzinfo=UTC)  # the sensors' clock: 2024-03-05 is the newest complete day
COINS = ("BTC", "ETH")
BAD_DAY = "2024-03-04"  # ETH has only 12 of its 24 bars that day: quality 50% < 95%


# --- helpers -------------------------------------------------------------------------------------------
@pytest.fixture
def files_dir(tmp_path: Path) -> Path:
    """Hourly candle CSVs for BTC and ETH (2024-02-27 .. 2024-03-05), ETH missing half of BAD_DAY."""
    folder = tmp_path / "files"
    folder.mkdir()
    for coin in COINS:
        frame = SyntheticSource().candles(coin, "2024-02-27", "2024-03-06")
        if coin == "ETH":
            frame = frame[~((frame["timestamp"] >= BAD_DAY) & (frame["timestamp"] < f"{BAD_DAY} 12:00"))]
        frame = frame.assign(timestamp_ms=frame["timestamp"].astype("int64") // 10**6)
        frame[["timestamp_ms", "open", "high", "low", "close", "volume"]].to_csv(folder / f"{coin}_1h.csv", index=False)
    return folder


@pytest.fixture
def resources(data_dir: Path, files_dir: Path) -> dict:
    return project_resources(data_dir, source="files", files_dir=str(files_dir))


def ingest(instance, resources: dict, coin: str, first: str, last: str) -> bool:
    """Materialise the real candles asset for coin × [first, last] in one run; True if the run succeeded."""
    result = dg.materialize(
        [candles],
        resources=resources,
        instance=instance,
        tags={"dagster/asset_partition_range_start": f"{coin}|{first}", "dagster/asset_partition_range_end": f"{coin}|{last}"},
        raise_on_error=False,
    )
    return result.success


def project(schedules=(), sensors=()) -> dg.Definitions:
    """The project's assets, jobs and resources with the given automation (whether or not definitions.py wires it)."""
    from quant_organism.definitions import load_definitions

    defs = load_definitions()

    return dg.Definitions(
        assets=defs.assets,
        asset_checks=defs.asset_checks,
        jobs=defs.jobs,
        resources=defs.resources,
        schedules=list(schedules),
        sensors=list(sensors),
    )


def schedule_tick(schedule, when: datetime, instance: dg.DagsterInstance | None = None):
    """Evaluate one tick the way the daemon does: against the repository, which checks the partition keys
    (on an empty test instance when none is given)."""
    repo = project(schedules=[schedule]).get_repository_def()
    if instance is None:
        with dg.instance_for_test() as empty:
            return schedule.evaluate_tick(
                dg.build_schedule_context(instance=empty, scheduled_execution_time=when, repository_def=repo)
            )
    context = dg.build_schedule_context(instance=instance, scheduled_execution_time=when, repository_def=repo)
    return schedule.evaluate_tick(context)


class Ticker:
    """Sensor ticks as the daemon runs them: against the repository (which resolves partitioned requests)."""

    def __init__(self, sensor, instance, resources: dict) -> None:
        self.sensor, self.instance, self.resources = sensor, instance, resources
        self.repo = project(sensors=[sensor]).get_repository_def()

    def __call__(self, cursor: str | None):
        with dg.build_sensor_context(
            instance=self.instance, cursor=cursor, resources=self.resources, repository_def=self.repo
        ) as context:
            return self.sensor.evaluate_tick(context)


def requested(data) -> list[tuple[str, str]]:
    return [(r.run_key, r.partition_key) for r in data.run_requests]


# --- schedules -----------------------------------------------------------------------------------------
def test_ingest_schedule_requests_each_coin_for_the_day_that_just_closed():
    schedule = automation.make_ingest_schedule(coins=COINS)
    data = schedule_tick(schedule, datetime(2024, 3, 6, 0, 15, tzinfo=UTC))
    assert requested(data) == [("ingest:2024-03-05:BTC", "BTC|2024-03-05"), ("ingest:2024-03-05:ETH", "ETH|2024-03-05")]
    assert all(isinstance(r.partition_key, dg.MultiPartitionKey) for r in data.run_requests)
    # A tick evaluated in another zone's evening still means the UTC day before.
    evening = datetime(2024, 3, 5, 20, 15, tzinfo=timezone(timedelta(hours=-5)))  # 01:15 UTC on 03-06
    assert requested(schedule_tick(schedule, evening))[0][0] == "ingest:2024-03-05:BTC"
    # The day before the first partition is no partition: nothing to ingest.
    first = schedule_tick(schedule, datetime(2024, 1, 1, 0, 15, tzinfo=UTC))
    assert first.run_requests == [] and "2023-12-31 is not a partition" in first.skip_message


def test_the_ingest_schedule_does_not_ask_files_for_days_past_their_end(files_dir, monkeypatch):
    """Files of the past: no nightly ingest run that can only fail the quality gate (an incident and an alert
    every night); a coin whose newer file arrives is ingested again at the next tick."""
    monkeypatch.setenv("QUANT_ORGANISM_SOURCE", "files")
    monkeypatch.setenv("QUANT_ORGANISM_FILES_DIR", str(files_dir))
    monkeypatch.setenv("QUANT_ORGANISM_COINS", ",".join(COINS))
    schedule = automation.make_ingest_schedule(coins=COINS)
    late = schedule_tick(schedule, datetime(2024, 3, 9, 0, 15, tzinfo=UTC))  # the files end 2024-03-05
    assert late.run_requests == []
    assert "BTC: its files end 2024-03-05 (new days arrive with newer files)" in late.skip_message
    frame = SyntheticSource().candles("BTC", "2024-02-27", "2024-03-09")
    frame = frame.assign(timestamp_ms=frame["timestamp"].astype("int64") // 10**6)
    frame[["timestamp_ms", "open", "high", "low", "close", "volume"]].to_csv(files_dir / "BTC_1h.csv", index=False)
    assert requested(schedule_tick(schedule, datetime(2024, 3, 9, 0, 15, tzinfo=UTC))) == [
        ("ingest:2024-03-08:BTC", "BTC|2024-03-08")
    ]


def test_nightly_evolution_schedule_evolves_the_previous_day_unless_a_sensor_did():
    when, schedule = datetime(2024, 3, 6, 2, 0, tzinfo=UTC), automation.make_nightly_evolution_schedule(min_history_days=0)
    with dg.instance_for_test() as instance:
        data = schedule_tick(schedule, when, instance)
        assert requested(data) == [("evolve:2024-03-05:nightly", "2024-03-05")]
        assert data.run_requests[0].tags[automation.TRIGGER_TAG] == "nightly"

        def evolve_run(day: str, status: dg.DagsterRunStatus) -> dg.DagsterRun:
            tags = {"dagster/partition": day, automation.TRIGGER_TAG: "new-data"}
            return create_run_for_test(instance, job_name="evolve", tags=tags, status=status)

        evolve_run("2024-03-05", dg.DagsterRunStatus.FAILURE)  # a failed run does not cover the day: a retry
        evolve_run("2024-03-04", dg.DagsterRunStatus.SUCCESS)  # nor does another day's run
        assert requested(schedule_tick(schedule, when, instance)) == [("evolve:2024-03-05:nightly:attempt-2", "2024-03-05")]
        started = evolve_run("2024-03-05", dg.DagsterRunStatus.STARTED)
        covered = schedule_tick(schedule, when, instance)
        assert covered.run_requests == [] and f"run {started.run_id} (STARTED, trigger new-data)" in covered.skip_message


def test_a_killed_run_is_reaped_so_the_nightly_schedule_evolves_its_day_again():
    """Issue 15.6: a `kill -9` left the run STARTED, which covered its day for good."""
    import subprocess

    from quant_organism.defs.automation.orphans import worker_tags

    when, schedule = datetime(2024, 3, 6, 2, 0, tzinfo=UTC), automation.make_nightly_evolution_schedule(min_history_days=0)
    dead = subprocess.Popen(["true"])
    dead.wait()
    with dg.instance_for_test() as instance:
        tags = {
            "dagster/partition": "2024-03-05",
            automation.TRIGGER_TAG: "nightly",
            **worker_tags(),
            "quant_organism/pid": str(dead.pid),
        }
        killed = create_run_for_test(instance, job_name="evolve_full", tags=tags, status=dg.DagsterRunStatus.STARTED)
        data = schedule_tick(schedule, when, instance)
        assert requested(data) == [("evolve:2024-03-05:nightly:attempt-2", "2024-03-05")]  # a new key: not deduplicated
        assert instance.get_run_by_id(killed.run_id).status == dg.DagsterRunStatus.FAILURE
        assert instance.get_run_by_id(killed.run_id).tags["quant_organism/orphaned"] == "true"

        # a run of this very process is alive; a silent run without a process tag is reaped after the timeout
        alive = create_run_for_test(
            instance,
            job_name="evolve_full",
            tags={"dagster/partition": "2024-03-05", **worker_tags()},
            status=dg.DagsterRunStatus.STARTED,
        )
        silent = create_run_for_test(
            instance, job_name="evolve_full", tags={"dagster/partition": "2024-03-04"}, status=dg.DagsterRunStatus.STARTED
        )
        from quant_organism.defs.automation.orphans import reap_orphaned_runs

        assert reap_orphaned_runs(instance, heartbeat_timeout=3600) == []
        [(run_id, reason)] = reap_orphaned_runs(instance, heartbeat_timeout=3600, now=time.time() + 7200)
        assert run_id == silent.run_id and "heartbeat" in reason
        assert instance.get_run_by_id(alive.run_id).status == dg.DagsterRunStatus.STARTED


def test_automation_resolves_against_the_project_jobs_and_partitions():
    """Merged with the jobs, the named jobs exist and the requested partition keys belong to them."""
    nightly = automation.make_nightly_evolution_schedule(min_history_days=0)  # the lake is empty here
    schedules = [automation.ingest_daily_schedule, nightly, automation.paper_trading_schedule]
    sensors = [automation.new_market_data_sensor, automation.strategy_decay_sensor, automation.run_failure_recorder]
    repo = project(schedules, sensors).get_repository_def()
    assert {s.name for s in repo.schedule_defs} == {
        "ingest_daily_schedule",
        "nightly_evolution_schedule",
        "daily_paper_trading_schedule",
    }
    assert {s.name for s in repo.sensor_defs} == {"new_market_data_sensor", "strategy_decay_sensor", "run_failure_recorder"}
    when = datetime(2024, 3, 6, 2, 0, tzinfo=UTC)
    with dg.instance_for_test() as instance:
        for schedule in repo.schedule_defs:
            context = dg.build_schedule_context(instance=instance, scheduled_execution_time=when, repository_def=repo)
            data = schedule.evaluate_tick(context)
            job = repo.get_job(schedule.job_name)
            keys = set(job.partitions_def.get_partition_keys(current_time=when))
            assert data.run_requests and all(r.partition_key in keys for r in data.run_requests)


# --- new-data sensor -----------------------------------------------------------------------------------
def test_new_data_sensor_requests_each_complete_passing_day_once(resources):
    sensor = automation.make_new_market_data_sensor(coins=COINS, clock=lambda: NOW, min_history_days=0)
    with dg.instance_for_test() as instance:
        tick = Ticker(sensor, instance, resources)
        assert "ETH not materialised" in tick(None).skip_message

        # BTC 02-28..03-04, ETH 03-01..03-02: two days complete at once; 02-28 and 03-03 lack ETH.
        assert ingest(instance, resources, "BTC", "2024-02-28", BAD_DAY)
        assert ingest(instance, resources, "ETH", "2024-03-01", "2024-03-02")
        first = tick(None)
        assert requested(first) == [
            ("evolve:2024-03-01:new-data", "2024-03-01"),
            ("evolve:2024-03-02:new-data", "2024-03-02"),
        ]
        assert json.loads(first.cursor) == {"requested": ["2024-03-01", "2024-03-02"]}

        # Nothing new: the cursor holds both days; the skip says what is missing.
        again = tick(first.cursor)
        assert again.run_requests == [] and "2024-03-03: ETH not materialised" in again.skip_message
        assert again.cursor == first.cursor  # a skipped tick keeps the cursor as it was

        # ETH 03-03 and 03-04 arrive: 03-03 completes; 03-04 fails ETH's quality.
        assert not ingest(instance, resources, "ETH", "2024-03-03", BAD_DAY)  # the blocking quality check fails the run
        assert f"ETH|{BAD_DAY}" in instance.get_materialized_partitions(CANDLES)
        third = tick(again.cursor)
        assert requested(third) == [("evolve:2024-03-03:new-data", "2024-03-03")]
        fourth = tick(third.cursor)
        assert fourth.run_requests == [] and f"{BAD_DAY}: ETH failed quality (50.0% < 95%)" in fourth.skip_message

        # A late day older than the newest requested one (02-28) is still requested, exactly once.
        assert ingest(instance, resources, "ETH", "2024-02-28", "2024-02-28")
        late = tick(fourth.cursor)
        assert requested(late) == [("evolve:2024-02-28:new-data", "2024-02-28")]
        assert json.loads(late.cursor)["requested"] == ["2024-02-28", "2024-03-01", "2024-03-02", "2024-03-03"]
        assert tick(late.cursor).run_requests == []

        # Days outside the lookback are not inspected at all.
        short = automation.make_new_market_data_sensor(coins=COINS, lookback_days=3, clock=lambda: NOW, min_history_days=0)
        assert requested(Ticker(short, instance, resources)(None)) == [("evolve:2024-03-03:new-data", "2024-03-03")]


def test_a_day_without_the_history_before_it_is_skipped_with_the_ingest_command(resources):
    """A lake that ends months before yesterday (`make demo`, then the UI left running with the automation on):
    evolving yesterday could only fail, night after night. The sensor and the nightly schedule skip it and say
    what to ingest."""
    sensor = automation.make_new_market_data_sensor(coins=COINS, clock=lambda: NOW, min_history_days=3)
    nightly = automation.make_nightly_evolution_schedule(coins=COINS, min_history_days=3)
    when = datetime(2024, 3, 4, 2, 0, tzinfo=UTC)  # the nightly tick for 2024-03-03
    with dg.instance_for_test() as instance:
        assert ingest(instance, resources, "BTC", "2024-03-02", "2024-03-03")
        assert ingest(instance, resources, "ETH", "2024-03-02", "2024-03-03")
        skipped = Ticker(sensor, instance, resources)(None)
        assert skipped.run_requests == []
        assert (
            "2024-03-03: history too short: BTC has candles for 1 of the 3 days before 2024-03-03 (need 90%); "
            "ingest them: python -m quant_organism run --ingest-only --end 2024-03-03 --days 4"
        ) in skipped.skip_message
        assert "history too short" in schedule_tick(nightly, when, instance).skip_message

        assert ingest(instance, resources, "BTC", "2024-02-28", "2024-03-01")
        assert ingest(instance, resources, "ETH", "2024-02-28", "2024-03-01")
        ready = Ticker(sensor, instance, resources)(None)  # 02-28..03-01 lack days before them; 03-02, 03-03 have 3
        assert requested(ready) == [("evolve:2024-03-02:new-data", "2024-03-02"), ("evolve:2024-03-03:new-data", "2024-03-03")]
        assert requested(schedule_tick(nightly, when, instance)) == [("evolve:2024-03-03:nightly", "2024-03-03")]
    with pytest.raises(ValueError, match="min_history_days"):
        automation.make_nightly_evolution_schedule(min_history_days=-1)


def test_new_data_sensor_rejects_bad_arguments_and_cursors(resources):
    with pytest.raises(ValueError, match="coin partitions"):
        automation.make_new_market_data_sensor(coins=("BTC", "NOPE"))
    with pytest.raises(ValueError, match="keep_days"):
        automation.make_new_market_data_sensor(coins=COINS, lookback_days=30, keep_days=10)
    sensor = automation.make_new_market_data_sensor(coins=COINS, clock=lambda: NOW)
    with dg.instance_for_test() as instance, pytest.raises(orch.CursorError, match="reset the sensor's cursor"):
        Ticker(sensor, instance, resources)("not json")


# --- decay sensor --------------------------------------------------------------------------------------
def test_decay_sensor_requests_once_per_cooldown_and_skips_when_healthy(resources, data_dir):
    store = StrategyStore(data_dir / "strategies")
    clock = {"now": NOW}
    sensor = automation.make_strategy_decay_sensor(coins=("BTC",), clock=lambda: clock["now"])
    with dg.instance_for_test() as instance:
        tick = Ticker(sensor, instance, resources)
        assert "no deployed or decaying strategies" in tick(None).skip_message

        store.save_strategy(strategy("steady", sharpe=1.2))
        healthy = tick(None)
        assert healthy.run_requests == [] and "healthy" in healthy.skip_message

        # Allocation-weighted paper Sharpe 0.8*(-1.0) + 0.2*1.2 < 0: decay, but no market data to evolve on yet.
        store.save_strategy(strategy("steady", sharpe=1.2, allocation=0.2))
        store.save_strategy(strategy("loser", sharpe=-1.0, allocation=0.8))
        starved = tick(None)
        assert starved.run_requests == [] and "no recent day has complete" in starved.skip_message

        assert ingest(instance, resources, "BTC", "2024-03-01", "2024-03-02")
        fired = tick(None)
        assert requested(fired) == [("evolve:2024-03-02:decay", "2024-03-02")]
        assert json.loads(fired.cursor) == {"last_requested_at": NOW.isoformat(), "last_day": "2024-03-02"}

        clock["now"] = NOW + timedelta(hours=23)
        cooling = tick(fired.cursor)
        assert cooling.run_requests == [] and "cooling down until 2024-03-07T01:00:00+00:00" in cooling.skip_message

        clock["now"] = NOW + timedelta(hours=24)
        assert requested(tick(fired.cursor)) == [("evolve:2024-03-02:decay", "2024-03-02")]

        # A strategy the runtime marked decaying is reason enough, even with a good aggregate.
        store.save_strategy(strategy("loser", sharpe=2.0, allocation=0.8, status="decaying"))
        marked = tick(None)
        assert requested(marked) == [("evolve:2024-03-02:decay", "2024-03-02")]


# --- failure recorder ----------------------------------------------------------------------------------
def test_run_failure_recorder_appends_the_failed_run(resources, data_dir):
    defs = dg.Definitions(assets=[candles, funding_rates], jobs=[ingest_job], resources=resources)
    with dg.instance_for_test() as instance:
        # SOL has no file in the files source: the real ingest job fails with a dg.Failure.
        result = defs.resolve_job_def("ingest_market_data").execute_in_process(
            instance=instance, partition_key=dg.MultiPartitionKey({"date": "2024-03-01", "coin": "SOL"}), raise_on_error=False
        )
        assert not result.success
        context = dg.build_run_status_sensor_context(
            sensor_name="run_failure_recorder",
            dagster_event=result.get_run_failure_event(),
            dagster_instance=instance,
            dagster_run=result.dagster_run,
            resources={"artifacts": ArtifactsResource(root=str(data_dir))},
        )
        automation.run_failure_recorder(context)
        automation.run_failure_recorder(context)  # at-least-once delivery: read back once per run

    lines = (data_dir / "failures" / "failures.jsonl").read_text().splitlines()
    record = json.loads(lines[0])
    assert len(lines) == 2 and record["run_id"] == result.run_id and record["job"] == "ingest_market_data"
    assert record["partition"] == "SOL|2024-03-01"
    assert "could not be ingested" in record["error"] and record["error"].startswith("market__")
    assert datetime.fromisoformat(record["time"]).tzinfo is not None
    path = data_dir / orch.FAILURES_FILE
    assert orch.read_failures(path) == [record]
    later = datetime.fromisoformat(record["time"]) + timedelta(seconds=1)
    assert orch.read_failures(path, since=later) == [] and orch.read_failures(path, since=record["time"]) == [record]


# --- the plain decision logic ----------------------------------------------------------------------------
def test_new_data_cursor_is_bounded_sorted_and_validated():
    cursor = orch.NewDataCursor.from_json(None).add(["2024-03-02", "2024-03-01"])
    assert cursor.requested == ("2024-03-01", "2024-03-02") and cursor.newest == "2024-03-02"
    assert orch.NewDataCursor.from_json(cursor.to_json()) == cursor
    bounded = cursor.add([f"2024-04-{d:02d}" for d in range(1, 11)], keep=5)
    assert bounded.requested == tuple(f"2024-04-{d:02d}" for d in range(6, 11))
    assert orch.days_to_request(["2024-04-07", "2024-04-01", "2024-03-30"], bounded) == ["2024-03-30", "2024-04-01"]
    for bad in ('{"requested": ["2024-13-01"]}', '{"requested": "2024-03-01"}', "[1]"):
        with pytest.raises(orch.CursorError):
            orch.NewDataCursor.from_json(bad)


def test_decay_decision_weighs_by_allocation_and_respects_cooldown():
    healthy = [strategy("big", sharpe=0.5, allocation=0.9), strategy("small", sharpe=-2.0, allocation=0.1)]
    assert orch.decay_reasons(healthy) == []  # 0.9*0.5 + 0.1*(-2.0) = 0.25 >= 0
    unseasoned = [strategy("young", sharpe=-3.0, days=3)]
    assert orch.decay_reasons(unseasoned) == []  # too few paper days for the Sharpe rule
    deep = [strategy("young", sharpe=3.0, days=1, drawdown=0.30)]
    assert orch.decay_reasons(deep) == ["young paper drawdown 30.0% > 25.0%"]  # drawdown applies at any age

    def unreachable() -> str:
        raise AssertionError("the market data is read only when a request is due")

    assert not orch.decide_decay(healthy, orch.DecayCursor(), NOW, unreachable).request
    trigger = orch.DecayTrigger(cooldown=timedelta(hours=6))
    decision = orch.decide_decay(deep, orch.DecayCursor(), NOW, lambda: "2024-03-05", trigger)
    assert decision.request and decision.cursor == orch.DecayCursor(NOW, "2024-03-05")
    assert not orch.decide_decay(deep, decision.cursor, NOW + timedelta(hours=5), unreachable, trigger).request
    assert orch.decide_decay(deep, decision.cursor, NOW + timedelta(hours=6), lambda: "2024-03-05", trigger).request
    assert orch.DecayCursor.from_json(decision.cursor.to_json()) == decision.cursor
    with pytest.raises(ValueError, match="naive"):
        orch.decide_decay(deep, orch.DecayCursor(), datetime(2024, 3, 6), lambda: "2024-03-05")
    with pytest.raises(ValueError, match="max_drawdown"):
        orch.DecayTrigger(rules=DecayRules(max_drawdown=1.5))


def test_read_failures_skips_torn_lines_and_keeps_the_latest_per_run(tmp_path):
    path = tmp_path / "failures.jsonl"
    base = {"job": "evolve", "partition": "2024-03-01", "error": "boom"}
    orch.record_failure({**base, "run_id": "a", "time": "2024-03-01T00:00:00+00:00"}, path)
    orch.record_failure({**base, "run_id": "b", "time": "2024-03-02T00:00:00+00:00"}, path)
    with path.open("a") as handle:
        handle.write('{"run_id": "c", "time": "2024-03-0')  # a write cut short by a crash
    assert [r["run_id"] for r in orch.read_failures(path)] == ["a", "b"]
    orch.record_failure({**base, "run_id": "a", "time": "2024-03-03T00:00:00+00:00", "error": "again"}, path)
    assert [(r["run_id"], r["error"]) for r in orch.read_failures(path)] == [("b", "boom"), ("a", "again")]
    with pytest.raises(ValueError, match="lacks"):
        orch.record_failure({"run_id": "x"}, path)
    with pytest.raises(ValueError, match="UTC offset"):
        orch.record_failure({**base, "run_id": "x", "time": "2024-03-01T00:00:00"}, path)


def test_paper_trading_schedule_requests_the_previous_day():
    data = schedule_tick(automation.paper_trading_schedule, datetime(2024, 3, 5, 0, 45, tzinfo=UTC))
    (request,) = list(data.run_requests)
    assert request.run_key == "paper:2024-03-04" and request.partition_key == "2024-03-04"
