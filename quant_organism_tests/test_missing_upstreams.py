"""A user materialises an asset in the UI before its upstream: it either completes with the missing input
marked unknown in its metadata, or fails naming the missing asset, its days and the command that fixes it.

On the old code `market/regime` without `market/sentiment` failed with a bare `KeyError: 'date'`.
"""

from __future__ import annotations

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from quant_organism import settings
from quant_organism.defs.market.regime_assets import REGIME
from quant_organism.defs.shared.resources import project_resources
from quant_organism.market.lake import MarketLake

FIRST, LAST = "2024-01-01", "2024-01-20"


@pytest.fixture(scope="module")
def defs():
    from quant_organism.definitions import load_definitions

    return load_definitions()


def _ingest_candles(defs, instance, resources) -> None:
    ingest = dg.Definitions(
        assets=defs.assets, asset_checks=defs.asset_checks, jobs=defs.jobs, resources=resources
    ).resolve_job_def("ingest_market_data")
    for coin in settings.coins():
        tags = {"dagster/asset_partition_range_start": f"{coin}|{FIRST}", "dagster/asset_partition_range_end": f"{coin}|{LAST}"}
        assert ingest.execute_in_process(instance=instance, tags=tags).success


def _materialise_regime(defs, instance, resources, first: str, last: str):
    return dg.materialize(
        defs.assets,
        selection=[REGIME],
        instance=instance,
        resources=resources,
        raise_on_error=False,
        tags={"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last},
    )


def test_regimes_without_sentiment_complete_with_sentiment_marked_unknown(defs, data_dir):
    resources = project_resources(data_dir)
    with dg.instance_for_test() as instance:
        _ingest_candles(defs, instance, resources)
        result = _materialise_regime(defs, instance, resources, "2024-01-10", LAST)
    assert result.success, result.all_events
    meta = result.asset_materializations_for_node("market__regime")[0].metadata
    missing = meta["missing_upstream"].value["market/sentiment"]
    assert missing == {
        "asset": "market/sentiment",
        "days": 11,
        "first": "2024-01-10",
        "last": LAST,
        "fix": "dagster asset materialize -m quant_organism.definitions --select market/sentiment "
        "--partition-range 2024-01-10...2024-01-20",
    }
    stored = MarketLake(data_dir / "lake").read_days("regimes", "2024-01-10", LAST)
    assert len(stored) == 11 and stored["sentiment_missing"].all() and stored["sentiment"].isna().all()
    assert set(stored["sentiment_class"]) == {"missing"}


def test_regimes_for_days_without_candles_fail_naming_them_and_the_ingest_command(defs, data_dir):
    resources = project_resources(data_dir)
    with dg.instance_for_test() as instance:
        empty = _materialise_regime(defs, instance, resources, "2024-01-05", "2024-01-06")
        assert not empty.success
        _ingest_candles(defs, instance, resources)
        late = _materialise_regime(defs, instance, resources, "2024-01-19", "2024-01-22")
    assert not late.success
    text = "\n".join(str(e.event_specific_data.error.message) for e in late.all_events if e.is_step_failure)
    assert "market/candles is missing for 2024-01-21..2024-01-22 (2 days)" in text
    assert "python -m quant_organism run --ingest-only --end 2024-01-22 --days 2" in text
    failed = "\n".join(str(e.event_specific_data.error.message) for e in empty.all_events if e.is_step_failure)
    assert "market/candles is missing for 2024-01-05..2024-01-06 (2 days): the lake holds no candles" in failed


def test_regimes_of_days_below_the_quality_gate_are_unknown_not_missing(defs, data_dir):
    """Candles ingested but below the gate on the range's last day (an outage; a market closed at weekends) are
    not a missing upstream: the day's regimes are unknown, as a gap inside the history already was."""
    import json

    import pyarrow.parquet as pq

    from quant_organism.market.lake import QUALITY_KEY

    resources = project_resources(data_dir)
    lake = MarketLake(data_dir / "lake")
    with dg.instance_for_test() as instance:
        _ingest_candles(defs, instance, resources)
        for coin in settings.coins():
            path = lake.partition_path("candles", coin, LAST)
            table = pq.read_table(path)
            report = {**json.loads(table.schema.metadata[QUALITY_KEY]), "passed": False, "score": 0.0}
            pq.write_table(table.replace_schema_metadata({QUALITY_KEY: json.dumps(report)}), path)
        result = _materialise_regime(defs, instance, resources, "2024-01-18", LAST)
    assert result.success
    stored = lake.read_days("regimes", "2024-01-18", LAST).set_index("date")
    assert len(stored) == 3 and np.isnan(stored["market_return"].iloc[-1])


def test_a_thin_window_of_partitions_below_the_gate_says_re_ingesting_will_not_help():
    from quant_organism.defs.shared.upstream import thin_window

    weekends = [f"candles/BTC/{d}: quality 0.0% below threshold" for d in ("2024-01-20", "2024-01-21", "2024-01-27")]
    failure = thin_window(["2024-01-20"], "only 72% of the train window is in the lake", weekends)
    assert "3 day(s) between 2024-01-20 and 2024-01-27 are in the lake below the quality gate" in failure.description
    assert "every one a Saturday or a Sunday" in failure.description and "--ingest-only" not in failure.description
    outage = thin_window(["2024-01-18"], "thin", ["candles/BTC/2024-01-18: quality 40.0% below threshold"])
    assert "an outage" in outage.description and "Saturday" not in outage.description
    from quant_organism.cli.launch import gate_text

    said = gate_text(["BTC 2024-01-20 (0.0%)", "BTC 2024-01-21 (0.0%)", "ETH 2024-01-27 (0.0%)"])
    assert "(every one a Saturday or a Sunday: a market closed at weekends" in said
    assert "Saturday" not in gate_text(["BTC 2024-01-20 (0.0%)", "BTC 2024-01-21 (0.0%)"])  # one weekend: an outage
    absent = thin_window(["2024-01-18"], "thin", [*weekends, "candles/ETH/2024-01-18: not materialised"])
    assert "market/candles is missing for 2024-01-18" in absent.description and "--ingest-only" in absent.description


def test_evolution_without_its_train_window_fails_naming_the_missing_days(defs, data_dir):
    resources = project_resources(data_dir)
    with dg.instance_for_test() as instance:
        _ingest_candles(defs, instance, resources)
        job = dg.Definitions(
            assets=defs.assets, asset_checks=defs.asset_checks, jobs=defs.jobs, resources=resources
        ).resolve_job_def("evolve")
        result = job.execute_in_process(
            instance=instance,
            partition_key="2024-06-30",
            raise_on_error=False,
        )
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure).event_specific_data.error.message
    assert "market/candles is missing for" in failure and "python -m quant_organism run --ingest-only --end 2024-06" in failure
    assert "of the train window" in failure


