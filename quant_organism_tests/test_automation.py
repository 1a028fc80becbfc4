"""The automation: the assets' conditions evaluated by Dagster's own evaluator, and the sensors that remain,
against real materialisations.

The conditions and the decay sensor read a test instance in which the real `market/candles` asset was
materialised (files source: synthetic bars written as CSV, one coin with a half-empty day so that its quality
fails), and the lake those runs wrote. Cursors are carried from evaluation to evaluation as the daemon would.
"""

from __future__ import annotations

import json
import subprocess
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from dagster._core.test_utils import create_run_for_test

from quant_organism import operations as orch
from quant_organism.catalog import StrategyStore
from quant_organism.defs.automation import conditions, sensors
from quant_organism.defs.automation.orphans import reap_orphaned_runs, worker_tags
from quant_organism.defs.jobs.pipeline_jobs import ingest_job
from quant_organism.defs.market.assets import CANDLES, FUNDING
from quant_organism.defs.market.regime_assets import REGIME
from quant_organism.defs.runtime.assets import PAPER
from quant_organism.defs.shared.resources import ArtifactsResource, project_resources
from quant_organism.market.sources.synthetic import SyntheticSource
from quant_organism.runtime.decay import DecayRules
from quant_organism_tests.support.chain import loaded_asset
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
        [loaded_asset(CANDLES)],
        resources=resources,
        instance=instance,
        tags={"dagster/asset_partition_range_start": f"{coin}|{first}", "dagster/asset_partition_range_end": f"{coin}|{last}"},
        raise_on_error=False,
    )
    return result.success


def project(sensors_=()) -> dg.Definitions:
    """The project's assets, jobs and resources with the given sensors."""
    from quant_organism.definitions import load_definitions

    defs = load_definitions()
    return dg.Definitions(
        assets=defs.assets, asset_checks=defs.asset_checks, jobs=defs.jobs, resources=defs.resources, sensors=list(sensors_)
    )


class Ticker:
    """Sensor ticks as the daemon runs them: against the repository (which resolves partitioned requests)."""

    def __init__(self, sensor, instance, resources: dict) -> None:
        self.sensor, self.instance, self.resources = sensor, instance, resources
        self.repo = project([sensor]).get_repository_def()

    def __call__(self, cursor: str | None):
        with dg.build_sensor_context(
            instance=self.instance, cursor=cursor, resources=self.resources, repository_def=self.repo
        ) as context:
            return self.sensor.evaluate_tick(context)


def requested(data) -> list[tuple[str, str]]:
    return [(r.run_key, r.partition_key) for r in data.run_requests]


class Evaluator:
    """The automation-condition sensor's evaluations over a selection, its cursor carried between them."""

    def __init__(self, instance, selection) -> None:
        self.instance, self.selection, self.cursor = instance, selection, None
        self.defs = project()

    def __call__(self, at: datetime) -> dict[str, set[str]]:
        result = dg.evaluate_automation_conditions(
            defs=self.defs, instance=self.instance, asset_selection=self.selection, evaluation_time=at, cursor=self.cursor
        )
        self.cursor = result.cursor
        keys = self.selection.resolve(self.defs.resolve_asset_graph())
        return {
            key.to_user_string(): set(result.get_requested_partitions(key))
            for key in keys
            if result.get_requested_partitions(key)
        }


