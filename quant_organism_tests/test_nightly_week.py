"""A simulated week of unattended nights under the assets' automation conditions, on one instance.

The harness of support/month.py evaluates the conditions through each night on the synthetic market and the
`test` preset, running the real assets. Night 3 loses the first coin's ingest after its candles were written,
night 5 the evolution after its population was saved: Dagster's run retries re-execute each from failure
at once, and every asset partition of the week is materialised exactly once.
"""

from __future__ import annotations

import sys
from datetime import datetime, timedelta

import dagster as dg
import pandas as pd
import pytest

from quant_organism import settings
from quant_organism.defs.deployment.assets import DEPLOYED, REPORT
from quant_organism.defs.evolution.assets import POPULATION, STRATEGY_CONFIGS
from quant_organism.defs.market.assets import CANDLES, FUNDING
from quant_organism.defs.market.regime_assets import REGIME, SENTIMENT
from quant_organism.defs.runtime.assets import PAPER
from quant_organism.defs.validation.assets import VALIDATED
from quant_organism.operations.failures import FAILURES_FILE, read_failures
from quant_organism_tests.support.instance import product_instance
from quant_organism_tests.support.month import UTC, Month

WEEK = [d.strftime("%Y-%m-%d") for d in pd.date_range("2024-03-01", periods=7, freq="D")]
HISTORY = ("2024-01-01", "2024-02-29")  # the test preset's 60-day lookback, ingested before the week
FAILED_INGEST, FAILED_EVOLUTION = WEEK[2], WEEK[4]
DAILY = (SENTIMENT, REGIME, POPULATION, STRATEGY_CONFIGS, VALIDATED, DEPLOYED, REPORT, PAPER)


class FailOnce:
    """A fault point that raises once when armed (an error in the run, the process survives)."""

    def __init__(self) -> None:
        self.armed: str | None = None

    def __call__(self, name: str) -> None:
        if name == self.armed:
            self.armed = None
            raise OSError(f"injected failure at {name}")


def _materialisations(instance: dg.DagsterInstance, key: dg.AssetKey, partition: str) -> int:
    records = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition]), limit=10)
    return len(records.records)


@pytest.mark.timeout(900)
def test_a_simulated_week_materialises_each_day_once_and_dagster_retries_the_failed_runs(data_dir, monkeypatch):
    monkeypatch.setenv("QUANT_ORGANISM_PRESET", "test")
    fault = FailOnce()
    coins = settings.coins()
    with product_instance() as instance:
        month = Month(instance, data_dir, None, data_dir)
        for module in ("quant_organism.defs.market.assets", "quant_organism.defs.evolution.assets"):
            monkeypatch.setattr(sys.modules[module], "fault_point", fault)  # the modules the definitions were loaded from
        month.ingest_history(coins, *HISTORY)
        month.tick(datetime(2024, 3, 1, 23, 0, tzinfo=UTC))  # the daemon was running before the first night
        for day in WEEK:
            fault.armed = {FAILED_INGEST: "ingest:written", FAILED_EVOLUTION: "evolution:strategy_configs"}.get(day)
            month.night(datetime.fromisoformat(day).replace(tzinfo=UTC) + timedelta(days=1))
            assert fault.armed is None, f"{day}: the injected fault never fired"

        for day in WEEK:  # every asset partition of the week materialised exactly once
            counts = {key.to_user_string(): _materialisations(instance, key, day) for key in DAILY}
            counts |= {
                f"{key.to_user_string()} {c}": _materialisations(instance, key, f"{c}|{day}")
                for key in (CANDLES, FUNDING)
                for c in coins
            }
            assert set(counts.values()) == {1}, (day, counts)

        failed = [launch for launch in month.launches if launch.status == "FAILURE"]
        assert [f.partition for f in failed] == [f"{coins[0]}|{FAILED_INGEST}", FAILED_EVOLUTION]
        retries = [launch for launch in month.launches if launch.origin == "run retry"]
        assert [(r.partition, r.status) for r in retries] == [(f.partition, "SUCCESS") for f in failed]
        retried = [instance.get_run_by_id(r.run_id) for r in retries]
        assert [run.tags["dagster/retry_number"] for run in retried] == ["1", "1"]
        assert "evolution/population" in failed[1].assets and "evolution/population" not in retries[1].assets  # from failure
        recorded = read_failures(data_dir / FAILURES_FILE)
        assert sorted(r["run_id"] for r in recorded) == sorted(f.run_id for f in failed)
        assert all("injected failure" in r["error"] for r in recorded)