def test_the_fix_command_for_a_daily_asset_names_its_partition_range():
    from quant_organism.defs.shared.upstream import fix_command, uncovered_days

    assert fix_command("market/regime", "2024-01-01", "2024-01-31") == (
        "dagster asset materialize -m quant_organism.definitions --select market/regime --partition-range 2024-01-01...2024-01-31"
    )
    index = pd.date_range("2024-01-01", "2024-01-03", freq="1h", inclusive="left", tz="UTC")
    frames = {"BTC": pd.DataFrame({"close": 1.0}, index=index)}
    start, end = pd.Timestamp("2024-01-01", tz="UTC"), pd.Timestamp("2024-01-04", tz="UTC")
    assert uncovered_days(frames, ["BTC"], start, end) == ["2024-01-03"]
    assert uncovered_days(frames, ["BTC", "ETH"], start, end) == ["2024-01-01", "2024-01-02", "2024-01-03"]


def test_evolution_on_a_history_shorter_than_its_lookback_shrinks_its_windows_down_to_the_minimum(data_dir, monkeypatch):
    """The evolution asset on a lake holding less history than the preset's lookback evolves on every day it has, the
    three windows shrunk alike (as `fitted_lookback` and the retrospective shrink them), and says so; on less than
    the preset's minimum it fails saying how much history is missing (defs/shared/history.fit_to_history)."""
    from quant_organism_tests.support.chain import ingest_coins, project_definitions

    monkeypatch.setenv("QUANT_ORGANISM_COINS", "BTC")  # one coin, and no regimes: the windows are what is tested
    first, day = "2024-01-01", "2024-05-09"  # 130 days: more than the minimum (120), less than the lookback (150)
    definitions = project_definitions(data_dir)
    config = {"ops": {"evolution__population": {"config": {"preset": "test", "lookback_days": 150}}}}
    evolve = definitions.resolve_job_def("evolve")
    with dg.instance_for_test() as instance:
        ingest_coins(definitions, instance, ("BTC",), first, day)
        shrunk = evolve.execute_in_process(instance=instance, partition_key=day, run_config=config, raise_on_error=False)
        short = evolve.execute_in_process(instance=instance, partition_key="2024-04-19", run_config=config, raise_on_error=False)
        said = [entry.user_message for entry in instance.all_logs(shrunk.run_id)]
    assert shrunk.success, [e.message for e in shrunk.all_events if e.is_failure]
    assert (
        f"the lake's history starts {first} (latest first day over the coins): lookback 150 -> 130 days, windows shrunk alike"
        in "\n".join(said)
    )
    windows = shrunk.asset_materializations_for_node("evolution__population")[0].metadata["windows"].data
    assert windows["train"]["start"].startswith(first) and windows["walk_forward"]["end"].startswith("2024-05-10")
    assert not short.success  # 110 days: below the minimum, nothing evolves on a window the lake does not hold
    failure = next(e for e in short.all_events if e.is_step_failure).event_specific_data.error.message
    assert f"only 110 day(s) of history from {first} to 2024-04-19; the preset needs 150 and at least 120" in failure
