"""kill -9 at every phase boundary, then a rerun: each ends with the same lake, store and ledger as a clean
run, and no orphaned run is left to block automation (issue 15).

Each case runs the main command's steps (support/fault_driver.py) in a subprocess on a fresh data root,
with `QUANT_ORGANISM_FAULT` naming where the process SIGKILLs itself (core/faults.py), then runs them again
without it and compares the outcome with one clean run's.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow.parquet as pq
import pytest

from quant_organism.core.faults import POINTS
from quant_organism_tests.support.fault_driver import EVOLVE_DAY

ROOT = Path(__file__).resolve().parents[1]
KILL_POINTS = [p for p in POINTS if p != "store:committed"]  # evolution and validation commits are covered by theirs


def _drive(data_dir: Path, fault: str | None = None) -> int:
    env = {**os.environ, "QUANT_ORGANISM_DATA_DIR": str(data_dir), "QUANT_ORGANISM_COINS": "BTC,ETH"}
    env.pop("DAGSTER_HOME", None)
    env.pop("QUANT_ORGANISM_FAULT", None)
    if fault:
        env["QUANT_ORGANISM_FAULT"] = fault
    done = subprocess.run(
        [sys.executable, "-m", "quant_organism_tests.support.fault_driver"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return done.returncode


def _outcome(data_dir: Path) -> dict:
    """What a run leaves that matters: lake rows and verdicts, the live set, archived names, the ledger."""
    from quant_organism.catalog import StrategyStore
    from quant_organism.catalog.manifest import load_current_deployment

    lake = {}
    for path in sorted((data_dir / "lake").rglob("*.parquet")):
        table = pq.read_table(path)
        frame = table.to_pandas()
        lake[str(path.relative_to(data_dir))] = (
            int(pd.util.hash_pandas_object(frame, index=False).sum()) if len(frame) else 0,
            (table.schema.metadata or {}).get(b"quant_organism.quality"),
        )
    store = StrategyStore(data_dir / "strategies")
    live = {c.name: (c.deployment_status.value, c.allocation) for c in store.load_strategies()}
    manifest = load_current_deployment(store) or {}
    with duckdb.connect(str(data_dir / "paper" / "ledger.duckdb"), read_only=True) as con:
        ledger = {
            t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").df().to_json()
            for t in ("orders", "fills", "positions", "pnl", "trades")
        }
    return {
        "lake": lake,
        "live": live,
        "archived": sorted({c.name for c in store.load_archived()}),
        "manifest": sorted((s["name"], s["allocation"]) for s in manifest.get("strategies", [])),
        "store_problems": [p.reason for p in store.problems],
        "ledger": ledger,
        "leftovers": sorted(str(p.relative_to(data_dir)) for p in data_dir.rglob(".*.tmp"))
        + sorted(p.name for p in (data_dir / "strategies").glob(".txn-*")),
    }


def _runs(data_dir: Path) -> list:
    import dagster as dg

    os.environ["DAGSTER_HOME"] = str(data_dir / "dagster_home")
    try:
        with dg.DagsterInstance.from_config(str(data_dir / "dagster_home")) as instance:
            return [
                (
                    r.dagster_run.job_name,
                    r.dagster_run.status.value,
                    r.dagster_run.tags.get("quant_organism/orphaned"),
                    r.dagster_run.tags.get("dagster/partition"),
                )
                for r in instance.get_run_records()
            ]
    finally:
        os.environ.pop("DAGSTER_HOME", None)


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> dict:
    data_dir = tmp_path_factory.mktemp("clean")
    assert _drive(data_dir) == 0
    outcome = _outcome(data_dir)
    assert outcome["live"] and outcome["manifest"] and outcome["ledger"]["pnl"] != "{}"  # something was deployed and traded
    return outcome


@pytest.mark.parametrize("point", KILL_POINTS)
def test_a_kill_at_each_phase_boundary_then_a_rerun_ends_like_a_clean_run(tmp_path, clean, point):
    assert _drive(tmp_path, fault=point) == -signal.SIGKILL  # it really died there
    assert _drive(tmp_path) == 0
    after = _outcome(tmp_path)
    for key in ("lake", "live", "archived", "manifest", "ledger"):
        assert after[key] == clean[key], f"{key} differs after a kill at {point}"
    assert after["store_problems"] == [] and after["leftovers"] == []
    runs = _runs(tmp_path)
    assert not [r for r in runs if r[1] in ("STARTED", "STARTING")]  # nothing left to block automation
    assert [r for r in runs if r[2] == "true"]  # the killed run was found and marked failed as orphaned
    evolved = [r for r in runs if r[0] == "evolve" and r[3] == EVOLVE_DAY]
    assert evolved[0][1] == "SUCCESS"  # the newest evolution of the day covers it for the nightly schedule