# --- the conditions --------------------------------------------------------------------------------------
def test_the_ingest_condition_asks_for_each_closed_day_after_its_cron_and_leaves_a_failure_to_the_retries(resources, monkeypatch):
    monkeypatch.setenv("QUANT_ORGANISM_COINS", ",".join(COINS))
    with dg.instance_for_test() as instance:
        evaluate = Evaluator(instance, dg.AssetSelection.assets(CANDLES))
        assert evaluate(datetime(2024, 3, 6, 0, 10, tzinfo=UTC)) == {}  # before 00:15: nothing yet
        first = evaluate(datetime(2024, 3, 6, 0, 20, tzinfo=UTC))  # the closed day, and the nights before it caught up
        assert first == {"market/candles": {f"{c}|{d}" for c in COINS for d in ("2024-03-03", "2024-03-04", "2024-03-05")}}
        assert evaluate(datetime(2024, 3, 6, 0, 25, tzinfo=UTC)) == {}  # requested once per cron tick

        assert ingest(instance, resources, "BTC", "2024-03-03", "2024-03-05")
        # ETH 03-05 fails for good (a run that failed): the next night asks for the new day and what never ran, not it
        failed = dg.materialize(
            [loaded_asset(CANDLES)], resources={**resources, "market_source": _no_files(resources)}, instance=instance,
            partition_key=dg.MultiPartitionKey({"date": "2024-03-05", "coin": "ETH"}), raise_on_error=False,
        )  # fmt: skip
        assert not failed.success
        night = evaluate(datetime(2024, 3, 7, 0, 20, tzinfo=UTC))
        assert night == {"market/candles": {"BTC|2024-03-06", "ETH|2024-03-06", "ETH|2024-03-04"}}


def _no_files(resources: dict):
    """The files source on an empty folder: every ingest from it fails."""
    from quant_organism.defs.shared.resources import MarketSource

    empty = Path(resources["market_source"].files_dir).parent / "empty"
    empty.mkdir(exist_ok=True)
    return MarketSource(source="files", files_dir=str(empty))


def test_the_project_conditions_hold_for_complete_days_with_history_and_paper_in_order(resources, monkeypatch):
    monkeypatch.setenv("QUANT_ORGANISM_COINS", ",".join(COINS))
    monkeypatch.setenv("QUANT_ORGANISM_PRESET", "test")  # the history the production preset needs: 60 days
    now = pd.Timestamp("2024-03-06 02:00", tz="UTC")
    days = ["2024-03-01", "2024-03-02", "2024-03-03", BAD_DAY, "2024-03-05"]
    with dg.instance_for_test() as instance:
        assert ingest(instance, resources, "BTC", "2024-02-27", "2024-03-05")
        assert not ingest(instance, resources, "ETH", "2024-02-27", "2024-03-05")  # ETH's BAD_DAY fails its quality check
        for day in days:
            if day != "2024-03-03":
                instance.report_runless_asset_event(dg.AssetMaterialization(REGIME, partition=day))
        # the day's candles in with passing quality, and its regimes
        assert conditions.DayInputsIn().holds(instance, days, now) == {"2024-03-01", "2024-03-02", "2024-03-05"}
        # 60 days of history before a day: the lake starts 02-27
        assert conditions.HistoryHeld().holds(instance, days, now) == set()
        monkeypatch.setenv("QUANT_ORGANISM_PRESET", "full")
        assert conditions.HistoryHeld().holds(instance, days, now) == set()

        # the paper book: a new book starts on the latest closed day only; then each day after the one before ran
        assert conditions.PaperInOrder().holds(instance, days, now) == {"2024-03-05"}
        assert conditions.PaperRolledUp().holds(instance, days, now) == set(days)  # no book: evolution goes on
        instance.report_runless_asset_event(dg.AssetMaterialization(PAPER, partition="2024-03-02"))
        assert conditions.PaperInOrder().holds(instance, days, now) == {"2024-03-03"}
        assert conditions.PaperRolledUp().holds(instance, days, now) == {"2024-03-01", "2024-03-02"}


def test_history_is_short_while_the_lake_starts_inside_the_lookback():
    materialised = {("BTC", (pd.Timestamp("2024-01-01") + pd.Timedelta(days=i)).strftime("%Y-%m-%d")) for i in range(70)}
    assert orch.short_history("2024-02-29", ["BTC"], materialised, 60) is None  # 01-01..02-29: 60 days
    assert "start 2024-01-01, after 2023-12-31" in orch.short_history("2024-02-28", ["BTC"], materialised, 60)
    gappy = {x for x in materialised if x[1] not in {f"2024-02-{d:02d}" for d in range(1, 11)}}
    # 02-01..02-10 missing: 50 of the 60 days before 03-05 held, below 90%
    assert orch.short_history("2024-03-05", ["BTC"], gappy, 60).startswith("history too short: BTC has candles for 50")


