"""Stale lookbacks: a population whose lookback (the one it read, recorded in its `windows` metadata) gets newer data
fails `lookback_current`, through a real Dagster instance's event log and the sensor that records the check."""

from __future__ import annotations

import dagster as dg
import pandas as pd
import pytest

from quant_organism.definitions import load_definitions
from quant_organism.defs.automation.staleness import lookback_staleness_sensor
from quant_organism.defs.evolution.assets import LOOKBACK_EDGE_DAYS, POPULATION
from quant_organism.defs.evolution.lookback_check import LOOKBACK_CHECK, lookback_evaluation
from quant_organism.defs.market.assets import CANDLES, FUNDING
from quant_organism.defs.market.regime_assets import REGIME
from quant_organism.operations.lookback import populations_reading

DAY, OTHER = "2025-07-14", "2024-01-01"  # OTHER's lookback ends before OUTSIDE and INSIDE
READ_DAYS = 400  # the lookback population DAY read (fitted to the history): shorter than the edge's LOOKBACK_EDGE_DAYS
INSIDE = (pd.Timestamp(DAY) - pd.Timedelta(days=300)).strftime("%Y-%m-%d")
OUTSIDE = (pd.Timestamp(DAY) - pd.Timedelta(days=READ_DAYS)).strftime("%Y-%m-%d")  # one day before what it read


def _windows(day: str, days: int) -> dict:
    """The `windows` metadata of a population that read the `days` days ending on `day` (as the asset records it)."""
    end = pd.Timestamp(day, tz="UTC") + pd.Timedelta(days=1)
    first = end - pd.Timedelta(days=days)
    return {"evolution_date": day, "train": {"start": first.isoformat(), "end": (first + pd.Timedelta(days=days // 2)).isoformat()},
            "walk_forward": {"start": (end - pd.Timedelta(days=days // 4)).isoformat(), "end": end.isoformat()}}  # fmt: skip


def _materialised(instance, asset: dg.AssetKey, partition: str) -> None:
    metadata = {"windows": dg.MetadataValue.json(_windows(partition, READ_DAYS))} if asset == POPULATION else None
    instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=asset, partition=partition, metadata=metadata))


CHECK = dg.AssetCheckKey(POPULATION, LOOKBACK_CHECK)


def _check(instance, day: str) -> dg.AssetCheckEvaluation:
    return lookback_evaluation(instance, day)


def _recorded(instance, day: str) -> dg.AssetCheckEvaluation:
    """The check's latest evaluation of partition `day` as the instance stores it (what the UI shows)."""
    from dagster._core.event_api import PartitionKeyFilter

    latest = instance.event_log_storage.get_latest_asset_check_execution_by_key(
        [CHECK], partition_filter=PartitionKeyFilter(key=day)
    )
    return latest[CHECK].event.dagster_event.event_specific_data


def test_populations_reading_a_changed_day_are_those_whose_lookback_holds_it():
    populations = ["2025-01-01", "2025-01-10", "2025-02-01"]
    assert populations_reading(["2025-01-05"], populations, 10) == ["2025-01-10"]  # 01-01 is before; 02-01 is past
    assert populations_reading(["2025-01-01"], populations, 10) == ["2025-01-01", "2025-01-10"]  # window ends on its day
    assert populations_reading([], populations, 10) == []
    with pytest.raises(ValueError, match="lookback_days"):
        populations_reading(["2025-01-01"], populations, 0)


def test_new_data_inside_the_lookback_marks_the_population_stale_and_re_evolving_clears_it():
    definitions = load_definitions()
    with dg.instance_for_test() as instance:
        for day in (INSIDE, OUTSIDE, DAY):
            _materialised(instance, REGIME, day)
            _materialised(instance, CANDLES, f"BTC|{day}")
        _materialised(instance, POPULATION, OTHER)
        _materialised(instance, POPULATION, DAY)
        fresh = _check(instance, DAY)
        assert fresh.passed and fresh.metadata["newer_inputs"].value == 0
        first_read = (pd.Timestamp(DAY) - pd.Timedelta(days=READ_DAYS - 1)).strftime("%Y-%m-%d")
        assert fresh.metadata["lookback"].value == f"{first_read} .. {DAY}"  # what it read, not the edge's longest
        assert LOOKBACK_EDGE_DAYS > READ_DAYS

        sensor = lookback_staleness_sensor
        first = sensor(dg.build_sensor_context(instance=instance, definitions=definitions))
        assert isinstance(first, dg.SkipReason)  # the first tick sets the cursor only
        cursor = instance.get_latest_storage_id_by_partition(CANDLES, dg.DagsterEventType.ASSET_MATERIALIZATION)
        cursor = str(max(cursor.values()))

        _materialised(instance, CANDLES, f"ETH|{OUTSIDE}")  # inside the edge, a day before what it read: not read
        quiet = sensor(dg.build_sensor_context(instance=instance, definitions=definitions, cursor=cursor))
        assert isinstance(quiet, dg.SkipReason) and "no materialised population" in quiet.skip_message
        assert _check(instance, DAY).passed

        _materialised(instance, CANDLES, f"ETH|{INSIDE}")  # a candle of last autumn re-ingested
        _materialised(instance, FUNDING, f"ETH|{INSIDE}")
        tick = sensor(dg.build_sensor_context(instance=instance, definitions=definitions, cursor=cursor))
        assert "checked 1 population(s)" in tick.skip_message and f"stale: {DAY}" in tick.skip_message  # not OTHER
        stale = _recorded(instance, DAY)
        assert (stale.partition, stale.passed) == (DAY, False)
        assert not stale.passed and stale.severity == dg.AssetCheckSeverity.WARN
        assert stale.metadata["newer_inputs"].value == 2
        assert stale.metadata["newer_candles"].value == [f"ETH|{INSIDE}"]
        assert f"re-evolve {DAY}" in stale.description
        assert _check(instance, DAY) == stale

        _materialised(instance, POPULATION, DAY)  # re-evolved on the new data
        assert _check(instance, DAY).passed


def test_the_evolution_jobs_run_the_check_after_the_population():
    definitions = load_definitions()
    for job in ("evolve", "evolve_full"):
        checks = definitions.resolve_job_def(job).asset_layer.asset_graph.asset_check_keys
        assert dg.AssetCheckKey(POPULATION, LOOKBACK_CHECK) in checks