def test_the_loaded_definitions_automate_the_chain_by_default(monkeypatch):
    from quant_organism.definitions import load_definitions

    defs = load_definitions()
    graph = defs.resolve_asset_graph()
    automated = {key.to_user_string() for key in graph.get_all_asset_keys() if graph.get(key).automation_condition}
    assert {
        "market/candles", "market/funding_rates", "market/sentiment", "market/regime", "evolution/population",
        "evolution/strategy_configs", "validation/validated_strategies", "deployment/deployed_configs",
        "deployment/evolution_report", "runtime/paper_performance", "runtime/paper_bars", "operations/health",
    } <= automated  # fmt: skip
    labels = {key.to_user_string(): graph.get(key).automation_condition.get_label() for key in graph.get_all_asset_keys()
              if graph.get(key).automation_condition}  # fmt: skip
    assert labels["evolution/population"] == "nightly after 02:00 UTC, once the day is complete"
    repo = defs.get_repository_def()
    assert repo.schedule_defs == []  # no hand-written schedule is left
    running = {s.name: s for s in repo.sensor_defs if s.default_status == dg.DefaultSensorStatus.RUNNING}
    assert {"automation_sensor", "strategy_decay_sensor", "run_failure_recorder", "orphaned_run_reaper"} <= set(running)
    assert running["automation_sensor"].run_tags == {"dagster/max_retries": "3"}

    monkeypatch.setenv("QUANT_ORGANISM_AUTOMATION", "off")
    assert conditions.make_automation_sensor().default_status == dg.DefaultSensorStatus.STOPPED
    assert sensors.make_orphaned_run_reaper().default_status == dg.DefaultSensorStatus.STOPPED
    monkeypatch.setenv("QUANT_ORGANISM_AUTOMATION", "sometimes")
    with pytest.raises(ValueError, match="QUANT_ORGANISM_AUTOMATION"):
        conditions.make_automation_sensor()


# --- the sensors that remain ---------------------------------------------------------------------------
def test_a_killed_run_is_reaped_so_its_partition_is_no_longer_in_progress():
    """Issue 15.6: a `kill -9` left the run STARTED, which kept its day in progress for good."""
    dead = subprocess.Popen(["true"])
    dead.wait()
    with dg.instance_for_test() as instance:
        tags = {"dagster/partition": "2024-03-05", **worker_tags(), "quant_organism/pid": str(dead.pid)}
        killed = create_run_for_test(instance, job_name="evolve_full", tags=tags, status=dg.DagsterRunStatus.STARTED)
        with dg.build_sensor_context(instance=instance) as context:
            result = sensors.orphaned_run_reaper.evaluate_tick(context)
        assert "1 orphaned run(s) marked failed" in result.skip_message
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
        assert reap_orphaned_runs(instance, heartbeat_timeout=3600) == []
        [(run_id, reason)] = reap_orphaned_runs(instance, heartbeat_timeout=3600, now=time.time() + 7200)
        assert run_id == silent.run_id and "heartbeat" in reason
        assert instance.get_run_by_id(alive.run_id).status == dg.DagsterRunStatus.STARTED


def test_decay_sensor_requests_once_per_cooldown_and_skips_when_healthy(resources, data_dir):
    store = StrategyStore(data_dir / "strategies")
    clock = {"now": NOW}
    sensor = sensors.make_strategy_decay_sensor(coins=("BTC",), clock=lambda: clock["now"])
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
    defs = dg.Definitions(assets=[loaded_asset(CANDLES), loaded_asset(FUNDING)], jobs=[ingest_job], resources=resources)
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
        sensors.run_failure_recorder(context)
        sensors.run_failure_recorder(context)  # at-least-once delivery: read back once per run

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
